import { inflateRawSync } from "node:zlib";
import ExcelJS from "exceljs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_KEY, connectDevice, publish, registerLight, startTestApp, type TestApp } from "../harness/helpers.js";
import { type LightSpec, newPhysics, streetlightReading } from "../simulators/streetlight.js";
import { zipEntries } from "../src/platform/zip.js";
import type { DashboardPoint } from "../src/storage/dashboard-points.js";
import { DEFAULT_PROFILE, nightOf } from "../src/streetlights/expectation.js";
import { windowDates } from "../src/verification/service.js";

const XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
const BASE = { lat: 29.3512, lon: 105.9113 };
const at = (metresNorth: number, metresEast = 0) => ({ lat: BASE.lat + metresNorth / 111_195, lon: BASE.lon + metresEast / 96_900 });

type Case = {
  id: string;
  pos: { lat: number; lon: number };
  fault?: LightSpec["fault"];
  batteryAh?: number;
  silentDays?: number;
  serial?: string;
  project?: string;
  registered?: boolean;
  expect: string;
};
const CASES: Case[] = [
  ...[1, 2, 3, 4, 5].map((i) => ({ id: `OK-${i}`, pos: at(i * 52), expect: "verified" })),
  { id: "PHANTOM", pos: at(400), registered: false, expect: "not_reporting" },
  { id: "SILENT", pos: at(460), silentDays: 5, expect: "silent" },
  { id: "MOVED", pos: at(520), fault: "moved_pole", expect: "location_mismatch" },
  { id: "DEAD", pos: at(580), fault: "failed_lamp", expect: "not_lit" },
  { id: "STOLEN", pos: at(640), fault: "stolen_panel", batteryAh: 3000, expect: "no_charging" }, // a battery big enough to light without a panel
  { id: "DUPSN-A", pos: at(700), serial: "SN-SAME", expect: "duplicate_device" },
  { id: "DUPSN-B", pos: at(760), serial: "SN-SAME", project: "YC-2024-009", expect: "duplicate_device" },
  { id: "POLE-A", pos: at(820), expect: "duplicate_pole" },
  { id: "POLE-B", pos: at(824, 3), expect: "duplicate_pole" }, // 5 m from POLE-A
];

describe("finance verification", () => {
  let t: TestApp;
  let until = "";
  const points: DashboardPoint[] = [];
  const secrets = new Map<string, { id: string; secret: string }>();
  const post = (path: string, body: string | Buffer, type: string, key = ADMIN_KEY) =>
    t.api(path, { method: "POST", body, headers: { "content-type": type }, key });

  beforeAll(async () => {
    // Reports every 15 minutes: silence over 30 minutes within a night is a gap.
    t = await startTestApp({ AGRILUME_STREETLIGHT_REPORT_S: "900" });
    until = new Date(Date.now() + 8 * 3600_000).toISOString().slice(0, 10);
    const dates = windowDates(until, 30);
    const first = nightOf(dates[0] as string, BASE.lat, BASE.lon, DEFAULT_PROFILE);
    const from = first.dusk - 6 * 3600_000;
    const end = Date.now() - 60_000;
    await Promise.all(
      CASES.filter((c) => c.registered !== false).map(async (c) => {
        const creds = await registerLight(t, c.id, c.pos);
        secrets.set(c.id, creds);
        const spec: LightSpec = { id: c.id, ...c.pos, lampW: 30, panelWp: 120, batteryAh: c.batteryAh ?? 60, fault: c.fault ?? null };
        const physics = newPhysics(spec, () => 1, 90);
        const stop = c.silentDays ? end - c.silentDays * 86_400_000 : end;
        const client = await connectDevice(t, creds);
        const sends: Promise<void>[] = [];
        for (let ts = from; ts <= stop; ts += 15 * 60_000)
          sends.push(publish(client, `streetlight/${c.id}/telemetry`, JSON.stringify(streetlightReading(spec, physics, ts, 900))));
        await Promise.all(sends);
        client.end();
      }),
    );
    await t.app.writer.waitFor(t.app.wal.lastSeq());
    // the dashboard points the service writes, seen on their way to the real store (issue 20 #10)
    const store = t.app.telemetry;
    const write = store.writeDashboardPoints.bind(store);
    store.writeDashboardPoints = (p) => {
      points.push(...p);
      return write(p);
    };
    await t.app.runNightly(); // (before the claims: no points then, but the nights are recorded)
  }, 120_000);
  afterAll(() => t.stop());

  const claimsXlsx = async (
    rows: (string | number | Date)[][],
    headers = ["项目编号", "镇街", "村", "道路", "年度", "批准数量", "补助标准", "设备编号", "经度", "纬度", "控制器序列号", "IMEI", "安装日期"],
  ) => {
    const wb = new ExcelJS.Workbook();
    const ws = wb.addWorksheet("申报清单");
    ws.addRow(headers);
    for (const r of rows) ws.addRow(r);
    return Buffer.from(await wb.xlsx.writeBuffer());
  };
  const rowsFor = () =>
    CASES.map((c, i) => [
      c.project ?? "YC-2025-017",
      c.project ? "来苏镇" : "来苏镇",
      c.project ? "观音井村" : "梳妆台村",
      c.project ? "观音井路" : "梳妆台路",
      c.project ? 2024 : 2025,
      270,
      2700,
      c.id,
      c.pos.lon,
      c.pos.lat,
      c.serial ?? `SN-${i}`,
      String(860000000000100 + i),
      new Date("2025-06-01T00:00:00+08:00"),
    ]);

  it("imports the bureau's XLSX with Chinese headers; the same file again changes nothing", async () => {
    const file = await claimsXlsx(rowsFor());
    const first = await post("/api/v1/projects/import", file, XLSX);
    expect(await first.json()).toEqual({
      projects: 2,
      created: CASES.length,
      updated: 0,
      unchanged: 0,
      projectsCreated: 2,
      projectsUpdated: 0,
      headerRow: 1,
      encoding: null,
    });
    const again = await post("/api/v1/projects/import", file, XLSX);
    expect(await again.json()).toEqual({
      projects: 2,
      created: 0,
      updated: 0,
      unchanged: CASES.length,
      projectsCreated: 0,
      projectsUpdated: 0,
      headerRow: 1,
      encoding: null,
    });
  });

  it("reports bad rows with their line numbers and imports nothing", async () => {
    const csv = [
      "projectId,town,village,road,year,approvedLights,subsidyYuan,deviceId,lon,lat,controllerSerial,imei,installedAt",
      "P1,来苏镇,梳妆台村,路,2025,10,2700,NEW-1,105.9,29.3,SN-X,860000000009999,2025-06-01",
      "P1,来苏镇,梳妆台村,路,2025,10,2700,NEW-2,105.9,95,SN-Y,86000,2025-13-01",
      "P1,别的镇,梳妆台村,路,2025,10,2700,NEW-3,105.9,29.3,SN-Z,860000000009998,2025-06-01",
    ].join("\n");
    const res = await post("/api/v1/projects/import", csv, "text/csv");
    expect(res.status).toBe(422);
    type Rows = { error: { details: { rows: { line: number; reason: string; code: string; params: unknown }[] } } };
    const body = (await res.json()) as Rows;
    expect(body.error.details.rows.map((r) => r.line)).toEqual([3, 4]);
    expect(body.error.details.rows[0]?.reason).toMatch(/lat.*imei|imei.*lat/is);
    const differs = { line: 4, id: null, code: "project_differs", params: { line: 4, projectId: "P1", first: 2 } };
    expect(body.error.details.rows[1]).toEqual({
      ...differs,
      reason: "第 4 行：项目 P1 与第 2 行不一致（镇街、村、道路、年度、批准数量和补助标准须相同）",
    });
    const en = (await (
      await t.api("/api/v1/projects/import", { method: "POST", body: csv, headers: { "content-type": "text/csv", "accept-language": "en" } })
    ).json()) as Rows;
    expect(en.error.details.rows[1]).toEqual({
      ...differs,
      reason: "line 4: project P1 differs from line 2 (town, village, road, year, approved number and subsidy must agree)",
    });
  });

  it("gives each planted case its verdict, with exact counts", async () => {
    const res = await t.api(`/api/v1/verification?until=${until}`);
    const r = (await res.json()) as {
      summary: Record<string, unknown>;
      lights: { deviceId: string; verdict: string; evidence: Record<string, unknown> }[];
      byTown: { town: string; claimed: number }[];
      byProject: { projectId: string; claimed: number; verified: number }[];
    };
    const got = Object.fromEntries(r.lights.map((l) => [l.deviceId, l.verdict]));
    expect(got).toEqual(Object.fromEntries(CASES.map((c) => [c.id, c.expect])));
    expect(r.summary).toEqual({
      claimed: 14,
      reporting: 13,
      verified: 5,
      // yuan claimed, verified and withheld side by side (issue 20 #9): 14 × 2,700; 5 × 2,700; the rest
      claimedSubsidyYuan: 37_800,
      verifiedSubsidyYuan: 13_500,
      withheldSubsidyYuan: 24_300,
      byReason: { not_reporting: 1, silent: 1, location_mismatch: 1, not_lit: 1, no_charging: 1, duplicate_device: 2, duplicate_pole: 2 },
    });
    expect(r.lights.find((l) => l.deviceId === "MOVED")?.evidence).toMatchObject({ distanceM: expect.closeTo(120, 0), limitM: 15 });
    expect(r.lights.find((l) => l.deviceId === "POLE-A")?.evidence).toMatchObject({
      claims: [{ deviceId: "POLE-B", distanceM: expect.closeTo(5, 0) }],
    });
    // each verdict's evidence: its figures, its code, and its text in the reader's language, times in China time
    type Said = { deviceId: string; evidence: Record<string, unknown>; evidenceCode: string; evidenceText: string };
    const said = (x: { lights: Said[] }, id: string) => x.lights.find((l) => l.deviceId === id);
    const zh = r as unknown as { lights: Said[] };
    const silent = said(zh, "SILENT");
    expect(silent?.evidenceCode).toBe("evidence_silent");
    const lastSeen = silent?.evidence.lastSeen as string;
    expect(lastSeen).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/); // JSON keeps ISO 8601
    const china = new Date(Date.parse(lastSeen) + 8 * 3600_000).toISOString().replace("T", " ").slice(0, 16);
    expect(silent?.evidenceText).toBe(`最后上报 ${china}，已 ${silent?.evidence.silentHours} 小时无数据`);
    expect(said(zh, "DEAD")).toMatchObject({
      evidenceCode: "evidence_not_lit",
      evidenceText: expect.stringMatching(/^30 晚中 \d+ 晚亮灯达标，需 25 晚$/),
    });
    const en = (await (await t.api(`/api/v1/verification?until=${until}`, { headers: { "accept-language": "en" } })).json()) as { lights: Said[] };
    expect(said(en, "SILENT")?.evidenceText).toBe(`last report ${china}, silent for ${silent?.evidence.silentHours} h`);
    expect(said(en, "DEAD")?.evidenceText).toMatch(/^lit to standard on \d+ of 30 nights; 25 needed$/);
    // coordinates as people read them (issue 20 #8)
    expect(said(zh, "MOVED")?.evidenceText).toMatch(
      /^上报位置距申报位置 1\d\d(\.\d)? 米，允许 15 米（申报 北纬 29\.\d{1,5}°，东经 105\.\d{1,5}°；上报 北纬 29\.\d{1,5}°，东经 105\.\d{1,5}°）$/,
    );
    expect(said(en, "MOVED")?.evidenceText).toMatch(/\(claimed 29\.\d{1,5}° N, 105\.\d{1,5}° E; reported 29\.\d{1,5}° N, 105\.\d{1,5}° E\)$/);
    type Yuan = { claimedSubsidyYuan: number; verifiedSubsidyYuan: number; withheldSubsidyYuan: number };
    const yuan = (x: Yuan) => [x.claimedSubsidyYuan, x.verifiedSubsidyYuan, x.withheldSubsidyYuan];
    expect(r.byProject.map((p) => [p.projectId, p.claimed, p.verified, ...yuan(p as unknown as Yuan)])).toEqual([
      ["YC-2024-009", 1, 0, 2700, 0, 2700],
      ["YC-2025-017", 13, 5, 35_100, 13_500, 21_600],
    ]);
    expect(r.byTown.map((x) => [x.town, ...yuan(x as unknown as Yuan)])).toEqual([["来苏镇", 37_800, 13_500, 24_300]]);
    const one = (await (await t.api(`/api/v1/verification?until=${until}&project=YC-2024-009`)).json()) as { lights: { verdict: string }[] };
    expect(one.lights.map((l) => l.verdict)).toEqual(["duplicate_device"]); // the twin in another project still counts
  });

  it("counts no night that is not over against a light: a window asked to reach past the last recorded night ends with it", async () => {
    type Report = { window: { from: string; to: string; nights: number }; lights: { deviceId: string; verdict: string }[] };
    const report = async (u: string) => (await (await t.api(`/api/v1/verification?until=${u}`)).json()) as Report;
    const asked = await report(until);
    const ok = (await (await t.api(`/api/v1/streetlights/OK-1/nights?to=${until}`)).json()) as { nights: { date: string }[] };
    // before the nightly records of last night exist (until its dawn and a little after), the window ends the night before
    expect(asked.window).toMatchObject({ to: ok.nights.at(-1)?.date, nights: 30 });
    const tenDaysOn = new Date(Date.parse(`${until}T12:00:00+08:00`) + 10 * 86_400_000 + 8 * 3600_000).toISOString().slice(0, 10);
    const later = await report(tenDaysOn);
    expect(later.window).toEqual(asked.window);
    expect(later.lights).toEqual(asked.lights);
  });

  it("lists every failure and a reproducible sample of at least 10 % of the verified per town", async () => {
    const get = async () =>
      ((await (await t.api(`/api/v1/verification/visits?until=${until}`)).json()) as { visits: { deviceId: string; why: string }[] }).visits;
    const a = await get();
    // silent over 72 h is "to visit", not failed (issue 20 #4)
    expect(a.filter((v) => v.why === "failed")).toHaveLength(8);
    expect(a.filter((v) => v.why === "silent").map((v) => v.deviceId)).toEqual(["SILENT"]);
    expect(a.filter((v) => v.why === "sample")).toHaveLength(1);
    expect(await get()).toEqual(a);
  });

  it("downloads XLSX with Chinese sheets and headers, read back; CSV with a BOM; each report recorded", async () => {
    const res = await t.api(`/api/v1/verification/report.xlsx?until=${until}`);
    expect(res.headers.get("content-type")).toContain("spreadsheetml");
    const wb = new ExcelJS.Workbook();
    await wb.xlsx.load(await res.arrayBuffer());
    expect(wb.worksheets.map((w) => w.name)).toEqual(["汇总", "明细", "现场核查"]);
    const detail = wb.getWorksheet("明细");
    expect(detail?.getRow(1).values).toEqual([
      undefined,
      "设备编号",
      "项目编号",
      "镇街",
      "村",
      "道路",
      "结论",
      "结论代码",
      "申报补助(元)",
      "核实补助(元)",
      "扣减补助(元)",
      "证据",
    ]);
    expect(detail?.rowCount).toBe(15); // a header and 14 claims
    // the evidence in words, in Chinese, times in China time: no `litNights=12; nights=30`, no `…Z`
    const rows = (detail?.getSheetValues() ?? []).slice(2) as unknown[][];
    const evidence = (id: string) => String(rows.find((row) => row[1] === id)?.[11]);
    expect(evidence("SILENT")).toMatch(/^最后上报 \d{4}-\d{2}-\d{2} \d{2}:\d{2}，已 \d+ 小时无数据$/);
    expect(evidence("DEAD")).toMatch(/^30 晚中 \d+ 晚亮灯达标，需 25 晚$/);
    for (const row of rows) expect(String(row[11])).not.toMatch(/=|\dZ|[a-z]{3,}/);
    // each light's yuan, and their sums are the summary's
    const sumCol = (i: number) => rows.reduce((a, row) => a + Number(row[i]), 0);
    expect([sumCol(8), sumCol(9), sumCol(10)]).toEqual([37_800, 13_500, 24_300]);
    // the visit sheet says why each light is on it: a silent light is to visit, not failed (issue 20 #4)
    const visits = (wb.getWorksheet("现场核查")?.getSheetValues() ?? []).slice(2) as unknown[][];
    expect(visits.find((row) => row[1] === "SILENT")?.[8]).toBe("待走访（长时间无数据）");
    expect(visits.find((row) => row[1] === "DEAD")?.[8]).toBe("未通过");
    // with the claimed coordinates, to find the pole
    const dead = CASES.find((c) => c.id === "DEAD");
    expect(visits.find((row) => row[1] === "DEAD")?.slice(6, 8)).toEqual([dead?.pos.lat, dead?.pos.lon]);
    const summary = wb.getWorksheet("汇总");
    expect(summary?.getRow(2).values).toEqual([
      undefined,
      ...["范围", "名称", "申报数量", "上报数量", "核实数量"],
      ...["未上报数据", "超过72小时无数据（需现场核查）", "位置不符", "夜间亮灯不足", "光伏不发电", "设备重复申报", "灯杆位置重复"],
      ...["申报补助(元)", "核实补助(元)", "扣减补助(元)"],
    ]);
    expect(summary?.getRow(3).values).toEqual([undefined, "全部", "全区", 14, 13, 5, 1, 1, 1, 1, 1, 2, 2, 37_800, 13_500, 24_300]);
    const csv = await t.api(`/api/v1/verification/report.csv?until=${until}`);
    const bytes = new Uint8Array(await csv.arrayBuffer());
    expect([...bytes.slice(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    expect(new TextDecoder().decode(bytes)).toContain("设备编号,项目编号,镇街");
    const log = (await (await t.api("/api/v1/verification/reports")).json()) as {
      reports: { kind: string; digest: string; params: { until: string } }[];
    };
    const xlsx = log.reports.find((x) => x.kind === "xlsx");
    expect(xlsx?.params.until).toBe(until);
    expect(xlsx?.digest).toBe(res.headers.get("x-report-digest")); // same inputs, same report
    expect(log.reports.find((x) => x.kind === "csv")?.digest).toBe(xlsx?.digest);
  });

  /** A workbook entry's XML as Excel reads it (the zip read by hand: what ExcelJS writes, not what it reads back). */
  const entryXml = (zip: Buffer, name: string) => {
    const listed = zipEntries(zip, { maxEntries: 100, maxUncompressedBytes: 50 * 2 ** 20 });
    if ("problem" in listed) throw new Error(listed.problem);
    const e = listed.entries.find((x) => x.name === name);
    if (!e) throw new Error(`${name} missing`);
    const start = e.offset + 30 + zip.readUInt16LE(e.offset + 26) + zip.readUInt16LE(e.offset + 28);
    const data = zip.subarray(start, start + e.compressed);
    return (e.method === 8 ? inflateRawSync(data) : data).toString("utf8");
  };

  it("makes an XLSX to print: landscape, one page wide, header frozen and filtered, a signature block (issue 20 #8)", async () => {
    const file = Buffer.from(await (await t.api(`/api/v1/verification/report.xlsx?until=${until}`)).arrayBuffer());
    // sheet1 汇总 (title, header on row 2), sheet2 明细 and sheet3 现场核查 (header on row 1)
    for (const [n, header, rows, lastCol] of [
      [1, 2, 6, "O"], // title, header, district, 1 town, 2 projects
      [2, 1, 15, "K"],
      [3, 1, 11, "J"], // 8 failed, 1 silent, 1 sample
    ] as const) {
      const xml = entryXml(file, `xl/worksheets/sheet${n}.xml`);
      expect(xml).toMatch(/<pageSetUpPr fitToPage="1"\/>/);
      const setup = /<pageSetup [^>]*\/>/.exec(xml)?.[0] ?? "";
      expect(setup).toContain('orientation="landscape"');
      expect(setup).toContain('fitToWidth="1"');
      expect(setup).toContain('fitToHeight="0"');
      expect(setup).toContain('paperSize="9"');
      expect(xml).toMatch(new RegExp(`<pane [^>]*ySplit="${header}"[^>]*state="frozen"`));
      expect(xml).toContain(`<autoFilter ref="A${header}:${lastCol}${rows}"/>`);
      // the header repeats on every printed page
      expect(entryXml(file, "xl/workbook.xml")).toContain(`!$${header}:$${header}</definedName>`);
    }
    const wb = new ExcelJS.Workbook();
    await wb.xlsx.load(file as unknown as ArrayBuffer);
    const summary = (wb.getWorksheet("汇总")?.getSheetValues() ?? []) as unknown[][];
    const text = summary.flat().filter((v) => typeof v === "string");
    expect(text.filter((v) => /^(制表人|审核人|日期)：/.test(v as string))).toEqual([
      "制表人：____________",
      "审核人：____________",
      "日期：______年____月____日",
    ]);
    expect(wb.getWorksheet("现场核查")?.getRow(1).values).toEqual([
      undefined,
      ...["设备编号", "项目编号", "镇街", "村", "道路", "申报纬度", "申报经度", "核查原因", "结论", "证据"],
    ]);
    // in English on asking: the same layout, English words
    const en = new ExcelJS.Workbook();
    await en.xlsx.load(
      await (await t.api(`/api/v1/verification/report.xlsx?until=${until}`, { headers: { "accept-language": "en" } })).arrayBuffer(),
    );
    expect(en.worksheets.map((w) => w.name)).toEqual(["Summary", "Detail", "Field visits"]);
    expect(((en.getWorksheet("Summary")?.getSheetValues() ?? []) as unknown[][]).flat()).toContain("Checked by: ____________");
  });

  it("records only reports made on purpose or downloaded, not views; the dashboard's points come from those and the nightly pass (issue 20 #10)", async () => {
    const logged = async () =>
      ((await (await t.api("/api/v1/verification/reports?limit=500")).json()) as { reports: { id: string; kind: string }[] }).reports;
    const before = (await logged()).length;
    points.length = 0;
    // the finance page: a view and every filter change, and the field-visit list on screen
    for (const q of ["", "&town=来苏镇", "&project=YC-2025-017", "&nights=20"]) {
      const r = (await (await t.api(`/api/v1/verification?until=${until}${q}`)).json()) as { reportId: string | null; digest: string };
      expect(r.reportId).toBeNull();
      expect(r.digest).toMatch(/^[0-9a-f]{64}$/);
    }
    expect(((await (await t.api(`/api/v1/verification/visits?until=${until}`)).json()) as { reportId: unknown }).reportId).toBeNull();
    expect(await logged()).toHaveLength(before);
    expect(points).toEqual([]);
    // generated on purpose: recorded, with the digest the view had, and the dashboard's points
    const view = (await (await t.api(`/api/v1/verification?until=${until}`)).json()) as { digest: string };
    const made = await t.api("/api/v1/verification/reports", { method: "POST", body: JSON.stringify({ until }) });
    expect(made.status).toBe(201);
    const body = (await made.json()) as { reportId: string; digest: string; summary: { claimed: number } };
    expect(body.digest).toBe(view.digest);
    const log = await logged();
    expect(log).toHaveLength(before + 1);
    expect(log[0]).toMatchObject({ id: body.reportId, kind: "json" });
    const town = points.find((p) => p.measurement === "verification_summary" && p.tags.project === "");
    expect(town).toMatchObject({
      tags: { town: "来苏镇", project: "" },
      fields: { claimed: 14, reporting: 13, verified: 5, claimedSubsidyYuan: 37_800, verifiedSubsidyYuan: 13_500, withheldSubsidyYuan: 24_300 },
    });
    expect(points.filter((p) => p.tags.project !== "").map((p) => p.tags.project)).toEqual(["YC-2024-009", "YC-2025-017"]);
    // a town's report made on purpose is recorded, but the district's dashboard is not written from a part of it
    points.length = 0;
    expect((await t.api("/api/v1/verification/reports", { method: "POST", body: JSON.stringify({ until, town: "来苏镇" }) })).status).toBe(201);
    expect(points).toEqual([]);
    expect(await logged()).toHaveLength(before + 2);
    // a download is recorded
    await (await t.api(`/api/v1/verification/report.csv?until=${until}`)).arrayBuffer();
    expect((await logged())[0]?.kind).toBe("csv");

    // the nightly pass: a light's late reading for a night in the window, over MQTT; the pass records that night again
    // and writes the dashboard's points without anyone opening a report, and records no report
    const creds = secrets.get("OK-1");
    if (!creds) throw new Error("OK-1 not registered");
    const count = (await logged()).length;
    points.length = 0;
    const client = await connectDevice(t, creds);
    const spec: LightSpec = { id: "OK-1", ...at(52), lampW: 30, panelWp: 120, batteryAh: 60, fault: null };
    const night = nightOf(windowDates(until, 30)[10] as string, BASE.lat, BASE.lon, DEFAULT_PROFILE);
    const late = streetlightReading(
      spec,
      newPhysics(spec, () => 1, 90),
      night.dusk + 3600_000 + 7 * 60_000,
      900,
    );
    await publish(client, "streetlight/OK-1/telemetry", JSON.stringify(late));
    client.end();
    await t.app.writer.waitFor(t.app.wal.lastSeq());
    expect(await t.app.runNightly()).toBeGreaterThanOrEqual(1);
    expect(points.find((p) => p.tags.project === "")).toMatchObject({ tags: { town: "来苏镇" }, fields: { claimed: 14, verified: 5 } });
    expect(await logged()).toHaveLength(count);
  });

  it("only finance and admin keys may read reports or import claims", async () => {
    for (const role of ["technician", "operator"]) {
      const key = ((await (await t.api("/api/v1/keys", { method: "POST", body: JSON.stringify({ name: role, role }) })).json()) as { key: string })
        .key;
      expect((await t.api("/api/v1/verification", { key })).status).toBe(403);
      expect((await t.api("/api/v1/verification/reports", { method: "POST", body: "{}", key })).status).toBe(403);
      expect((await post("/api/v1/projects/import", "a,b", "text/csv", key)).status).toBe(403);
    }
    const finance = (
      (await (await t.api("/api/v1/keys", { method: "POST", body: JSON.stringify({ name: "财政局", role: "finance" }) })).json()) as { key: string }
    ).key;
    expect((await t.api(`/api/v1/verification?until=${until}`, { key: finance })).status).toBe(200);
  });
});
