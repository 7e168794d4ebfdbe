import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import type { MqttClient } from "mqtt";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { build } from "vite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromiumAvailable, launchChromium, PHONE } from "../harness/browser.js";
import { connectDevice, personWithPassword, publish, registerLight, startTestApp, type TestApp, waitUntil } from "../harness/helpers.js";
import { exifBlock } from "../harness/photos.js";
import { type LightSpec, newPhysics, streetlightReading } from "../simulators/streetlight.js";
import { DEFAULT_PROFILE, localDate, nightOf } from "../src/streetlights/expectation.js";

/**
 * Issue 21, item 3: today's work on a phone (Chromium at 390 × 844, the phone's position granted and set), with the
 * real service and real MQTT lights that went dark. A technician takes the order from the alert, checks in near the
 * pole (far away, the service's refusal is shown), records a lamp replacement with a photo from the "camera", marks
 * it done, and the light's next lit readings close the order. Offline: three entries made with the network cut are
 * kept, shown as waiting, and each arrives once when the network returns.
 */
const haveChromium = chromiumAvailable();
const SHOTS = join(import.meta.dirname, "..", "test-results", "console");
const AXE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

const LAT = 29.3512;
const LON = 105.9113;
/** The second light, about 1.1 km north of the first. */
const LAT2 = LAT + 0.01;
const poll = <T>(fn: () => T | Promise<T>) => expect.poll(fn, { timeout: 20_000, interval: 100 });

type Order = {
  id: string;
  state: string;
  lights: { id: string }[];
  alertIds: string[];
  checkIns: { distanceM: number | null }[];
  record: { found: string[]; done: string[]; parts: { name: string; qty: number }[] } | null;
  photos: { url: string; bytes: number; takenAt: string | null; gps: { lat: number; lon: number } | null }[];
  history: { action: string; who: string }[];
};

/** A JPEG's size from its start-of-frame marker. */
function jpegSize(b: Buffer): { width: number; height: number } {
  for (let i = 2; i < b.length; ) {
    const marker = b[i + 1] as number;
    const len = b.readUInt16BE(i + 2);
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc)
      return { height: b.readUInt16BE(i + 5), width: b.readUInt16BE(i + 7) };
    i += 2 + len;
  }
  throw new Error("no frame");
}

describe.skipIf(!haveChromium)("today's work on a phone (Chromium)", () => {
  let t: TestApp;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const errors: string[] = [];
  const clients: MqttClient[] = [];
  const user = { name: "王工", password: "technician-password-1" };
  const lights: Record<string, { alertId: string; fixed: (n: number) => Promise<void> }> = {};
  const orders = async () =>
    ((await (await t.api("/api/v1/work-orders?state=active")).json()) as { workOrders: Order[] }).workOrders.concat(
      ((await (await t.api("/api/v1/work-orders?state=closed")).json()) as { workOrders: Order[] }).workOrders,
    );
  const orderOf = async (light: string) => (await orders()).find((o) => o.lights.some((l) => l.id === light));

  /** A light that went dark last night: readings from an hour after dusk, and its open dark alert. */
  const darkLight = async (id: string, lat: number) => {
    const spec: LightSpec = { id, lat, lon: LON, lampW: 30, panelWp: 120, batteryAh: 60, fault: "failed_lamp" };
    const client = await connectDevice(t, await registerLight(t, id, { lat, lon: LON }));
    clients.push(client);
    const physics = newPhysics(spec);
    const n = nightOf(localDate(Date.now() - 86_400_000), lat, LON, DEFAULT_PROFILE);
    let ts = n.dusk + 3600_000;
    const send = async (s: LightSpec, count: number) => {
      for (let i = 0; i < count; i++, ts += 5 * 60_000)
        await publish(client, `streetlight/${id}/telemetry`, JSON.stringify(streetlightReading(s, physics, ts, 300)));
    };
    await send(spec, 5);
    const alert = await waitUntil(async () => {
      const r = (await (await t.api("/api/v1/alerts?state=open&type=dark")).json()) as { alerts: { id: string; deviceId: string }[] };
      return r.alerts.find((a) => a.deviceId === id);
    }, `${id}'s dark alert`);
    lights[id] = { alertId: alert.id, fixed: (count: number) => send({ ...spec, fault: null }, count) };
  };

  async function accessible() {
    await page.evaluate(AXE);
    const violations = await page.evaluate<string[]>(`axe.run().then((r) => r.violations
      .filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => v.id + ": " + v.nodes.map((n) => n.target.join(" ") + " " + (n.failureSummary || "")).join("; ")))`);
    expect(violations).toEqual([]);
  }
  async function newPage() {
    page = await context.newPage();
    page.on("console", (m) => {
      if (m.type() === "error" && !m.text().includes("net::ERR_INTERNET_DISCONNECTED")) errors.push(`console: ${m.text()}`);
    });
    page.on("pageerror", (e) => errors.push(`page: ${e.message}`));
  }
  const card = (light: string) => page.getByRole("listitem", { name: `工单 ${light}`, exact: true });

  beforeAll(async () => {
    await build({ configFile: join(import.meta.dirname, "..", "web", "vite.config.ts"), logLevel: "error" });
    mkdirSync(SHOTS, { recursive: true });
    t = await startTestApp();
    await personWithPassword(t, { ...user, role: "technician", towns: ["来苏镇"] });
    await darkLight("PH-1", LAT);
    await darkLight("PH-2", LAT2);

    browser = await launchChromium();
    context = await browser.newContext({
      ...PHONE,
      permissions: ["geolocation"],
      geolocation: { latitude: LAT + 0.0001, longitude: LON, accuracy: 5 },
    });
    await newPage();
    await page.goto(t.started.httpUrl);
    await page.getByLabel("用户名", { exact: true }).fill(user.name);
    await page.getByLabel("密码", { exact: true }).fill(user.password);
    await page.getByRole("button", { name: "登录" }).click();
    await page.getByRole("link", { name: "今日工单" }).click();
    await page.getByRole("heading", { name: "今日工单", level: 1 }).waitFor();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    for (const c of clients) c.end(true);
    await t?.stop();
  });

  it("takes both alerts; the orders are sorted by distance from the phone, with navigate links at the pole", async () => {
    await page.getByText(/已定位/).waitFor();
    for (const id of ["PH-2", "PH-1"]) {
      await page
        .getByRole("listitem", { name: `告警 ${id}` })
        .getByRole("button", { name: "接单" })
        .click();
      await card(id).waitFor();
    }
    expect(await page.getByRole("listitem", { name: /^工单 / }).evaluateAll((els) => els.map((e) => e.getAttribute("aria-label")))).toEqual([
      "工单 PH-1",
      "工单 PH-2",
    ]);
    await card("PH-1")
      .getByText(/距您 \d+ m/)
      .waitFor();
    const amap = await card("PH-1").getByRole("link", { name: "高德地图 PH-1" }).getAttribute("href");
    expect(amap).toBe(`https://uri.amap.com/marker?position=${LON},${LAT}&name=PH-1&coordinate=wgs84&callnative=1&src=agrilume`);
    const baidu = await card("PH-1").getByRole("link", { name: "百度地图 PH-1" }).getAttribute("href");
    expect(baidu).toContain(`baidumap://map/marker?location=${LAT},${LON}&title=PH-1`);
    expect(baidu).toContain("coord_type=wgs84");
    // the phone moves next to the other pole: that order comes first
    await context.setGeolocation({ latitude: LAT2, longitude: LON, accuracy: 5 });
    await poll(() =>
      page
        .getByRole("listitem", { name: /^工单 / })
        .first()
        .getAttribute("aria-label"),
    ).toBe("工单 PH-2");
    await context.setGeolocation({ latitude: LAT + 0.0001, longitude: LON, accuracy: 5 });
    await poll(() =>
      page
        .getByRole("listitem", { name: /^工单 / })
        .first()
        .getAttribute("aria-label"),
    ).toBe("工单 PH-1");
    // search by light id
    await page.getByLabel("按路灯编号或村查找").fill("ph-2");
    await poll(() => page.getByRole("listitem", { name: /^工单 / }).count()).toBe(1);
    await page.getByLabel("按路灯编号或村查找").fill("");
    await accessible();
    const o = await orderOf("PH-1");
    expect(o).toMatchObject({ state: "assigned", alertIds: [lights["PH-1"]?.alertId] });
  });

  it("checks in near the pole, records a lamp replacement with a photo, marks done; lit readings close the order", async () => {
    // far from every pole: the service refuses, and the page says why
    await context.setGeolocation({ latitude: LAT + 0.045, longitude: LON, accuracy: 5 });
    await poll(() =>
      page
        .getByRole("listitem", { name: /^工单 / })
        .first()
        .getAttribute("aria-label"),
    ).toBe("工单 PH-2");
    await card("PH-1").getByRole("button", { name: "到场签到" }).click();
    await poll(() => card("PH-1").getByRole("alert").textContent()).toContain("签到位置距最近的灯杆");
    expect((await orderOf("PH-1"))?.checkIns).toEqual([]);
    // (Chromium logs the refused request; that one is expected)
    await poll(() => errors.findIndex((e) => e.includes("status of 422"))).toBeGreaterThanOrEqual(0);
    errors.splice(
      errors.findIndex((e) => e.includes("status of 422")),
      1,
    );

    await context.setGeolocation({ latitude: LAT + 0.0001, longitude: LON, accuracy: 5 });
    await poll(() =>
      page
        .getByRole("listitem", { name: /^工单 / })
        .first()
        .getAttribute("aria-label"),
    ).toBe("工单 PH-1");
    await card("PH-1").getByRole("button", { name: "出发" }).click();
    await poll(async () => (await orderOf("PH-1"))?.state).toBe("on_the_way");
    await card("PH-1").getByRole("button", { name: "到场签到" }).click();
    await poll(async () => (await orderOf("PH-1"))?.state).toBe("on_site");
    const record = card("PH-1").getByRole("form", { name: "现场记录" });
    await record.waitFor();
    await accessible();
    await record.getByRole("group", { name: "发现的问题" }).getByLabel("灯头").check();
    await record.getByRole("group", { name: "处理" }).getByLabel("更换灯头").check();
    await record.getByLabel("更换的配件").fill("30W LED 灯头");
    await record.getByLabel("备注").fill("灯头进水");
    // the camera's photo: a real 2400 × 1800 JPEG, made by the browser itself
    const big = Buffer.from(
      await page.evaluate<string>(`(() => { const c = document.createElement("canvas"); c.width = 2400; c.height = 1800;
        const g = c.getContext("2d"); g.fillStyle = "#3a6"; g.fillRect(0, 0, 2400, 1800); g.fillStyle = "#fff"; g.fillRect(600, 400, 900, 700);
        return c.toDataURL("image/jpeg", 0.9).split(",")[1]; })()`),
      "base64",
    );
    expect(jpegSize(big)).toEqual({ width: 2400, height: 1800 });
    // with the EXIF a phone's camera writes: when and where (the resize on the phone drops it; the phone reads it first)
    const exif = Buffer.concat([Buffer.from("Exif\0\0", "latin1"), exifBlock({ make: "Phone", taken: "2025:11:28 21:05:30", lat: LAT, lon: LON })]);
    const app1 = Buffer.alloc(4);
    app1.writeUInt16BE(0xffe1, 0);
    app1.writeUInt16BE(exif.length + 2, 2);
    const camera = Buffer.concat([big.subarray(0, 2), app1, exif, big.subarray(2)]);
    await record.getByLabel("现场照片").setInputFiles({ name: "lamp.jpg", mimeType: "image/jpeg", buffer: camera });
    await page.screenshot({ path: join(SHOTS, "technician-work-phone.png"), fullPage: true });
    await record.getByRole("button", { name: "完工" }).click();
    const done = await waitUntil(
      async () => {
        const o = await orderOf("PH-1");
        return o?.state === "done" && o;
      },
      "PH-1 done",
      20_000,
    );
    expect(done.record).toMatchObject({ found: ["lamp"], done: ["lamp_replaced"], parts: [{ name: "30W LED 灯头", qty: 1 }] });
    expect(done.checkIns).toHaveLength(1);
    expect(done.checkIns[0]?.distanceM).toBeLessThan(50);
    expect(done.photos).toHaveLength(1);
    const photo = Buffer.from(await (await t.api(done.photos[0]?.url ?? "")).arrayBuffer());
    expect(jpegSize(photo)).toEqual({ width: 1600, height: 1200 }); // shrunk on the phone
    expect(photo.includes(Buffer.from("Exif\0\0", "latin1"))).toBe(false);
    expect(done.photos[0]?.takenAt).toBe("2025-11-28T13:05:30.000Z"); // (China time on the camera's clock)
    expect(done.photos[0]?.gps?.lat).toBeCloseTo(LAT, 4);
    expect(done.photos[0]?.gps?.lon).toBeCloseTo(LON, 4);
    await page.getByRole("heading", { name: "已完工，等待路灯读数确认" }).waitFor();

    await lights["PH-1"]?.fixed(3);
    const closed = await waitUntil(
      async () => {
        const o = await orderOf("PH-1");
        return o?.state === "closed" && o;
      },
      "PH-1 closed by its readings",
      20_000,
    );
    expect(closed.history.map((h) => h.action)).toEqual(["created", "on_the_way", "on_site", "checked_in", "photo", "done", "closed"]);
    expect(closed.history.filter((h) => h.action !== "closed").every((h) => h.who === "王工")).toBe(true);
    const alert = (await (await t.api(`/api/v1/alerts/${lights["PH-1"]?.alertId}`)).json()) as { state: string };
    expect(alert.state).toBe("resolved");
  });

  it("offline: three entries are kept, shown as waiting, and each arrives once when the network returns", async () => {
    await context.setGeolocation({ latitude: LAT2 + 0.0001, longitude: LON, accuracy: 5 });
    const sent: { key: string; status: number; replayed: boolean }[] = [];
    page.on("response", async (r) => {
      const key = (await r.request().allHeaders())["idempotency-key"];
      if (key) sent.push({ key, status: r.status(), replayed: r.headers()["idempotent-replayed"] === "true" });
    });
    await card("PH-2").getByRole("button", { name: "出发" }).waitFor();
    await context.setOffline(true);
    await page.getByText(/无信号/).waitFor();
    await card("PH-2").getByRole("button", { name: "出发" }).click();
    await card("PH-2").getByRole("button", { name: "到场签到" }).click();
    const record = card("PH-2").getByRole("form", { name: "现场记录" });
    await record.getByRole("group", { name: "发现的问题" }).getByLabel("灯头").check();
    await record.getByRole("group", { name: "处理" }).getByLabel("更换灯头").check();
    await record.getByRole("button", { name: "完工" }).click();
    await poll(() => page.getByTestId("outbox").textContent()).toBe("3 条记录等待发送");
    await poll(() => card("PH-2").getByRole("list", { name: "等待发送的记录" }).getByRole("listitem").count()).toBe(3);
    await accessible();
    await page.screenshot({ path: join(SHOTS, "technician-work-offline.png"), fullPage: true });
    expect((await orderOf("PH-2"))?.state).toBe("assigned"); // nothing arrived

    await context.setOffline(false);
    await poll(() => page.getByTestId("outbox").count()).toBe(0);
    const o = await orderOf("PH-2");
    expect(o?.state).toBe("done");
    const count = (a: string) => o?.history.filter((h) => h.action === a).length;
    expect([count("on_the_way"), count("on_site"), count("checked_in"), count("done")]).toEqual([1, 1, 1, 1]);
    // each entry was answered once, by its first arrival
    expect(sent.filter((s) => s.status === 200)).toHaveLength(3);
    expect(new Set(sent.map((s) => s.key)).size).toBe(3);
    expect(sent.some((s) => s.replayed)).toBe(false);
    // and a reload sends nothing again
    await page.reload();
    await page.getByRole("heading", { name: "今日工单", level: 1 }).waitFor();
    await page.getByRole("heading", { name: "已完工，等待路灯读数确认" }).waitFor();
    expect(
      await page.evaluate<number>(
        `new Promise((ok) => { const r = indexedDB.open("agrilume-outbox"); r.onsuccess = () => { const q = r.result.transaction("entries").objectStore("entries").count(); q.onsuccess = () => ok(q.result); }; })`,
      ),
    ).toBe(0);
    expect((await orderOf("PH-2"))?.history.length).toBe(o?.history.length);
    expect(errors).toEqual([]);
  });

  it("offline: an entry kept when the page was closed is sent at the next visit", async () => {
    await darkLight("PH-3", LAT);
    await page.reload();
    await page.getByRole("listitem", { name: "告警 PH-3" }).getByRole("button", { name: "接单" }).click();
    await card("PH-3").getByRole("button", { name: "出发" }).waitFor();
    await context.setOffline(true);
    await page.getByText(/无信号/).waitFor();
    await card("PH-3").getByRole("button", { name: "出发" }).click();
    await poll(() => page.getByTestId("outbox").textContent()).toBe("1 条记录等待发送");
    await page.close();
    expect((await orderOf("PH-3"))?.state).toBe("assigned");
    await context.setOffline(false);
    await newPage();
    await page.goto(`${t.started.httpUrl}/#/work`);
    await poll(async () => (await orderOf("PH-3"))?.state).toBe("on_the_way");
    await poll(() => page.getByTestId("outbox").count()).toBe(0);
    expect((await orderOf("PH-3"))?.history.filter((h) => h.action === "on_the_way")).toHaveLength(1);
    expect(errors).toEqual([]);
  });

  it("the light's page on the phone: charts of the last days, asset details, its work history", async () => {
    await page.goto(`${t.started.httpUrl}/#/lights/PH-1`);
    await page.getByRole("heading", { name: "最近 3 天（每小时平均）" }).waitFor();
    const charts = page.getByRole("img", { name: /^(电池电压|电池电量|光伏功率|负载功率): / });
    await poll(() => charts.count()).toBe(4);
    // the load chart's words: the dark readings (≈0 W) and the lit ones after the repair (≈30 W)
    const load = (await page.getByRole("img", { name: /^负载功率: / }).getAttribute("aria-label")) ?? "";
    const [lo, hi] = (/: ([\d.]+)–([\d.]+) W/.exec(load) ?? []).slice(1).map(Number);
    expect(lo).toBeLessThan(5);
    expect(hi).toBeGreaterThan(5);
    // the charts' legends name the time in the page's language (uPlot's own word is "Time")
    const timeLabels = await page.locator(".u-legend .u-series:first-child .u-label").allTextContents();
    expect(timeLabels).toEqual(["时间", "时间", "时间", "时间"]);
    await page.getByRole("heading", { name: "设备资料" }).waitFor();
    expect(await page.locator("dt", { hasText: "灯头功率" }).locator("xpath=following-sibling::dd").textContent()).toBe("30 W");
    await page.getByRole("heading", { name: "维修记录" }).waitFor();
    await poll(() => page.getByRole("listitem").filter({ hasText: "更换灯头" }).count()).toBe(1);
    await accessible();
    await page.screenshot({ path: join(SHOTS, "technician-light-phone.png"), fullPage: true });
    expect(errors).toEqual([]);
  });

  it("the map: 2,000 more lights cluster, pan and zoom", async () => {
    // lights on a grid about 20 km across, registered as an admin would (CSV)
    // (2,000, not the district's 18,105: registering a device hashes its secret, and 18,105 take minutes here)
    const N = 2000;
    const rows = ["id,family,town,village,lat,lon,lampW"];
    for (let i = 0; i < N; i++)
      rows.push(
        `DS-${i},streetlight,来苏镇,网格村,${(LAT - 0.09 + Math.floor(i / 45) * 0.004).toFixed(5)},${(LON - 0.09 + (i % 45) * 0.004).toFixed(5)},30`,
      );
    const imported = await t.api("/api/v1/devices/import", { method: "POST", body: rows.join("\n"), headers: { "content-type": "text/csv" } });
    expect(imported.status, await imported.clone().text()).toBe(201);
    await page.goto(`${t.started.httpUrl}/#/map`);
    const canvas = page.getByRole("img", { name: new RegExp(`^${N + Object.keys(lights).length} 盏路灯`) });
    await canvas.waitFor({ timeout: 30_000 });
    const drawn = async () => Number(await canvas.getAttribute("data-drawn"));
    const view = async () => ((await canvas.getAttribute("data-view")) ?? "").split(",").map(Number) as [number, number, number];
    await poll(drawn).toBeGreaterThan(0);
    const whole = await drawn();
    expect(whole).toBeLessThan(N / 4); // clustered: far fewer marks than lights
    const [s0, tx0, ty0] = await view();
    // zoom in with the buttons: more, smaller clusters
    for (let i = 0; i < 4; i++) await page.getByRole("button", { name: "放大" }).click();
    await poll(async () => (await view())[0]).toBeCloseTo(s0 * 16, 0);
    // drag pans by as much as the finger moved
    const box = (await canvas.boundingBox()) as { x: number; y: number; width: number; height: number };
    const [, tx1, ty1] = await view();
    await page.mouse.move(box.x + 100, box.y + 100);
    await page.mouse.down();
    await page.mouse.move(box.x + 160, box.y + 130, { steps: 5 });
    await page.mouse.up();
    await poll(async () => (await view()).slice(1)).toEqual([tx1 + 60, ty1 + 30]);
    await page.getByRole("button", { name: "全览" }).click();
    await poll(view).toEqual([s0, tx0, ty0]);
    expect(await drawn()).toBe(whole);
    await accessible();
    await page.screenshot({ path: join(SHOTS, "technician-map-district-phone.png"), fullPage: true });
    expect(errors).toEqual([]);
  }, 120_000);
});
