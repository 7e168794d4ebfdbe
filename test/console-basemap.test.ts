import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { crc32, deflateSync } from "node:zlib";
import type { Browser } from "playwright-core";
import { build } from "vite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromiumAvailable, launchChromium } from "../harness/browser.js";
import { startTestApp, type TestApp } from "../harness/helpers.js";
import { tileOrigins } from "../src/http/console.js";

/**
 * Issue 21, item 3: the optional base map. None by default (the console's content policy loads images from itself
 * only, and the map's answer says `baseMap: null`); with AGRILUME_MAP_TILE_URL set, the policy lets the page load
 * images from the tile host and nowhere else, and the phone's map draws the tiles (served here by a local tile server)
 * under the lights.
 */
const haveChromium = chromiumAvailable();

/** A 256 × 256 one-colour PNG (a tile). */
function png(rgb: [number, number, number]): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(data.length, 0);
    head.write(type, 4, "latin1");
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
    return Buffer.concat([head, data, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(256, 0);
  ihdr.writeUInt32BE(256, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const row = Buffer.concat([Buffer.from([0]), Buffer.alloc(256 * 3).map((_, i) => rgb[i % 3] as number)]);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(Buffer.concat(Array.from({ length: 256 }, () => row)))),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

const imgSrc = (csp: string | null) => /img-src ([^;]*)/.exec(csp ?? "")?.[1];

describe("the optional base map", () => {
  it("tile origins: one per subdomain", () => {
    expect(tileOrigins(null)).toEqual([]);
    expect(tileOrigins({ url: "https://t{s}.tianditu.gov.cn/vec_w/wmts?TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk=KEY", subdomains: "012" })).toEqual([
      "https://t0.tianditu.gov.cn",
      "https://t1.tianditu.gov.cn",
      "https://t2.tianditu.gov.cn",
    ]);
    expect(tileOrigins({ url: "http://tiles.example.cn:8080/{z}/{x}/{y}.png", subdomains: "abc" })).toEqual(["http://tiles.example.cn:8080"]);
  });

  it("none by default: the console's images come from itself only, and the map's answer has no base map", async () => {
    const t = await startTestApp();
    try {
      const page = await fetch(`${t.started.httpUrl}/`);
      expect(imgSrc(page.headers.get("content-security-policy"))).toBe("'self' data: blob:");
      expect(((await (await t.api("/api/v1/streetlights/map")).json()) as { baseMap: unknown }).baseMap).toBeNull();
    } finally {
      await t.stop();
    }
  });

  it("a tile URL that lacks {x} or {y}, or is not http(s), is refused at start", async () => {
    await expect(startTestApp({ AGRILUME_MAP_TILE_URL: "https://tiles.example.cn/{z}/{x}.png" })).rejects.toThrow(/AGRILUME_MAP_TILE_URL/);
    await expect(startTestApp({ AGRILUME_MAP_TILE_URL: "ftp://tiles.example.cn/{z}/{x}/{y}.png" })).rejects.toThrow(/AGRILUME_MAP_TILE_URL/);
  });

  describe.skipIf(!haveChromium)("set: the tile host allowed, its tiles drawn under the lights (Chromium)", () => {
    let tiles: Server;
    let t: TestApp;
    let browser: Browser;
    const asked: string[] = [];
    let origin = "";

    beforeAll(async () => {
      await build({ configFile: join(import.meta.dirname, "..", "web", "vite.config.ts"), logLevel: "error" });
      const tile = png([200, 220, 200]);
      tiles = createServer((req, res) => {
        asked.push(req.url ?? "");
        if (!/^\/tiles\/\d+\/\d+\/\d+\.png$/.test(req.url ?? "")) return res.writeHead(404).end();
        res.writeHead(200, { "content-type": "image/png" }).end(tile);
      });
      await new Promise<void>((ok) => tiles.listen(0, "127.0.0.1", ok));
      origin = `http://127.0.0.1:${(tiles.address() as AddressInfo).port}`;
      t = await startTestApp({ AGRILUME_MAP_TILE_URL: `${origin}/tiles/{z}/{x}/{y}.png`, AGRILUME_MAP_TILE_ATTRIBUTION: "© 测试底图" });
      const rows = ["id,family,town,village,lat,lon,lampW"];
      for (let i = 0; i < 20; i++)
        rows.push(`BM-${i},streetlight,来苏镇,底图村,${(29.35 + (i % 5) * 0.002).toFixed(4)},${(105.91 + Math.floor(i / 5) * 0.002).toFixed(4)},30`);
      expect((await t.api("/api/v1/devices/import", { method: "POST", body: rows.join("\n"), headers: { "content-type": "text/csv" } })).status).toBe(
        201,
      );
      browser = await launchChromium();
    }, 120_000);
    afterAll(async () => {
      await browser?.close();
      await t?.stop();
      tiles?.close();
    });

    it("the policy names the tile host; the map's answer hands the URL and attribution to the console", async () => {
      const page = await fetch(`${t.started.httpUrl}/`);
      expect(imgSrc(page.headers.get("content-security-policy"))).toBe(`'self' data: blob: ${origin}`);
      expect(page.headers.get("content-security-policy")).toContain("connect-src 'self';"); // (images only)
      const map = (await (await t.api("/api/v1/streetlights/map")).json()) as { baseMap: unknown };
      expect(map.baseMap).toEqual({ url: `${origin}/tiles/{z}/{x}/{y}.png`, subdomains: "abc", attribution: "© 测试底图" });
    });

    it("the phone's map draws the tiles under the lights, at the zoom of its scale", async () => {
      const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
      const page = await context.newPage();
      const blocked: string[] = [];
      page.on("console", (m) => {
        if (m.type() === "error") blocked.push(m.text());
      });
      // a technician's account, its first password changed as the console asks
      expect(
        (
          await t.api("/api/v1/users", {
            method: "POST",
            body: JSON.stringify({ name: "底图", password: "basemap-password-1", role: "technician", towns: ["来苏镇"] }),
          })
        ).status,
      ).toBe(201);
      const signedIn = await t.api("/api/v1/session", {
        key: null,
        method: "POST",
        body: JSON.stringify({ name: "底图", password: "basemap-password-1" }),
      });
      const cookie = (signedIn.headers.get("set-cookie") ?? "").split(";")[0] as string;
      const { csrfToken } = (await signedIn.json()) as { csrfToken: string };
      const changed = await t.api("/api/v1/me/password", {
        key: null,
        method: "POST",
        headers: { cookie, "x-csrf-token": csrfToken },
        body: JSON.stringify({ currentPassword: "basemap-password-1", newPassword: "basemap-password-2" }),
      });
      expect(changed.status).toBe(204);
      await page.goto(t.started.httpUrl);
      await page.getByLabel("用户名", { exact: true }).fill("底图");
      await page.getByLabel("密码", { exact: true }).fill("basemap-password-2");
      await page.getByRole("button", { name: "登录" }).click();
      await page.getByRole("link", { name: "路灯地图" }).waitFor();
      await page.goto(`${t.started.httpUrl}/#/map`);
      const canvas = page.getByRole("img", { name: /^20 盏路灯/ });
      await canvas.waitFor({ timeout: 30_000 });
      await expect.poll(async () => Number(await canvas.getAttribute("data-tiles")), { timeout: 20_000 }).toBeGreaterThan(0);
      const zooms = new Set(asked.filter((u) => u.startsWith("/tiles/")).map((u) => Number(u.split("/")[2])));
      // the lights span about 1 km on a 390 px screen: zoom 14–16
      expect([...zooms].every((z) => z >= 13 && z <= 17)).toBe(true);
      await page.getByText("底图: © 测试底图").waitFor();
      expect(blocked.filter((b) => b.includes("Content Security Policy"))).toEqual([]);
      await page.screenshot({ path: join(import.meta.dirname, "..", "test-results", "console", "technician-map-basemap.png") });
      await context.close();
    });
  });
});
