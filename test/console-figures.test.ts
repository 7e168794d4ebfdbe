import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import type { MqttClient } from "mqtt";
import type { Browser, Page } from "playwright-core";
import { build } from "vite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromiumAvailable, launchChromium } from "../harness/browser.js";
import { connectDevice, personWithPassword, publish, registerLight, startTestApp, type TestApp, waitUntil } from "../harness/helpers.js";
import { type LightSpec, newPhysics, streetlightReading } from "../simulators/streetlight.js";
import { addDays, chinaDate, chinaTime } from "../src/platform/clock.js";
import { DEFAULT_PROFILE, localDate, nightOf } from "../src/streetlights/expectation.js";
import type { NightRecord } from "../src/streetlights/nightly.js";
import { nightStore } from "../src/streetlights/store.js";

/**
 * Issue 21, item 4: the district manager's figures page (Chromium), on what a real service made of real MQTT lights
 * and real work orders: lights that went dark (their alerts), orders made from them, one repaired and closed by the
 * light's own lit readings, one reopened by readings still dark, one open; a light of another town with its order.
 * The page's numbers are read off the page and compared with the API's answer to the same user: a technician of one
 * town on a phone (390 × 844) sees that town only; an admin at a desk (1280 × 800) sees both, and picks a period.
 * (The nights that make a light "dark more than 3 nights" are written as the nightly pass writes them: four nights of
 * readings would take four nights.)
 */
const haveChromium = chromiumAvailable();
const SHOTS = join(import.meta.dirname, "..", "test-results", "console");
const AXE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
const A = "来苏镇";
const B = "三角镇";
const LAT = 29.3512;
const LON = 105.9113;

type Repair = { cause: string; repairs: number; medianH: number; p90H: number };
type Figures = {
  from: string;
  to: string;
  darkNights: { first: string; last: string } | null;
  openByTown: Record<string, { open: number; overdue: number }>;
  timeToRepair: Repair[];
  closed: number;
  firstTimeFix: number | null;
  darkOver3Nights: Record<string, { count: number; ids: string[] }>;
  byTown: {
    town: string;
    open: number;
    overdue: number;
    closed: number;
    firstTimeFix: number | null;
    timeToRepair: Repair[];
    darkOver3Nights: number;
  }[];
};
/** A number as the page shows it ("1,234", "87.5 %", "—"): a share for a percentage, null for a dash. */
const shown = (text: string): number | null => {
  const s = text.replace(/[,\s]/g, "");
  if (s === "—") return null;
  return s.endsWith("%") ? Math.round(Number(s.slice(0, -1)) * 10) / 1000 : Number(s);
};

describe.skipIf(!haveChromium)("the field-work figures page (Chromium)", () => {
  let t: TestApp;
  let browser: Browser;
  const errors: string[] = [];
  const clients: MqttClient[] = [];
  const users = {
    tech: { name: "王工", password: "technician-password-1", role: "technician", towns: [A] },
    admin: { name: "区县主管", password: "admin-password-1", role: "admin" },
  } as const;
  const cookies: Record<string, string> = {};

  /** A light that went dark last night (readings from an hour after dusk) and its open dark alert; `send` sends more. */
  const darkLight = async (id: string, town: string) => {
    const spec: LightSpec = { id, lat: LAT, lon: LON, lampW: 30, panelWp: 120, batteryAh: 60, fault: "failed_lamp" };
    const client = await connectDevice(t, await registerLight(t, id, { town }));
    clients.push(client);
    const physics = newPhysics(spec);
    const n = nightOf(localDate(Date.now() - 86_400_000), LAT, LON, DEFAULT_PROFILE);
    let ts = n.dusk + 3600_000;
    const send = async (fault: "failed_lamp" | null, count: number) => {
      for (let i = 0; i < count; i++, ts += 5 * 60_000)
        await publish(client, `streetlight/${id}/telemetry`, JSON.stringify(streetlightReading({ ...spec, fault }, physics, ts, 300)));
    };
    await send("failed_lamp", 5);
    const alert = await waitUntil(async () => {
      const r = (await (await t.api("/api/v1/alerts?state=open&type=dark")).json()) as { alerts: { id: string; deviceId: string }[] };
      return r.alerts.find((a) => a.deviceId === id);
    }, `${id}'s dark alert`);
    return { alertId: alert.id, send };
  };
  const post = async (path: string, body: unknown) => {
    const res = await t.api(path, { method: "POST", body: JSON.stringify(body) });
    if (res.status >= 300) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as { id: string; state: string };
  };
  const orderState = async (id: string) => (await (await t.api(`/api/v1/work-orders/${id}`)).json()) as { state: string; reopened: number };
  /** Made, assigned, on site, done with what was found (the light's next readings then decide). */
  const repaired = async (alertId: string, found: string) => {
    const o = await post("/api/v1/work-orders", { alertIds: [alertId], assignee: "王工" });
    await post(`/api/v1/work-orders/${o.id}/moves`, { to: "on_the_way" });
    await post(`/api/v1/work-orders/${o.id}/check-ins`, { lat: LAT, lon: LON, accuracyM: 5 });
    await post(`/api/v1/work-orders/${o.id}/done`, { found: [found], done: ["lamp_replaced"] });
    return o.id;
  };
  /** The figures the API gives this user (its session), for the period. */
  const apiFigures = async (who: keyof typeof users, days: number) => {
    const res = await t.api(`/api/v1/work-orders/figures?days=${days}`, { key: null, headers: { cookie: cookies[who] as string } });
    expect(res.status).toBe(200);
    return (await res.json()) as Figures;
  };

  async function signedInPage(who: keyof typeof users, viewport: { width: number; height: number }, mobile: boolean): Promise<Page> {
    const context = await browser.newContext({ viewport, isMobile: mobile, hasTouch: mobile });
    const page = await context.newPage();
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(`console: ${m.text()}`);
    });
    page.on("pageerror", (e) => errors.push(`page: ${e.message}`));
    await page.goto(t.started.httpUrl);
    await page.getByLabel("用户名", { exact: true }).fill(users[who].name);
    await page.getByLabel("密码", { exact: true }).fill(users[who].password);
    await page.getByRole("button", { name: "登录" }).click();
    await page.getByRole("link", { name: "工作统计" }).click();
    await page.getByRole("heading", { name: "维修工作统计", level: 1 }).waitFor();
    return page;
  }

  /** Everything the page shows, read off it: the tiles, the town table, the repairs table, the dark lights' links. */
  async function readPage(page: Page) {
    const figure = async (name: string) =>
      shown(((await page.locator(`[data-figure="${name}"]`).first().textContent()) ?? "").split("(")[0] as string);
    const rows = async (table: string) =>
      page
        .locator(`table[data-table="${table}"] tbody tr`)
        .evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll("th, td")].map((c) => (c.textContent ?? "").trim())));
    const links = await page.locator("ul.light-links").evaluateAll((uls) =>
      uls.map((ul) => ({
        town: ul.getAttribute("data-town"),
        hrefs: [...ul.querySelectorAll("a")].map((a) => a.getAttribute("href")),
      })),
    );
    return {
      open: await figure("open"),
      overdue: shown((await page.locator('[data-figure="overdue"]').textContent()) ?? ""),
      closed: await figure("closed"),
      firstTimeFix: await figure("firstTimeFix"),
      dark: await figure("dark"),
      towns: (await rows("towns")).map(([town, ...n]) => [town, ...n.map(shown)]),
      repairs: (await page.locator('table[data-table="repairs"]').count())
        ? (await rows("repairs")).map(([town, cause, ...n]) => [town, cause, ...n.map(shown)])
        : [],
      links,
      window: (await page.locator("p[data-window]").textContent()) ?? "",
    };
  }
  const CAUSE: Record<string, string> = { lamp: "灯头", battery: "蓄电池", controller: "控制器" };
  /** What the page must show for these figures, from the API's answer. */
  const expected = (f: Figures) => {
    const sum = (k: "open" | "overdue") => Object.values(f.openByTown).reduce((n, x) => n + x[k], 0);
    return {
      open: sum("open"),
      overdue: sum("overdue"),
      closed: f.closed,
      firstTimeFix: f.firstTimeFix,
      dark: Object.values(f.darkOver3Nights).reduce((n, x) => n + x.count, 0),
      towns: f.byTown.map((x) => [x.town, x.open, x.overdue, x.closed, x.firstTimeFix, x.darkOver3Nights]),
      repairs: [
        ...f.timeToRepair.map((r) => ["全部", CAUSE[r.cause], r.repairs, r.medianH, r.p90H]),
        ...f.byTown.flatMap((x) => x.timeToRepair.map((r) => [x.town, CAUSE[r.cause], r.repairs, r.medianH, r.p90H])),
      ],
      links: Object.entries(f.darkOver3Nights).map(([town, d]) => ({ town, hrefs: d.ids.map((id) => `#/lights/${id}`) })),
      window: `${chinaTime(Date.parse(f.from))} 至 ${chinaTime(Date.parse(f.to))}`,
    };
  };
  const accessible = async (page: Page) => {
    await page.evaluate(AXE);
    const violations = await page.evaluate<string[]>(`axe.run().then((r) => r.violations
      .filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => v.id + ": " + v.nodes.map((n) => n.target.join(" ")).join("; ")))`);
    expect(violations).toEqual([]);
  };

  beforeAll(async () => {
    await build({ configFile: join(import.meta.dirname, "..", "web", "vite.config.ts"), logLevel: "error" });
    mkdirSync(SHOTS, { recursive: true });
    t = await startTestApp();
    for (const [who, u] of Object.entries(users)) {
      await personWithPassword(t, u);
      const again = await t.api("/api/v1/session", { key: null, method: "POST", body: JSON.stringify({ name: u.name, password: u.password }) });
      cookies[who] = (again.headers.get("set-cookie") ?? "").split(";")[0] as string;
    }

    // 来苏镇: FG-1 repaired and proven by its lit readings; FG-2 "repaired" but still dark: reopened; FG-3 open, dark
    // for four nights. 三角镇: FG-4 repaired (a controller) and proven; FG-5 dark for four nights, no order.
    const [l1, l2, l3, l4] = [await darkLight("FG-1", A), await darkLight("FG-2", A), await darkLight("FG-3", A), await darkLight("FG-4", B)];
    await registerLight(t, "FG-5", { town: B });
    const o1 = await repaired(l1.alertId, "lamp");
    const o2 = await repaired(l2.alertId, "battery");
    const o4 = await repaired(l4.alertId, "controller");
    await post("/api/v1/work-orders", { alertIds: [l3.alertId] });
    await l1.send(null, 3);
    await l4.send(null, 3);
    await l2.send("failed_lamp", 4);
    await waitUntil(async () => (await orderState(o1)).state === "closed" && (await orderState(o4)).state === "closed", "FG-1 and FG-4 closed");
    await waitUntil(async () => (await orderState(o2)).reopened === 1, "FG-2 reopened");
    // FG-2 is then repaired again (a lamp this time) and proven: closed, but not the first time
    await post(`/api/v1/work-orders/${o2}/moves`, { to: "on_the_way" });
    await post(`/api/v1/work-orders/${o2}/check-ins`, { lat: LAT, lon: LON });
    await post(`/api/v1/work-orders/${o2}/done`, { found: ["lamp"], done: ["lamp_replaced"] });
    await l2.send(null, 3);
    await waitUntil(async () => (await orderState(o2)).state === "closed", "FG-2 closed");
    const today = chinaDate(Date.now());
    const night = (deviceId: string, date: string): NightRecord => ({
      deviceId,
      date,
      dusk: `${date}T10:00:00Z`,
      dawn: `${date}T23:30:00Z`,
      expectedMin: 810,
      litMin: 0,
      coveredMin: 810,
      loadWh: 0,
      pvWhDayBefore: 300,
      switchOns: 0,
      classification: "dark",
      flags: [],
      lastTs: null,
      gps: null,
    });
    await nightStore(t.app.state.db).write([1, 2, 3, 4].flatMap((k) => ["FG-3", "FG-5"].map((id) => night(id, addDays(today, -k)))));

    browser = await launchChromium();
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    for (const c of clients) c.end(true);
    await t?.stop();
  });

  it("a technician on a phone: the page's numbers are the API's, for their town only; a dark light links to its page", async () => {
    const page = await signedInPage("tech", { width: 390, height: 844 }, true);
    const f = await apiFigures("tech", 30);
    // what the service made of it (so that the comparison below compares something)
    expect(f.byTown.map((x) => x.town)).toEqual([A]);
    expect(f).toMatchObject({
      closed: 2,
      firstTimeFix: 0.5,
      openByTown: { [A]: { open: 1, overdue: 0 } },
      darkOver3Nights: { [A]: { count: 1, ids: ["FG-3"] } },
    });
    expect(f.timeToRepair.map((r) => [r.cause, r.repairs])).toEqual([["lamp", 2]]);
    await page.locator('[data-figure="closed"]').waitFor();
    const got = await readPage(page);
    const want = expected(f);
    expect({ ...got, window: undefined }).toEqual({ ...want, window: undefined });
    expect(got.window).toContain(want.window);
    expect(await page.evaluate<number>("document.documentElement.scrollWidth")).toBeLessThanOrEqual(390); // nothing wider than the phone
    await page.screenshot({ path: join(SHOTS, "figures-phone.png"), fullPage: true });
    await accessible(page);
    await page.getByRole("link", { name: "FG-3" }).click();
    await page.getByRole("heading", { name: "路灯 FG-3", level: 1 }).waitFor();
    await page.context().close();
  });

  it("an admin at a desk: both towns, by town and cause; another period gives the API's figures for it", async () => {
    const page = await signedInPage("admin", { width: 1280, height: 800 }, false);
    const f = await apiFigures("admin", 30);
    expect(f.byTown.map((x) => x.town).sort()).toEqual([A, B].sort());
    expect(f.byTown.find((x) => x.town === B)).toMatchObject({ closed: 1, firstTimeFix: 1, darkOver3Nights: 1, open: 0 });
    await page.locator('[data-figure="closed"]').waitFor();
    expect(await readPage(page)).toMatchObject({ ...expected(f), window: expect.stringContaining(expected(f).window) });
    await page.screenshot({ path: join(SHOTS, "figures-desk.png"), fullPage: true });
    // the last 7 days: the window moves, the figures are the API's for 7 days
    await page.getByLabel("统计期").selectOption("7");
    const week = await apiFigures("admin", 7);
    const want = expected(week);
    await expect.poll(async () => (await readPage(page)).window, { timeout: 10_000 }).toContain(want.window.slice(0, 10));
    expect({ ...(await readPage(page)), window: undefined }).toEqual({ ...want, window: undefined });
    // one town picked: its row only, and its own figures in the tiles
    await page.getByRole("combobox", { name: /^乡镇/ }).selectOption(B);
    const b = week.byTown.find((x) => x.town === B);
    await expect
      .poll(async () => (await readPage(page)).towns, { timeout: 10_000 })
      .toEqual([[B, b?.open, b?.overdue, b?.closed, b?.firstTimeFix, b?.darkOver3Nights]]);
    expect(await readPage(page)).toMatchObject({ closed: b?.closed, firstTimeFix: b?.firstTimeFix, dark: b?.darkOver3Nights });
    await accessible(page);
    await page.context().close();
    expect(errors).toEqual([]);
  });
});
