import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import ExcelJS from "exceljs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../harness/helpers.js";
import { telemetrySink } from "../src/ingest/sinks.js";
import { createStoreWriter, type Sink } from "../src/ingest/store-writer.js";
import { openWal, type WalEntry, type WalRecord } from "../src/ingest/wal.js";
import { createLogReader, type LogLines, lineRecords } from "../src/ingest/wal-reader.js";
import { createMessages } from "../src/messages.js";
import { importLimits } from "../src/platform/config.js";
import type { DomainError } from "../src/platform/errors.js";
import type { Message } from "../src/platform/i18n.js";
import { createLogger } from "../src/platform/log.js";
import { createWorkerPool, jobModule } from "../src/platform/workers.js";
import { parseDeviceCsv } from "../src/registry/csv-import.js";
import { parseDeviceCsvInWorker } from "../src/registry/jobs.js";
import { createRegistry } from "../src/registry/registry.js";
import { openStateStore, type StateStore } from "../src/state.js";
import { createDuckDbTelemetryStore } from "../src/storage/duckdb-telemetry.js";
import { nightStore } from "../src/streetlights/store.js";
import { parseClaims } from "../src/verification/claims.js";
import { type claims, verificationJobs } from "../src/verification/jobs.js";
import { createVerification, toCsv, toXlsx, windowDates } from "../src/verification/service.js";
import { verificationStore } from "../src/verification/store.js";

/** What moved to worker threads gives what the same functions give in the service's thread. */
const SETTINGS = { locationM: 15, duplicatePoleM: 10, litNightsShare: 25 / 30, pvDaysShare: 0.8, pvWh: 20, silentH: 72, samplePct: 10 };
const UNTIL = "2026-06-30";
const LIGHTS = 400;

/** The rows of an import refused with `rowsRejected`, as code and parameters (the shape of `RowError`). */
const withId = (rows: readonly { line: number; id?: string | null; problem: Message }[]) =>
  rows.map((r) => ({ line: r.line, id: r.id ?? null, problem: r.problem }));
async function rejected(p: Promise<unknown>) {
  const e = await p.then(
    () => {
      throw new Error("not refused");
    },
    (e: unknown) => e as DomainError,
  );
  const render = createMessages().in("en");
  const details = (typeof e.details === "function" ? e.details(render) : e.details) as {
    rows: { line: number; id: string | null; code: string; params: Message["params"] }[];
    more?: number;
  };
  return {
    rows: details.rows.map((r) => ({ line: r.line, id: r.id, problem: { code: r.code, params: r.params } })),
    ...(details.more !== undefined ? { more: details.more } : {}),
  };
}

describe("work in worker threads gives the in-thread results", () => {
  const dir = tempDir();
  const pool = createWorkerPool({ size: 1, maxQueued: 8 });
  const claimsJob = jobModule<{ claims: typeof claims }>(import.meta.url, "../src/verification/jobs");
  let state: StateStore;
  let inThread: ReturnType<typeof createVerification>;
  let jobs: ReturnType<typeof verificationJobs>;

  beforeAll(async () => {
    state = await openStateStore(dir.path);
    // Every verdict occurs: a light unregistered (i % 40 = 3) or a blender (i % 50 = 7); silent (i % 13 = 0); moved
    // 110 m (i % 17 = 0); dark for 10 of 30 nights (i % 7 = 0); no PV (i % 11 = 0); a shared serial (i % 60 = 5); a
    // pole 5 m from the next one (i % 70 = 9).
    await state.db.run(`INSERT INTO devices SELECT 'L-' || lpad(i::VARCHAR, 4, '0'), CASE WHEN i % 50 = 7 THEN 'blender' ELSE 'streetlight' END, NULL,
      'town-' || (i % 3)::VARCHAR, 'village-' || (i // 50)::VARCHAR, NULL, 29.3 + i * 0.001, 105.9, '{}', 'scrypt$4096$c2FsdA$aGFzaA', false, now(), now(), NULL
      FROM range(${LIGHTS}) t(i) WHERE i % 40 <> 3`);
    const dates = windowDates(UNTIL, 30);
    const night = dates.map((d, j) => `('${d}', ${j})`).join(", ");
    const untilMs = Date.parse(`${UNTIL}T00:00:00+08:00`);
    await state.db.run(`INSERT INTO nights SELECT 'L-' || lpad(i::VARCHAR, 4, '0'), w.d, CASE WHEN i % 7 = 0 AND w.j < 10 THEN 'dark' ELSE 'lit' END,
      CASE WHEN i % 11 = 0 THEN 0 ELSE 400 END,
      ${untilMs}::BIGINT - (30 - w.j)::BIGINT * 86400000 - CASE WHEN i % 13 = 0 THEN 5 * 86400000 ELSE 0 END,
      29.3 + i * 0.001 + CASE WHEN i % 17 = 0 THEN 0.001 ELSE 0 END, 105.9, '{}'
      FROM range(${LIGHTS}) t(i), (VALUES ${night}) w(d, j) WHERE i % 40 <> 3`);
    await state.db.run(`INSERT INTO projects SELECT 'P-' || (i // 100)::VARCHAR, json_object('id', 'P-' || (i // 100)::VARCHAR, 'town', 'town-' || (i % 3)::VARCHAR,
      'village', 'village-' || (i // 100)::VARCHAR, 'road', '路', 'year', 2025, 'approvedLights', 100, 'subsidyYuan', 2700) FROM range(0, ${LIGHTS}, 100) t(i)`);
    await state.db.run(`INSERT INTO claims SELECT 'L-' || lpad(i::VARCHAR, 4, '0'), 'P-' || (i // 100)::VARCHAR, json_object('deviceId', 'L-' || lpad(i::VARCHAR, 4, '0'),
      'projectId', 'P-' || (i // 100)::VARCHAR, 'lat', 29.3 + i * 0.001 - CASE WHEN i % 70 = 10 THEN 0.001 - 0.000045 ELSE 0 END, 'lon', 105.9,
      'controllerSerial', CASE WHEN i % 60 = 5 THEN 'SN-SHARED' ELSE 'SN' || i::VARCHAR END, 'imei', (860000000000000 + i)::VARCHAR, 'installedAt', '2025-06-01')
      FROM range(${LIGHTS}) t(i)`);
    const registry = await createRegistry(state.devices);
    const deps = { store: verificationStore(state.db), nights: nightStore(state.db), registry, settings: SETTINGS };
    inThread = createVerification(deps);
    jobs = verificationJobs({ ...deps, pool, limits: importLimits(100_000) });
  });
  afterAll(async () => {
    await pool.stop();
    await state.close();
    dir.remove();
  });

  const noId = <T extends { reportId: string | null }>(r: T) => ({ ...r, reportId: "" });

  it("the report: the same verdicts, summaries, visits and digest, and each run logged", async () => {
    for (const params of [
      { until: UNTIL, nights: 30 },
      { until: UNTIL, nights: 30, town: "town-1" },
      { until: UNTIL, nights: 20, project: "P-2" },
    ]) {
      for (const kind of ["json", "visits"] as const) {
        const a = await inThread.report(params, kind, "k", "made");
        const b = await jobs.report(params, kind, "made", "k");
        expect(noId(b)).toEqual(noId(a));
      }
    }
    const r = await inThread.report({ until: UNTIL, nights: 30 }, "json", "k", "made");
    expect(new Set(r.lights.map((l) => l.verdict))).toEqual(
      new Set(["verified", "not_reporting", "silent", "location_mismatch", "not_lit", "no_charging", "duplicate_device", "duplicate_pole"]),
    );
    const logged = await verificationStore(state.db).reports(100);
    expect(logged).toHaveLength(13);
    // the district's report (json and visits are the same report), in-thread and off, and the last one
    expect(logged.filter((x) => x.digest === r.digest)).toHaveLength(5);
  });

  it("the CSV is the same text and the XLSX the same cells as toCsv and toXlsx of the in-thread report", async () => {
    const params = { until: UNTIL, nights: 30 };
    const a = await inThread.report(params, "xlsx", "k", "made");
    // (rendered in the thread with the feature's own words; the same text as the service's catalogue gives)
    const render = createMessages().in("zh");
    const csv = await jobs.file(params, "csv", "zh", "k");
    expect(csv.digest).toBe(a.digest);
    expect(csv.body).toBe(toCsv(a.lights, render));
    const en = await jobs.file(params, "csv", "en", "k");
    expect(en.body).toBe(toCsv(a.lights, createMessages().in("en")));
    const xlsx = await jobs.file(params, "xlsx", "zh", "k");
    expect(xlsx.digest).toBe(a.digest);
    expect(Buffer.isBuffer(xlsx.body)).toBe(true);
    const cells = async (file: Buffer) => {
      const wb = new ExcelJS.Workbook();
      await wb.xlsx.load(file as unknown as ArrayBuffer);
      return wb.worksheets.map((ws) => ({ name: ws.name, rows: ws.getSheetValues() }));
    };
    const theirs = await cells(await toXlsx({ ...a, digest: a.digest }, render));
    expect(theirs.map((s) => s.name)).toEqual(["汇总", "明细", "现场核查"]);
    expect(await cells(xlsx.body as Buffer)).toEqual(theirs);
  });

  it("the claims file's parse: the same projects, claims and row problems, CSV and XLSX, in parts past 5,000 rows", async () => {
    const header = "projectId,town,village,road,year,approvedLights,subsidyYuan,deviceId,lon,lat,controllerSerial,imei,installedAt";
    const rows = Array.from(
      { length: 12_001 },
      (_, i) =>
        `P${Math.floor(i / 100)},来苏镇,村${Math.floor(i / 100)},路,2025,100,2700,C-${i},105.9,29.${i},SN${i},${860000000000000 + i},2025-06-01`,
    );
    rows[17] = rows[17]?.replace(",29.17,", ",95,") ?? ""; // a latitude out of range
    rows[4000] = rows[3999] ?? ""; // a device claimed twice
    rows[9001] = rows[9001]?.replace("来苏镇", "别的镇") ?? ""; // a project that differs from its first line
    for (let i = 10_000; i < 11_000; i++) rows[i] = rows[i]?.replace(/,\d{15},/, ",8600,") ?? ""; // 1,000 short IMEIs
    const csv = `\uFEFF${[header, ...rows].join("\r\n")}`;
    const a = await parseClaims(csv, "csv");
    expect(a.claims.length).toBeGreaterThan(10_000);
    expect(a.errors.length).toBe(1000); // the first 1,000 of them
    expect(a.errorRows).toBe(1003);
    expect(await rejected(jobs.parseClaims(csv, "csv"))).toEqual({ rows: withId(a.errors), more: 3 });
    // a file without the bad rows: the same claims, as lines of JSON in parts of 5,000, and projects
    const good = [header, ...rows.filter((_, i) => i !== 17 && i !== 4000 && i !== 9001 && (i < 10_000 || i >= 11_000))].join("\n");
    const g = await parseClaims(good, "csv");
    const lines = await jobs.parseClaims(good, "csv");
    expect(lines.claims.map((part) => part.split("\n").length)).toEqual([5000, 5000, g.claims.length - 10_000]);
    expect(lines.claims.flatMap((part) => part.split("\n").map((l) => JSON.parse(l)))).toEqual(g.claims);
    expect(lines.projects).toEqual(g.projects);
    expect(lines.count).toBe(g.claims.length);
    // what reaches the service's thread: a refused file's problems and none of its claims; a good file's claims in parts
    const reached = async (body: string) => {
      const got: string[] = [];
      const host = { claims: () => void got.push("claims"), errors: () => void got.push("errors") };
      const input = { body: new Uint8Array(Buffer.from(body)), kind: "csv" as const, limits: { maxRows: 100_000, xlsx: importLimits(100_000).xlsx } };
      await pool.run(claimsJob, "claims", input, { host });
      return got;
    };
    expect(await reached(csv)).toEqual(["errors"]);
    expect(await reached(good)).toEqual(["claims", "claims", "claims"]);
    const wb = new ExcelJS.Workbook();
    const ws = wb.addWorksheet("申报清单");
    ws.addRow(["项目编号", "镇街", "村", "道路", "年度", "批准数量", "补助标准", "设备编号", "经度", "纬度", "控制器序列号", "IMEI", "安装日期"]);
    for (const r of rows.slice(0, 300)) ws.addRow(r.split(",").map((v, i) => (i === 12 ? new Date(`${v}T00:00:00+08:00`) : v)));
    const xlsx = Buffer.from(await wb.xlsx.writeBuffer());
    const b = await parseClaims(xlsx, "xlsx");
    expect(b.errors.map((e) => e.line)).toEqual([19]);
    expect(b.claims.length).toBeGreaterThan(200);
    expect(await rejected(jobs.parseClaims(xlsx, "xlsx"))).toEqual({ rows: withId(b.errors) });
    ws.spliceRows(19, 1);
    const goodXlsx = Buffer.from(await wb.xlsx.writeBuffer());
    const gx = await parseClaims(goodXlsx, "xlsx");
    expect(gx.errors).toEqual([]);
    expect((await jobs.parseClaims(goodXlsx, "xlsx")).claims.join("\n")).toBe(gx.claims.map((c) => JSON.stringify(c)).join("\n"));
    const notWorkbook = await parseClaims(Buffer.from("not a workbook"), "xlsx");
    expect(notWorkbook.errors.map((e) => e.problem.code)).toEqual(["claims_unreadable"]);
    expect(await rejected(jobs.parseClaims(Buffer.from("not a workbook"), "xlsx"))).toEqual({ rows: withId(notWorkbook.errors) });
  });

  it("the device list's parse: the same devices and row problems, with ids already registered and without", async () => {
    const header = "id,family,town,village,lat,lon,lampW,panelWp,batteryAh,controllerSerial,moduleImei,station,hopperMaterials";
    const rows = Array.from(
      { length: 12_000 },
      (_, i) => `D-${i},streetlight,来苏镇,梳妆台村,29.35,105.91,30,120,60,SN${i},${860000000000000 + i},,`,
    );
    rows[5] = "D-5,streetlight,来苏镇,梳妆台村,95,105.91,30,120,60,SN5,860000000000005,,"; // latitude out of range
    rows[6] = rows[4] ?? ""; // an id repeated
    rows[7000] = "QJ-1,blender,綦江区,,,,,,,,,綦江智能配肥站,urea;map;kcl;filler";
    rows[7001] = "QJ-2,blender,綦江区,,,,,,,,,,"; // a blender without a station or materials
    rows[9000] = rows[8999] ?? ""; // a registered id, twice
    const csv = `\uFEFF${[header, ...rows].join("\r\n")}\r\n`;
    for (const registered of [new Set<string>(), new Set(["D-3", "D-8999", "D-11999", "QJ-1"])]) {
      const existing = (id: string) => registered.has(id);
      const a = parseDeviceCsv(csv, existing);
      expect(a.devices.length).toBeGreaterThan(11_000);
      expect(a.errors.length).toBeGreaterThanOrEqual(3 + (registered.size > 0 ? 4 : 0));
      expect(await rejected(parseDeviceCsvInWorker(pool, csv, existing, { maxRows: 100_000 }))).toEqual({ rows: withId(a.errors) });
    }
    const good = `${header}\n${rows.slice(8, 5000).join("\n")}`;
    const g = parseDeviceCsv(good, () => false);
    expect(g.errors).toEqual([]);
    expect(await parseDeviceCsvInWorker(pool, good, () => false, { maxRows: 100_000 })).toEqual({ devices: g.devices, errors: [] });
    const unreadable = `${header}\n"D-1,streetlight`;
    expect(await rejected(parseDeviceCsvInWorker(pool, unreadable, () => false, { maxRows: 100_000 }))).toEqual({
      rows: withId(parseDeviceCsv(unreadable, () => false).errors),
    });
  });

  const reading = (i: number): WalEntry =>
    i % 10 === 3
      ? {
          kind: "reject",
          reject: {
            deviceId: "L1",
            clientId: "L1",
            topic: "streetlight/L1/telemetry",
            reason: "schema",
            detail: `x${i}`,
            payload: "{}",
            payloadEncoding: "utf8",
            payloadBytes: 2,
            receivedAt: i,
          },
        }
      : {
          kind: "reading",
          reading: {
            measurement: "streetlight_telemetry",
            deviceId: `L${i % 7}`,
            ts: 1_700_000_000_000 + i,
            receivedAt: i,
            tags: { town: "来苏镇" },
            payload: { i, 名: "路灯" },
          },
        };
  const records = (lines: LogLines) => {
    const r = lineRecords(lines);
    return Array.from({ length: lines.count }, () => r.next());
  };

  it("reading the log back: the records wal.replay gives, across segments, past a line that does not parse, up to a limit", async () => {
    const path = join(dir.path, "wal-read");
    const wal = await openWal(path, { segmentBytes: 4000 });
    for (let i = 1; i <= 300; i++) await wal.append(reading(i));
    await wal.close();
    // a line that does not parse in the middle of an old segment (the log skips it)
    const [, second] = readdirSync(path).sort();
    const file = join(path, second ?? "");
    const lines = readFileSync(file, "utf8").split("\n");
    lines.splice(3, 0, '{"kind":"reading","seq":');
    writeFileSync(file, lines.join("\n"));
    const again = await openWal(path, { onTornRecord: () => undefined });
    const read = createLogReader(pool, path);
    for (const [after, limit] of [
      [0, 1000],
      [0, 50],
      [37, 100],
      [150, 1],
      [299, 10],
      [300, 10],
    ] as const) {
      const want = [...again.replay(after)];
      const got = await read(after, limit);
      expect(records(got)).toEqual(want.slice(0, limit));
      expect(got.more).toBe(want.length > limit);
      expect(got.lastSeq).toBe(want.slice(0, limit).at(-1)?.seq ?? 0);
      expect(got.torn).toEqual(after < 100 ? [file] : []);
    }
    await again.close();
  });

  it("the store writer that fell behind reads the log back in a thread: every record reaches every sink once, in order", async () => {
    const path = join(dir.path, "wal-writer");
    const wal = await openWal(path);
    const telemetry = await createDuckDbTelemetryStore(":memory:");
    const seen: number[] = [];
    const recording: Sink = {
      name: "recording",
      accepts: () => true,
      checkpoint: async () => 0,
      write: async (batch) => {
        seen.push(...batch.map((r) => r.seq));
      },
    };
    const reader = createLogReader(pool, path);
    let readBacks = 0;
    let late = false;
    const pushNext = async (n: number) => {
      const base = wal.lastSeq();
      const got = await Promise.all(Array.from({ length: n }, (_, k) => wal.append(reading(base + 1 + k))));
      for (const r of got) writer.push(r);
    };
    const setAside: unknown[] = [];
    const writer = createStoreWriter({
      wal,
      sinks: [telemetrySink(telemetry), recording],
      setAside: (s) => void setAside.push(s),
      batchSize: 10,
      flushMs: 5,
      maxQueue: 30,
      log: createLogger("silent"),
      metrics: { written: () => undefined, writeSeconds: () => undefined, writeError: () => undefined, queueDepth: () => undefined },
      // While the reading back that reaches the log's end is under way, more records arrive: pushed then, they are not
      // queued (the reading may hold them or not), and must be read back too.
      readBack: async (after, limit) => {
        const got = await reader(after, limit);
        if (readBacks++ > 0 && !got.more && !late) {
          late = true;
          await pushNext(25);
        }
        return got;
      },
    });
    await writer.start();
    // 200 records pushed at once: the queue holds 30, the rest only the log
    const appended: WalRecord[] = await Promise.all(Array.from({ length: 200 }, (_, i) => wal.append(reading(i + 1))));
    for (const r of appended) writer.push(r);
    await writer.waitFor(225); // the 200, and the 25 that came during the last reading back
    expect(late).toBe(true);
    expect(seen).toEqual(Array.from({ length: 225 }, (_, i) => i + 1));
    expect(setAside).toEqual([]);
    const readings = Array.from({ length: 225 }, (_, i) => i + 1).filter((i) => i % 10 !== 3).length;
    expect(await telemetry.count({ measurement: "streetlight_telemetry" })).toBe(readings);
    await writer.stop();
    await wal.close();
    await telemetry.close();
  });
});
