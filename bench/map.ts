/**
 * The console's map at district scale (issue 21): 18,105 lights (DOMAIN.md §1) drawn, panned and zoomed in headless
 * Chromium on a phone-sized page, as a technician's phone shows them. The service is real (the page, the sign-in, the
 * session); the map's answer is made here (`GET /api/v1/streetlights/map`, the shape the service answers), because
 * registering 18,105 lights hashes 18,105 secrets, minutes on this machine, and the map only draws what it is given.
 * Measured: the time from the page asking for the map to the first drawing, and the intervals between animation frames
 * while a finger drags the map across and the buttons zoom in and out (the display's 60 Hz is 16.7 ms; longer means a
 * frame was missed). Without a GPU; not asserted anywhere (docs/BENCHMARKS.md).
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { launchChromium, PHONE } from "../harness/browser.js";
import { personWithPassword, startTestApp } from "../harness/helpers.js";
import { round } from "./load.js";

export type MapBench = {
  lights: number;
  firstDrawMs: number;
  drawn: number;
  pan: { frames: number; medianMs: number; p95Ms: number; maxMs: number };
  zoom: { frames: number; medianMs: number; p95Ms: number; maxMs: number };
};

const CONDITIONS = ["normal", "normal", "normal", "normal", "normal", "normal", "normal", "normal", "dark", "offline", "energy_limited"];

/** `n` lights over 23 towns about 60 km across (DOMAIN.md §1's district), a village of ~40 lights every ~2 km. */
export function districtMap(n: number): { lights: [string, number, number, string, string][]; baseMap: null } {
  const lights: [string, number, number, string, string][] = [];
  for (let i = 0; i < n; i++) {
    const town = i % 23;
    const village = Math.floor(i / 40);
    const lat = 29.1 + (town % 5) * 0.1 + ((village * 7) % 10) * 0.008 + (i % 40) * 0.0002;
    const lon = 105.7 + Math.floor(town / 5) * 0.1 + ((village * 3) % 10) * 0.008 + (i % 7) * 0.0003;
    lights.push([`YC-LS-${String(i).padStart(5, "0")}`, round(lat, 5), round(lon, 5), CONDITIONS[i % CONDITIONS.length] as string, `镇${town}`]);
  }
  return { lights, baseMap: null };
}

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0;
  return { frames: s.length, medianMs: round(at(0.5), 1), p95Ms: round(at(0.95), 1), maxMs: round(s.at(-1) ?? 0, 1) };
};

export async function benchMap(opts: { lights: number; progress: (s: string) => void }): Promise<MapBench> {
  if (!existsSync(join("web", "dist", "index.html"))) {
    opts.progress("building the console (node scripts/build-web.mjs)");
    execFileSync(process.execPath, ["scripts/build-web.mjs"], { stdio: "inherit" });
  }
  const t = await startTestApp();
  const browser = await launchChromium();
  try {
    const user = await personWithPassword(t, { name: "map-tech", password: "map-password-1", role: "technician" });
    const body = JSON.stringify(districtMap(opts.lights));
    const context = await browser.newContext({ ...PHONE });
    const page = await context.newPage();
    let asked = 0;
    await page.route("**/api/v1/streetlights/map*", (route) => {
      asked = Date.now();
      return route.fulfill({ status: 200, contentType: "application/json", body });
    });
    await page.goto(t.started.consoleUrl ?? `${t.started.httpUrl}/`);
    await page.getByLabel("用户名", { exact: true }).fill(user.name);
    await page.getByLabel("密码", { exact: true }).fill(user.password);
    await page.getByRole("button", { name: "登录" }).click();
    await page.getByRole("heading", { level: 1 }).first().waitFor();
    await page.goto(`${t.started.httpUrl}/#/map`);
    const canvas = page.getByRole("img", { name: new RegExp(`^${opts.lights} 盏路灯`) });
    await canvas.waitFor({ timeout: 120_000 });
    await page.waitForFunction('Number(document.querySelector("canvas")?.getAttribute("data-drawn") ?? 0) > 0', null, { timeout: 120_000 });
    const firstDrawMs = Date.now() - asked;
    const drawn = Number(await canvas.getAttribute("data-drawn"));
    opts.progress(`${opts.lights} lights drawn as ${drawn} marks, ${firstDrawMs} ms after the map was asked for`);

    // frame intervals, recorded in the page while the interaction runs
    const record = () =>
      page.evaluate(
        `(() => { window.__frames = []; let last = performance.now(); const tick = (t) => { window.__frames.push(t - last); last = t; if (window.__recording) requestAnimationFrame(tick); }; window.__recording = true; requestAnimationFrame(tick); })()`,
      );
    const stop = async () => {
      await page.evaluate("window.__recording = false");
      return ((await page.evaluate("window.__frames")) as number[]).slice(1);
    };
    const box = (await canvas.boundingBox()) as { x: number; y: number; width: number; height: number };
    // zoomed in twice (a town's scale), a finger drags across and back, 4 times, 60 moves each way
    for (let i = 0; i < 2; i++) await page.getByRole("button", { name: "放大" }).click();
    await record();
    for (let k = 0; k < 4; k++) {
      await page.mouse.move(box.x + 40, box.y + box.height / 2);
      await page.mouse.down();
      await page.mouse.move(box.x + box.width - 40, box.y + box.height / 2 + 30, { steps: 60 });
      await page.mouse.move(box.x + 40, box.y + box.height / 2, { steps: 60 });
      await page.mouse.up();
    }
    const pan = stats(await stop());
    opts.progress(`pan: ${pan.frames} frames, median ${pan.medianMs} ms, p95 ${pan.p95Ms} ms, max ${pan.maxMs} ms`);
    await record();
    for (let k = 0; k < 3; k++) {
      for (let i = 0; i < 4; i++) await page.getByRole("button", { name: "放大" }).click();
      for (let i = 0; i < 4; i++) await page.getByRole("button", { name: "缩小" }).click();
    }
    const zoom = stats(await stop());
    opts.progress(`zoom: ${zoom.frames} frames, median ${zoom.medianMs} ms, p95 ${zoom.p95Ms} ms, max ${zoom.maxMs} ms`);
    await context.close();
    return { lights: opts.lights, firstDrawMs, drawn, pan, zoom };
  } finally {
    await browser.close();
    await t.stop();
  }
}
