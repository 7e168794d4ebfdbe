import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import type { MqttClient } from "mqtt";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { build } from "vite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromiumAvailable, launchChromium, PHONE } from "../harness/browser.js";
import { gbk } from "../harness/claims.js";
import {
  connectDevice,
  personWithPassword,
  publish,
  registerLight,
  startStation,
  startTestApp,
  type TestApp,
  waitUntil,
} from "../harness/helpers.js";
import { type LightSpec, newPhysics, streetlightReading } from "../simulators/streetlight.js";
import { DEFAULT_PROFILE, localDate, nightOf } from "../src/streetlights/expectation.js";

/**
 * The web console end to end: the real service with the console built from web/, Debian's
 * Chromium driven by playwright-core, real devices over MQTT. Each role signs in and does its
 * day's work; every page is checked for console errors and with axe for accessibility; screenshots
 * land in test-results/console/.
 */
const haveChromium = chromiumAvailable();
const SHOTS = join(import.meta.dirname, "..", "test-results", "console");
const AXE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

const STATION = "qijiang";
const TOWN = "来苏镇";
const BASE = { lat: 29.3512, lon: 105.9113 };
const LIGHTS: (LightSpec & { town: string; village: string })[] = [
  ...[1, 2, 3].map((i) => ({ id: `LS-${i}`, lat: BASE.lat + (i * 52) / 111_195, lon: BASE.lon, town: TOWN, village: "梳妆台村" })),
  { id: "LS-DARK", lat: BASE.lat + 260 / 111_195, lon: BASE.lon + 0.002, town: TOWN, village: "观音井村", fault: "failed_lamp" as const },
  { id: "OT-1", lat: 29.5, lon: 106.1, town: "永荣镇", village: "双石村" },
].map((l) => ({ lampW: 30, panelWp: 120, batteryAh: 60, fault: null, ...l }));

/** Pages update from live streams and timers: give them time, without fixed sleeps. */
const poll = <T>(fn: () => T | Promise<T>) => expect.poll(fn, { timeout: 20_000, interval: 100 });

describe.skipIf(!haveChromium)("web console (Chromium)", () => {
  let t: TestApp;
  let browser: Browser;
  let machine: MqttClient;
  const lights: MqttClient[] = [];
  let inbox: { topic: string; body: string }[] = [];
  /** Each role's account (made by the admin, its first password already changed). */
  const users: Record<"operator" | "technician" | "finance", { name: string; password: string }> = {
    operator: { name: "", password: "" },
    technician: { name: "", password: "" },
    finance: { name: "", password: "" },
  };
  let orderId = "";
  const post = (path: string, body: unknown) => t.api(path, { method: "POST", body: JSON.stringify(body) });

  beforeAll(async () => {
    // Build the console from the sources under test (what `npm install` does through `prepare`).
    await build({ configFile: join(import.meta.dirname, "..", "web", "vite.config.ts"), logLevel: "error" });
    mkdirSync(SHOTS, { recursive: true });
    t = await startTestApp({ AGRILUME_STREETLIGHT_REPORT_S: "900" });
    expect(t.started.consoleUrl).toBe(`${t.started.httpUrl}/`);

    for (const [role, extra] of [
      ["operator", { stations: [STATION] }],
      ["technician", { towns: [TOWN] }],
      ["finance", {}],
    ] as const) {
      const name = role === "technician" ? "王工" : `${role}-test`;
      // (the first password is someone else's: changed once here, as the console's first sign-in would)
      await personWithPassword(t, { name, role, password: `${role}-password-1`, ...extra });
      users[role] = { name, password: `${role}-password-1` };
    }

    // Streetlights: three nights of readings every 15 minutes up to now; one lamp has failed.
    const lastNight = nightOf(localDate(Date.now() - 86_400_000), BASE.lat, BASE.lon, DEFAULT_PROFILE);
    const from = lastNight.dusk - 2 * 86_400_000 - 6 * 3600_000;
    await Promise.all(
      LIGHTS.map(async (spec) => {
        const creds = await registerLight(t, spec.id, { lat: spec.lat, lon: spec.lon, town: spec.town, village: spec.village });
        const client = await connectDevice(t, creds);
        const physics = newPhysics(spec, () => 1, 90);
        // The failed lamp's last word is from last night, dark when it should be lit (it stays connected).
        const end = spec.fault ? lastNight.dusk + 3 * 3600_000 : Date.now() - 60_000;
        const sends: Promise<void>[] = [];
        for (let ts = from; ts <= end; ts += 15 * 60_000)
          sends.push(publish(client, `streetlight/${spec.id}/telemetry`, JSON.stringify(streetlightReading(spec, physics, ts, 900))));
        await Promise.all(sends);
        lights.push(client);
      }),
    );
    await t.app.writer.waitFor(t.app.wal.lastSeq());
    await t.app.streetlights.runNightly();
    const csv = [
      "项目编号,镇街,村,道路,年度,批准数量,补助标准,设备编号,经度,纬度,控制器序列号,IMEI,安装日期",
      ...LIGHTS.map((l, i) =>
        [
          { 梳妆台村: "LS-2025-001", 观音井村: "LS-2025-002" }[l.village] ?? "YR-2025-003",
          l.town,
          l.village,
          "村道",
          2025,
          10,
          2700,
          l.id,
          l.lon,
          l.lat,
          `SN-${i}`,
          860000000000100 + i,
          "2025-06-01",
        ].join(","),
      ),
    ].join("\n");
    const imported = await t.api("/api/v1/projects/import", { method: "POST", body: csv, headers: { "content-type": "text/csv" } });
    expect(imported.status, await imported.clone().text()).toBe(200);

    // A blending station with one machine and one order waiting for it.
    ({ machine, inbox } = await startStation(t, { station: STATION, machineId: "QJ-BL-01", name: "1号配肥机", topics: ["blender/QJ-BL-01/cmd/#"] }));
    await publish(
      machine,
      "blender/QJ-BL-01/telemetry",
      JSON.stringify({
        ts: Date.now(),
        state: "idle",
        hopperKg: { urea: 2400, map: 1800, kcl: 120, filler: 900 },
        scaleKg: 0,
        mixerA: 0,
        bagsTotal: 0,
      }),
    );
    const formula = (await (await post("/api/v1/formulas", { name: "水稻配方肥", grade: "15-15-15" })).json()) as { id: string };
    const order = await post("/api/v1/orders", {
      station: STATION,
      customer: "永兴村合作社",
      crop: "水稻",
      formulaId: formula.id,
      targetT: 20,
      dueDate: "2099-12-31",
    });
    orderId = ((await order.json()) as { id: string }).id;

    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    machine?.end(true);
    for (const c of lights) c.end(true);
    await t?.stop();
  });

  /** A page that records every console error and uncaught exception. */
  async function open(context: BrowserContext) {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(`console: ${m.text()}`);
    });
    page.on("pageerror", (e) => errors.push(`page: ${e.message}`));
    await page.goto(t.started.httpUrl);
    return { page, errors };
  }
  async function signIn(page: Page, user: { name: string; password: string }) {
    await page.getByLabel("用户名", { exact: true }).fill(user.name);
    await page.getByLabel("密码", { exact: true }).fill(user.password);
    await page.getByRole("button", { name: "登录" }).click();
  }
  /** axe-core in the page: no serious or critical accessibility problems. */
  async function accessible(page: Page) {
    await page.evaluate(AXE);
    // Runs in the page (a string: this file is type-checked without the DOM library).
    const violations = await page.evaluate<string[]>(`axe.run().then((r) => r.violations
      .filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => v.id + ": " + v.nodes.map((n) => n.target.join(" ") + " " + (n.failureSummary || "")).join("; ")))`);
    expect(violations).toEqual([]);
  }

  it("the console is served with a strict content policy, and a wrong password is refused with a clear message", async () => {
    const res = await fetch(t.started.httpUrl);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-security-policy")).toContain("default-src 'self'");
    expect(res.headers.get("referrer-policy")).toBe("no-referrer");

    const context = await browser.newContext();
    const { page, errors } = await open(context);
    await poll(() => page.title()).toBe("Agrilume 控制台");
    expect(await page.getAttribute("html", "lang")).toBe("zh-CN");
    await signIn(page, { name: users.finance.name, password: "not-the-password" });
    await page.getByText("用户名或密码错误").waitFor();
    await accessible(page);
    await page.screenshot({ path: join(SHOTS, "sign-in.png") });
    await context.close();
    // The refused sign-in's 401 is the only error the browser reports.
    expect(errors.filter((e) => !e.includes("401"))).toEqual([]);
  });

  it("operator: starts the order on the machine, watches progress move live, sees a bad batch, pauses", async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const { page, errors } = await open(context);
    await signIn(page, users.operator);
    await page.getByRole("heading", { name: /綦江智能配肥站/ }).waitFor();
    const machineCard = page.getByRole("article", { name: "配肥机 QJ-BL-01" });
    await machineCard.getByText("在线").waitFor();
    // kcl 120 kg is under the 300 kg refill level: flagged in the hopper table, the material named in Chinese
    await poll(() => machineCard.locator("tr.bad-row").textContent()).toContain("氯化钾");
    expect(await machineCard.locator("tbody").textContent()).toContain("尿素");

    const card = page.getByRole("article", { name: /永兴村合作社/ });
    await card.getByText("待生产").waitFor();
    const bar = card.getByRole("progressbar", { name: "订单进度" });
    await poll(() => bar.getAttribute("aria-valuenow")).toBe("0");
    await card.getByRole("button", { name: "开始生产" }).click();
    await card.getByText("生产中").waitFor();
    const recipe = await waitUntil(() => inbox.find((m) => m.topic === "blender/QJ-BL-01/cmd/recipe"), "the recipe on the machine");
    const target = Object.fromEntries(
      (JSON.parse(recipe.body) as { materials: { code: string; kg: number }[] }).materials.map((m) => [m.code, m.kg]),
    );

    // Two batches from the machine; the second one short of potash. The bar moves without a reload.
    const t0 = Date.now() - 20 * 60_000;
    for (const [i, actual] of [{ ...target }, { ...target, kcl: (target.kcl ?? 0) - 10 }].entries()) {
      const batchId = `B-${i + 1}`;
      await publish(
        machine,
        "blender/QJ-BL-01/batch",
        JSON.stringify({ ts: t0 + i * 300_000, event: "started", batchId, orderId, targetKg: target }),
      );
      await publish(
        machine,
        "blender/QJ-BL-01/batch",
        JSON.stringify({ ts: t0 + i * 300_000 + 240_000, event: "completed", batchId, orderId, actualKg: actual, bags: 20 }),
      );
      await poll(async () => Number(await bar.getAttribute("aria-valuenow"))).toBeGreaterThan(i === 0 ? 4.9 : 9.9);
    }
    await poll(() => card.getByTestId("produced").textContent()).toMatch(/^2 \/ 20 t/);
    await card.getByRole("button", { name: "最近批次" }).click();
    const bad = card.locator("tr.bad-row");
    await poll(() => bad.textContent()).toContain("B-2");
    expect(await bad.textContent()).toContain("超差");
    expect(await bad.textContent()).toContain("氯化钾"); // the short material, named
    expect(await card.locator("tr.bad-row").count()).toBe(1);
    await page.screenshot({ path: join(SHOTS, "operator.png"), fullPage: true });

    await card.getByRole("button", { name: "暂停" }).click();
    await card.getByText("已暂停").waitFor();
    await waitUntil(() => inbox.find((m) => m.topic === "blender/QJ-BL-01/cmd/pause"), "the pause command on the machine");
    await accessible(page);
    await context.close();
    expect(errors).toEqual([]);
  });

  it("technician on a phone: their town's alert, acknowledged and resolved; the offline map; a light's nights", async () => {
    const context = await browser.newContext({ ...PHONE });
    const { page, errors } = await open(context);
    await signIn(page, users.technician);
    await page.getByRole("heading", { name: "告警", level: 1 }).waitFor();
    const alert = page.getByRole("article", { name: /路灯不亮 · LS-DARK/ });
    await alert.waitFor();
    // what the rule saw, in Chinese as the API renders it, and since when in China time
    expect(await alert.textContent()).toMatch(/功率 [\d.]+ W，应为 30 W/);
    expect(await alert.textContent()).toMatch(/\d{4}-\d{2}-\d{2} \d{2}:\d{2}/);
    // nothing from the town the key does not cover
    expect(await page.getByText("OT-1").count()).toBe(0);
    await page.screenshot({ path: join(SHOTS, "technician-alerts-phone.png"), fullPage: true });
    // fits the phone: nothing wider than the screen
    expect(await page.evaluate<number>("document.documentElement.scrollWidth")).toBeLessThanOrEqual(390);

    await alert.getByRole("button", { name: "确认处理" }).click();
    await alert.getByText("处理中").waitFor();
    const id = (await alert.getAttribute("aria-labelledby"))?.replace(/^al-/, "") ?? "";
    const acked = (await (await t.api(`/api/v1/alerts/${id}`)).json()) as { state: string; history: { who: string; action: string }[] };
    expect(acked.state).toBe("acknowledged");
    expect(acked.history.at(-1)).toMatchObject({ who: "王工", action: "acknowledged" });

    await alert.getByRole("button", { name: "关闭…" }).click();
    await alert.getByLabel("处理说明（必填）").fill("更换灯头");
    await alert.getByRole("button", { name: "确认关闭" }).click();
    // resolved alerts leave the "open" list
    await poll(() => page.getByRole("article", { name: /LS-DARK/ }).count()).toBe(0);
    const resolved = (await (await t.api(`/api/v1/alerts/${id}`)).json()) as { state: string; history: { text?: string }[] };
    expect(resolved.state).toBe("resolved");
    expect(resolved.history.at(-1)?.text).toBe("更换灯头");
    await accessible(page);

    await page.getByRole("link", { name: "路灯地图" }).click();
    const canvas = page.getByRole("img", { name: /盏路灯按坐标绘制/ });
    await canvas.waitFor();
    expect(await canvas.getAttribute("aria-label")).toMatch(/^4 盏路灯/); // the other town's light is not shown
    // the canvas really has coloured dots on it, drawn without any tile server
    await poll(() =>
      page.evaluate<number>(`(() => {
      const c = document.querySelector("canvas");
      const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (Math.abs(d[i] - d[i + 1]) > 40) n++;
      return n;
    })()`),
    ).toBeGreaterThan(20);
    await page.screenshot({ path: join(SHOTS, "technician-map-phone.png"), fullPage: true });
    await accessible(page);

    await page.getByRole("link", { name: "LS-DARK" }).click();
    await page.getByRole("heading", { name: "路灯 LS-DARK" }).waitFor();
    const nights = page.getByRole("region", { name: "最近夜晚" });
    await nights.getByText("不亮").first().waitFor();
    expect(await nights.locator("tbody tr").count()).toBeGreaterThanOrEqual(2);
    await page.screenshot({ path: join(SHOTS, "technician-light-phone.png"), fullPage: true });
    await accessible(page);
    await context.close();
    expect(errors).toEqual([]);
  });

  it("technician: a village campaign, its estimate before sending, its live counts, pause; a light's control and an override; the energy report", async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
    const { page, errors } = await open(context);
    await signIn(page, users.technician);
    await page.getByRole("link", { name: "路灯控制" }).click();
    await page.getByRole("heading", { name: "路灯控制", level: 1 }).waitFor();
    const form = page.getByRole("region", { name: "新建控制任务" });
    await form.getByLabel("任务名称").fill("梳妆台村冬季调光");
    await form.getByLabel("村", { exact: true }).fill("梳妆台村");
    await form.getByRole("button", { name: "估算（不发送）" }).click();
    // the estimate comes before anything is sent
    await form.getByText("将发送到 3 盏路灯").waitFor();
    await form.getByText("电池无日照可支撑天数（中位数）").waitFor();
    expect(((await (await t.api("/api/v1/control/campaigns")).json()) as { campaigns: unknown[] }).campaigns).toEqual([]);
    await accessible(page);
    await form.getByRole("button", { name: "发送到 3 盏路灯" }).click();
    await form.getByText("已开始发送：").waitFor();
    const row = page.getByRole("row", { name: /梳妆台村冬季调光/ });
    await poll(() => row.textContent()).toContain("3 / 3"); // sent to the three lights online (they do not answer: v1)
    await row.getByRole("button", { name: "暂停" }).click();
    await poll(() => row.textContent()).toContain("已暂停");
    const [k] = ((await (await t.api("/api/v1/control/campaigns")).json()) as { campaigns: { state: string; createdBy: string }[] }).campaigns;
    expect(k).toMatchObject({ state: "paused", createdBy: "王工" });
    await row.getByText("估算与实测对比").click();
    await row.getByText(/0 盏已执行的路灯/).waitFor();
    await page.screenshot({ path: join(SHOTS, "technician-control.png"), fullPage: true });
    await accessible(page);

    // the energy report, and its workbook
    const energy = page.getByRole("region", { name: "能耗与亮灯率" });
    await energy.getByRole("table").waitFor();
    const [download] = await Promise.all([page.waitForEvent("download"), energy.getByRole("button", { name: "下载 Excel" }).click()]);
    expect(download.suggestedFilename()).toMatch(/^energy-.*\.xlsx$/);

    // a light's control on its page: the campaign's profile in its history, and an override sent from here
    await page.goto(`${t.started.httpUrl}/#/lights/LS-1`);
    const control = page.getByRole("region", { name: "控制" });
    await control.getByText("照明方案").first().waitFor();
    await control.getByLabel("亮度（%）").fill("40");
    await control.getByRole("button", { name: "发送临时控制" }).click();
    await control.getByRole("cell", { name: "临时控制" }).waitFor();
    const cs = (await (await t.api("/api/v1/control/commands?deviceId=LS-1")).json()) as {
      commands: { name: string; body: unknown; createdBy: string }[];
    };
    expect(cs.commands[0]).toMatchObject({ name: "override", body: { action: "dim", pct: 40, minutes: 60 }, createdBy: "王工" });
    await accessible(page);
    await context.close();
    expect(errors).toEqual([]);
  });

  it("finance: verification by town and project, drill down to each light's evidence, XLSX and CSV downloads, in English too", async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
    const { page, errors } = await open(context);
    await signIn(page, users.finance);
    await page.getByRole("heading", { name: "补贴路灯核查" }).waitFor();
    // finance sees only its page
    expect(await page.getByRole("link", { name: "告警" }).count()).toBe(0);
    expect(await page.getByRole("link", { name: "路灯控制" }).count()).toBe(0); // nor the lights' control
    await Promise.all([
      page.waitForResponse((r) => r.url().includes("/api/v1/verification?") && r.url().includes("nights=2")),
      page
        .getByLabel("核查夜数")
        .fill("2")
        .then(() => page.getByLabel("核查夜数").press("Tab")),
    ]);
    const until = new Date(Date.now() + 8 * 3600_000).toISOString().slice(0, 10);
    const api = (await (await t.api(`/api/v1/verification?until=${until}&nights=2`)).json()) as {
      summary: { claimed: number; verified: number };
      lights: { deviceId: string; verdict: string }[];
    };
    expect(api.summary.claimed).toBe(5);
    expect(api.lights.find((l) => l.deviceId === "LS-DARK")?.verdict).toBe("not_lit");
    const tiles = page.locator("dl.tiles");
    await poll(() => tiles.textContent()).toContain(`核实${api.summary.verified}`);

    const byTown = page.getByRole("region", { name: "按乡镇" });
    await byTown.getByRole("button", { name: `明细 ${TOWN}` }).click();
    const detail = page.getByRole("region", { name: "逐灯结论" });
    await poll(() => detail.locator("tbody tr").count()).toBe(4);
    const dark = detail.getByRole("row", { name: /LS-DARK/ });
    expect(await dark.textContent()).toContain("夜间亮灯不足"); // the words the XLSX and CSV use (the service's catalogue)
    expect(await dark.textContent()).toMatch(/2 晚中 \d 晚亮灯达标，需 \d 晚/);
    // yuan claimed, verified and withheld side by side (issue 20 #9)
    type Yuan = { town: string; claimedSubsidyYuan: number; verifiedSubsidyYuan: number; withheldSubsidyYuan: number };
    const yuan = (api as unknown as { byTown: Yuan[] }).byTown.find((x) => x.town === TOWN);
    const n = (x: number | undefined) => new Intl.NumberFormat("zh-CN").format(x ?? Number.NaN);
    expect(await tiles.textContent()).toContain(
      `申报补贴¥${n(yuan?.claimedSubsidyYuan)}核实补贴¥${n(yuan?.verifiedSubsidyYuan)}扣减补贴¥${n(yuan?.withheldSubsidyYuan)}`,
    );
    await page.screenshot({ path: join(SHOTS, "finance.png"), fullPage: true });
    await accessible(page);
    // viewing and filtering recorded no report (issue 20 #10); generating one on purpose does
    type Log = { reports: { id: string; kind: string; keyName: string | null }[] };
    const logged = async () => ((await (await t.api("/api/v1/verification/reports")).json()) as Log).reports;
    expect(await logged()).toEqual([]);
    await page.getByRole("button", { name: "生成并存档报告" }).click();
    await poll(async () => (await logged()).map((x) => [x.kind, x.keyName])).toEqual([["json", users.finance.name]]);
    await poll(() => page.locator(".actions").textContent()).toContain(`已存档报告 ${(await logged())[0]?.id}`);

    const [xlsx] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "下载 Excel (XLSX)" }).click()]);
    expect(xlsx.suggestedFilename()).toBe(`verification-${TOWN}-${until}.xlsx`);
    expect(
      readFileSync((await xlsx.path()) ?? "")
        .subarray(0, 2)
        .toString(),
    ).toBe("PK");
    const [csv] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "下载 CSV" }).click()]);
    const csvText = readFileSync((await csv.path()) ?? "", "utf8");
    expect(csvText.charCodeAt(0)).toBe(0xfeff);
    expect(csvText).toContain("LS-DARK");
    // the file words a verdict as the page does
    expect(csvText.split("\n").find((l) => l.includes("LS-DARK"))).toContain("夜间亮灯不足");
    expect(csvText).not.toContain("OT-1"); // the town drilled into is the town downloaded

    await page.getByRole("button", { name: "English" }).click();
    await page.getByRole("heading", { name: "Subsidised light verification" }).waitFor();
    await poll(() => page.getAttribute("html", "lang")).toBe("en");
    const detailEn = page.getByRole("region", { name: "Each light" });
    expect(await detailEn.getByRole("row", { name: /LS-DARK/ }).textContent()).toContain("not lit enough at night");
    // the evidence is worded by the API: asked for again in English
    await poll(() => detailEn.getByRole("row", { name: /LS-DARK/ }).textContent()).toMatch(/lit to standard on \d+ of \d+ nights; \d+ needed/);
    await page.screenshot({ path: join(SHOTS, "finance-en.png"), fullPage: true });
    await accessible(page);
    await context.close();
    expect(errors).toEqual([]);
  });

  it("admin: the first sign-in must change the one-time password; then makes an account, sees it in the audit log, signs out", async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const { page, errors } = await open(context);
    const first = t.started.createdAdminPassword ?? "";
    expect(first).not.toBe("");
    await signIn(page, { name: "admin", password: first });
    await page.getByRole("heading", { name: "修改密码" }).waitFor();
    // nothing else is offered until the password is changed
    expect(await page.getByRole("link", { name: "用户" }).count()).toBe(0);
    await page.getByLabel("当前密码").fill(first);
    await page.getByLabel("新密码（至少 10 个字符）").fill("admin-own-password-1");
    await page.getByLabel("再次输入新密码").fill("admin-own-password-1");
    await accessible(page);
    await page.getByRole("button", { name: "修改密码" }).click();

    await page.getByRole("link", { name: "用户" }).click();
    await page.getByRole("heading", { name: "用户账户" }).waitFor();
    const form = page.getByRole("form", { name: "开设账户" });
    await form.getByLabel("用户名").fill("李会计");
    await form.getByLabel("角色").selectOption("finance");
    await form.getByRole("button", { name: "开设账户" }).click();
    await page.getByText("李会计 的一次性密码").waitFor();
    const row = page.getByRole("row", { name: /李会计/ });
    await poll(() => row.textContent()).toContain("待改密码");
    await accessible(page);
    await page.screenshot({ path: join(SHOTS, "admin-users.png"), fullPage: true });

    await page.getByRole("link", { name: "设备", exact: true }).click();
    await page.getByRole("heading", { name: "设备登记" }).waitFor();
    const register = page.getByRole("form", { name: "登记路灯" });
    await register.getByLabel("设备编号").fill("ADM-1");
    await register.getByLabel("乡镇").fill(TOWN);
    await register.getByLabel("纬度").fill("29.36");
    await register.getByLabel("经度").fill("105.92");
    await register.getByRole("button", { name: "登记路灯" }).click();
    await page.getByRole("region", { name: "设备接入密码" }).getByRole("row", { name: /ADM-1/ }).waitFor();
    const device = page.getByRole("region", { name: "设备登记" }).getByRole("row", { name: /ADM-1/ });
    await device.getByRole("button", { name: "停用 ADM-1" }).click();
    await poll(() => device.textContent()).toContain("已停用");
    expect((await (await t.api("/api/v1/devices/ADM-1")).json()) as { disabled: boolean }).toMatchObject({ disabled: true });
    await accessible(page);
    await page.screenshot({ path: join(SHOTS, "admin-devices.png"), fullPage: true });

    await page.getByRole("link", { name: "告警设置" }).click();
    const silence = page.getByRole("form", { name: "添加静默" });
    await silence.getByLabel("乡镇").fill(TOWN);
    await silence.getByLabel("原因").fill("线路检修");
    await silence.getByRole("button", { name: "添加静默" }).click();
    const silences = page.getByRole("region", { name: "静默与维护窗口" });
    await silences.getByRole("row", { name: /线路检修/ }).waitFor();
    expect(((await (await t.api("/api/v1/silences")).json()) as { silences: { town: string; by: string }[] }).silences).toEqual(
      expect.arrayContaining([expect.objectContaining({ town: TOWN, by: "admin" })]),
    );
    await accessible(page);
    await silences.getByRole("button", { name: "删除 线路检修" }).click();
    await poll(() => silences.getByRole("row", { name: /线路检修/ }).count()).toBe(0);

    await page.getByRole("link", { name: "申报导入" }).click();
    await page.getByLabel("申报清单文件").setInputFiles({
      name: "claims.csv",
      mimeType: "text/csv",
      // saved by Excel on Chinese Windows: GBK (the console once read it as UTF-8 text before sending it)
      buffer: gbk(
        "项目编号,镇街,村,道路,年度,批准数量,补助标准,设备编号,经度,纬度,控制器序列号,IMEI,安装日期\nADM-2026,来苏镇,梳妆台村,村道1号,2026,1,1500,ADM-1,105.92,29.36,SL-ADM-1,861234567890999,2026-03-01\n",
      ),
    });
    await page.getByRole("button", { name: "导入", exact: true }).click();
    await page.getByText("已导入：1 个项目，新增 1 条").waitFor();
    await accessible(page);

    await page.getByRole("link", { name: "操作日志" }).click();
    const audit = page.getByRole("region", { name: "操作日志" });
    await poll(() =>
      audit
        .getByRole("row", { name: /POST \/api\/v1\/users/ })
        .first()
        .textContent(),
    ).toContain("admin");
    await accessible(page);
    await page.screenshot({ path: join(SHOTS, "admin-audit.png"), fullPage: true });

    await page.getByRole("button", { name: "退出" }).click();
    await page.getByRole("heading", { name: "登录" }).waitFor();
    // the session is over on the server too
    await page.reload();
    await page.getByRole("heading", { name: "登录" }).waitFor();
    await context.close();
    expect(errors).toEqual([]);
  });
});
