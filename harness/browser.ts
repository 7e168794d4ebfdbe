import { existsSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";
import { serviceAvailable } from "./services.js";

/** Debian's Chromium (apt-get install chromium), or the one AGRILUME_CHROMIUM names: the console's tests run in it. */
export const CHROMIUM = process.env.AGRILUME_CHROMIUM ?? "/usr/bin/chromium";

/** Whether Chromium is there (a loud skip otherwise, a failure under AGRILUME_REQUIRE_SERVICES=1). */
export const chromiumAvailable = (): boolean => serviceAvailable("Chromium", existsSync(CHROMIUM) ? CHROMIUM : null, "apt-get install chromium");

/** Headless Chromium as the console's tests run it: no sandbox (containers), no GPU, nothing of its own on the network; `args` add to these. */
export function launchChromium(args: string[] = []): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      ...args,
    ],
  });
}

/** A phone's screen (390 × 844, touch, twice the pixels) for `browser.newContext`. */
export const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 } as const;
