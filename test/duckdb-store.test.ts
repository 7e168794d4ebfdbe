import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../harness/helpers.js";
import { openDb } from "../src/storage/duckdb.js";
import { DAILY_FIELDS, HOURLY_FIELDS, STREETLIGHT_FIELDS } from "../src/storage/duckdb-fields.js";
import { chinaDayStart } from "../src/storage/duckdb-retention.js";
import { createDuckDbTelemetryStore, TELEMETRY_MIGRATIONS } from "../src/storage/duckdb-telemetry.js";
import type { StoredReading, TelemetryStore } from "../src/storage/telemetry-store.js";
import { tempDirPerTest } from "./dirs.js";
import { telemetryStoreContract } from "./store-contract.js";

telemetryStoreContract("embedded (DuckDB)", async () => {
  const dir = tempDir();
  return { open: () => createDuckDbTelemetryStore(dir.path), cleanup: dir.remove };
});

/**
 * A streetlight reading for the retention and rollup tests: `complete`, every field the rollups keep (else a few);
 * `varied`, the fields they do not keep vary too (pv.v, tempC) and it carries a fix.
 */
function lightReading(
  seq: number,
  deviceId: string,
  ts: number,
  soc: number,
  on: boolean,
  shape: { complete: boolean; varied?: boolean },
): StoredReading {
  const varied = shape.varied === true;
  return {
    seq,
    measurement: "streetlight_telemetry",
    deviceId,
    ts,
    receivedAt: ts + 50,
    tags: { town: "来苏镇" },
    payload: shape.complete
      ? {
          ts,
          pv: { v: varied ? 17 + (soc % 3) : 17, a: soc / 100, w: soc / 10 },
          battery: { v: 12 + (soc % 7) / 10, soc, tempC: varied ? 14 - (soc % 5) : 14 },
          load: { on, w: on ? 29.6 : 0, a: on ? 2.3 : 0, dimPct: on ? 100 : 0 },
          energyToday: { pvWh: soc * 3, loadWh: soc },
          faults: [],
          ...(varied ? { gps: { lat: 30.1, lon: 104.6, accM: 3 } } : {}),
        }
      : { ts, battery: { soc, v: 12 + (soc % 7) / 10 }, load: { on }, faults: [] },
  };
}

describe("openDb transactions", () => {
  it("commits what the transaction's handle ran, rolls all of it back on a throw, and makes other calls wait", async () => {
    const db = await openDb(":memory:", [{ version: 1, name: "t", sql: "CREATE TABLE t (x INTEGER)" }]);
    try {
      await db.tx(async (t) => {
        await t.run("INSERT INTO t VALUES (1)");
        await t.run("INSERT INTO t VALUES (2)");
      });
      await expect(
        db.tx(async (t) => {
          await t.run("INSERT INTO t VALUES (3)");
          throw new Error("half way");
        }),
      ).rejects.toThrow("half way");
      expect(await db.all<{ n: number }>("SELECT count(*)::INTEGER AS n FROM t")).toEqual([{ n: 2 }]);

      // A statement issued while a transaction runs waits for it: it sees both of its rows or neither.
      let release = () => {};
      const held = new Promise<void>((r) => {
        release = r;
      });
      const tx = db.tx(async (t) => {
        await t.run("INSERT INTO t VALUES (10)");
        await held;
        await t.run("INSERT INTO t VALUES (11)");
      });
      const seen = db.all<{ n: number }>("SELECT count(*)::INTEGER AS n FROM t WHERE x >= 10");
      release();
      await tx;
      expect(await seen).toEqual([{ n: 2 }]);
    } finally {
      await db.close();
    }
  });
});

/** Data directories for the tests below, removed after each. */
const dir = tempDirPerTest();

describe("embedded telemetry store schema upgrades", () => {
  it("opens a database from before schema version 3 (points stored per field): readings and aggregates stay", async () => {
    const path = dir();
    const old = await openDb(join(path, "telemetry.duckdb"), TELEMETRY_MIGRATIONS.slice(0, 2));
    const ts = Date.now() - 3600_000;
    await old.run(
      `INSERT INTO messages VALUES ('streetlight_telemetry', 'L1', ?::TIMESTAMP_MS, ?::TIMESTAMP_MS, 7, '来苏镇', NULL, NULL, '{"ts":${ts},"pv":{"w":12.5},"load":{"on":true}}')`,
      [new Date(ts).toISOString(), new Date(ts).toISOString()],
    );
    await old.run("INSERT INTO points VALUES ('streetlight_telemetry', 'L1', ?::TIMESTAMP_MS, 7, 'pv.w', 12.5)", [new Date(ts).toISOString()]);
    await old.close();
    const store = await createDuckDbTelemetryStore(path);
    const agg = await store.aggregate({ deviceId: "L1", measurement: "streetlight_telemetry", from: ts - 1, to: ts + 1, every: "hour" });
    expect(agg.map((a) => [a.field, a.last])).toEqual([
      ["load.on", 1],
      ["pv.w", 12.5],
    ]);
    expect(await store.count({ deviceId: "L1" })).toBe(1);
    await store.close();
  });
});

describe("embedded telemetry store: typed columns (schema versions 5 and 6)", () => {
  // a minute into an hour, so that its three readings 5 minutes apart share their hour whenever the test runs
  const T = Math.floor(Date.now() / 3600_000) * 3600_000 - 3 * 3600_000 + 60_000;
  /** A controller's reading as devices/streetlight.ts declares it. */
  const full = (ts: number, soc: number) => ({
    ts,
    pv: { v: 17.42, a: 1.03, w: 18.55 },
    battery: { v: 12.93, soc, tempC: -4.5 },
    load: { on: true, w: 29.6, a: 2.29, dimPct: 100 },
    energyToday: { pvWh: 120, loadWh: 44 },
    faults: ["over_discharge"],
    gps: { lat: 30.123456, lon: 104.654321, accM: 3 },
  });
  const payloads: [string, string, number, Record<string, unknown>][] = [
    ["streetlight_telemetry", "L1", T, full(T, 78)],
    ["streetlight_telemetry", "L1", T + 300_000, full(T + 300_000, 77)],
    // no gps (it is optional), an empty parent
    ["streetlight_telemetry", "L1", T + 600_000, { ts: T + 600_000, pv: {}, battery: { soc: 76 }, load: { on: false }, faults: [] }],
    // does not fit the columns: load.on a number, a field the columns do not have, a null
    ["streetlight_telemetry", "L2", T, { ts: T, load: { on: 1, w: 3 }, extra: { n: 2 }, spare: null }],
    // a parent that is not an object (kept as it is, beside the columns); a field of the wrong type, an explicit null
    ["streetlight_telemetry", "L3", T, { ts: T, pv: "off", load: { on: false } }],
    ["streetlight_telemetry", "L4", T, { ts: T, battery: { soc: "78" }, load: { on: null } }],
    // a key of a typed field elsewhere, holding text (a payload's text keeps it whole)
    ["streetlight_telemetry", "L5", T, { ts: T, pv: { w: 5 }, fw: { v: "1.2" }, faults: [] }],
    ["blender_telemetry", "M1", T, { ts: T, hopperKg: { urea: 1200.5, kcl: 0 }, running: true }],
  ];
  const kinds = async (path: string) => {
    const db = await openDb(join(path, "telemetry.duckdb"), []);
    try {
      return await db.all<{ device_id: string; typed: boolean }>("SELECT device_id, typed FROM readings ORDER BY device_id, ts");
    } finally {
      await db.close();
    }
  };

  it("keeps a streetlight reading in its columns and gives back the payload it was sent with; others keep their text", async () => {
    const path = dir();
    const store = await createDuckDbTelemetryStore(path);
    let seq = 0;
    await store.write(
      payloads.map(([measurement, deviceId, ts, payload]) => ({ seq: ++seq, measurement, deviceId, ts, receivedAt: ts + 9, tags: {}, payload })),
      seq,
    );
    for (const [measurement, deviceId, ts, payload] of payloads) {
      const rows = await store.raw({ deviceId, measurement, from: ts, to: ts + 1, limit: 1 });
      expect(rows).toEqual([{ ts, receivedAt: ts + 9, measurement, payload }]);
    }
    expect((await store.latest("L1", "streetlight_telemetry"))?.payload).toEqual(payloads[2]?.[3]);
    await store.close();
    expect(await kinds(path)).toEqual([
      { device_id: "L1", typed: true },
      { device_id: "L1", typed: true },
      { device_id: "L1", typed: true },
      { device_id: "L2", typed: false },
      { device_id: "L3", typed: true },
      { device_id: "L4", typed: false },
      { device_id: "L5", typed: false },
      { device_id: "M1", typed: false },
    ]);
  });

  it("converts a store written before version 5 (readings as JSON text, rollups by bucket then field): nothing is lost", async () => {
    const path = dir();
    const old = await openDb(
      join(path, "telemetry.duckdb"),
      TELEMETRY_MIGRATIONS.filter((m) => m.version <= 4),
    );
    for (const [i, [measurement, deviceId, ts, payload]] of payloads.entries())
      await old.run("INSERT INTO messages VALUES (?, ?, ?::TIMESTAMP_MS, ?::TIMESTAMP_MS, ?, '来苏镇', NULL, NULL, ?)", [
        measurement,
        deviceId,
        new Date(ts).toISOString(),
        new Date(ts + 9).toISOString(),
        i + 1,
        JSON.stringify(payload),
      ]);
    // rollups of readings folded long ago, of a field the new rollups leave out too (pv.v): kept
    const day = chinaDayStart(T - 100 * 86_400_000);
    for (const [table, bucket] of [
      ["rollup_hourly", day + 3_600_000],
      ["rollup_daily", day],
    ] as const)
      for (const [field, v] of [
        ["pv.v", 17],
        ["battery.soc", 50],
      ] as const)
        await old.run(`INSERT INTO ${table} VALUES ('streetlight_telemetry', 'L1', ?::TIMESTAMP_MS, ?, ?, ?, ?, ?, ?::TIMESTAMP_MS, 2)`, [
          new Date(bucket).toISOString(),
          field,
          v - 1,
          2 * v,
          v + 1,
          v,
          new Date(bucket + 60_000).toISOString(),
        ]);
    await old.run("INSERT INTO meta VALUES ('seq', '5')");
    await old.close();

    const store = await createDuckDbTelemetryStore(path);
    expect(await store.checkpoint()).toBe(5);
    expect(await store.count({})).toBe(payloads.length);
    for (const [measurement, deviceId, ts, payload] of payloads)
      expect(await store.raw({ deviceId, measurement, from: ts, to: ts + 1, limit: 1 })).toEqual([{ ts, receivedAt: ts + 9, measurement, payload }]);
    const soc = await store.aggregate({
      deviceId: "L1",
      measurement: "streetlight_telemetry",
      from: T,
      to: T + 3600_000,
      every: "hour",
      fields: ["battery.soc"],
    });
    expect(soc.map((a) => [a.min, a.max, a.last, a.count])).toEqual([[76, 78, 76, 3]]);
    const blender = await store.aggregate({ deviceId: "M1", measurement: "blender_telemetry", from: T, to: T + 1, every: "minute" });
    expect(blender.map((a) => [a.field, a.last])).toEqual([
      ["hopperKg.kcl", 0],
      ["hopperKg.urea", 1200.5],
      ["running", 1],
    ]);
    for (const every of ["hour", "day"] as const) {
      const rolled = await store.aggregate({ deviceId: "L1", measurement: "streetlight_telemetry", from: day, to: day + 86_400_000, every });
      expect(rolled.map((a) => [a.field, a.min, a.avg, a.max, a.last, a.count])).toEqual([
        ["battery.soc", 49, 50, 51, 50, 2],
        ["pv.v", 16, 17, 18, 17, 2],
      ]);
    }
    // a duplicate of a converted reading is still found
    await store.write([{ seq: 6, measurement: "streetlight_telemetry", deviceId: "L1", ts: T, receivedAt: T, tags: {}, payload: full(T, 1) }], 6);
    expect(await store.count({ deviceId: "L1" })).toBe(3);
    await store.close();
    expect((await kinds(path)).map((k) => k.typed)).toEqual([true, true, true, false, true, false, false, false]);
  });

  it("rolls up a streetlight's charted fields (HOURLY_FIELDS, DAILY_FIELDS) and every field of other measurements", async () => {
    const NOW = Date.now();
    const store = await createDuckDbTelemetryStore(dir(), { retention: { rawMs: 10 * 86_400_000, hourlyMs: 30 * 86_400_000, dailyMs: null } });
    const old = chinaDayStart(NOW - 15 * 86_400_000) + 5 * 3_600_000;
    let seq = 0;
    await store.write(
      [
        { seq: ++seq, measurement: "streetlight_telemetry", deviceId: "L1", ts: old, receivedAt: old, tags: {}, payload: full(old, 60) },
        // (not typed: its fields come from the text, and only the charted ones are kept as well)
        {
          seq: ++seq,
          measurement: "streetlight_telemetry",
          deviceId: "L2",
          ts: old,
          receivedAt: old,
          tags: {},
          payload: { ts: old, pv: { v: 1, w: 2 }, x: 1 },
        },
        {
          seq: ++seq,
          measurement: "blender_telemetry",
          deviceId: "M1",
          ts: old,
          receivedAt: old,
          tags: {},
          payload: { ts: old, hopperKg: { urea: 5 } },
        },
      ],
      seq,
    );
    expect(await store.applyRetention?.(NOW)).toMatchObject({ rolledUp: 3 });
    const fields = async (deviceId: string, measurement: string, every: "hour" | "day") =>
      (await store.aggregate({ deviceId, measurement, from: old - 86_400_000, to: old + 86_400_000, every })).map((a) => a.field);
    expect(await fields("L1", "streetlight_telemetry", "hour")).toEqual([...HOURLY_FIELDS].sort());
    expect(await fields("L1", "streetlight_telemetry", "day")).toEqual([...DAILY_FIELDS].sort());
    expect(await fields("L2", "streetlight_telemetry", "hour")).toEqual(["pv.w"]);
    for (const every of ["hour", "day"] as const) expect(await fields("M1", "blender_telemetry", every)).toEqual(["hopperKg.urea"]);
    // a town's lights at once: the same rows, from both forms of rollup
    const q = { measurement: "streetlight_telemetry", from: old - 86_400_000, to: old + 86_400_000 };
    for (const every of ["hour", "day"] as const) {
      const many = await store.aggregateMany({ ...q, every, deviceIds: ["L1", "L2"] });
      expect(many.get("L1")).toEqual(await store.aggregate({ ...q, every, deviceId: "L1" }));
      expect(many.get("L2")).toEqual(await store.aggregate({ ...q, every, deviceId: "L2" }));
      expect(many.get("L1")?.length).toBeGreaterThan(0);
    }
    await store.close();
  });
});

describe("time spans of a batch (what the duplicate check reads)", () => {
  it("one span for a live batch, one more for a reading days late, at most 16 merged where closest", async () => {
    const { timeSpans } = await import("../src/storage/telemetry-store.js");
    const now = 1_764_000_000_000;
    expect(timeSpans([now + 5, now, now + 2_000])).toEqual([[now, now + 2_000]]);
    const late = now - 13 * 86_400_000;
    expect(timeSpans([now, late, now + 1000, late + 300_000])).toEqual([
      [late, late + 300_000],
      [now, now + 1000],
    ]);
    // a buffered night every 5 minutes is one span (gaps under an hour)
    expect(timeSpans(Array.from({ length: 120 }, (_, i) => late + i * 300_000))).toHaveLength(1);
    // 40 readings a day apart: 16 spans that still hold every reading
    const days = Array.from({ length: 40 }, (_, i) => late + i * 86_400_000 + (i % 3) * 7_200_000);
    const spans = timeSpans(days);
    expect(spans).toHaveLength(16);
    for (const t of days) expect(spans.some(([a, b]) => a <= t && t <= b)).toBe(true);
  });
});

// Twice: readings with a few fields (their rollups a row per field: rollup_hourly, rollup_daily), and streetlight readings
// with every field (a row per light and bucket: rollup_hourly_lights, rollup_daily_lights).
describe.each([
  { shape: "a few fields", rowsPerBucket: 3 },
  { shape: "a streetlight's every field", rowsPerBucket: 1 },
])("embedded telemetry store retention (docs/DATA.md), readings with $shape", ({ rowsPerBucket }) => {
  const complete = rowsPerBucket === 1;
  const DAY = 86_400_000;
  const HOUR = 3_600_000;
  /** Now: 10:00 China time, so a China day ends well before and after it. */
  const NOW = Math.floor(Date.now() / DAY) * DAY + 2 * HOUR;
  const M = "streetlight_telemetry";
  let seq = 0;
  const reading = (deviceId: string, ts: number, soc: number, on: boolean) => lightReading(++seq, deviceId, ts, soc, on, { complete });
  /** Three lights every 10 minutes over `days` days from `from`, values that vary by light and time. */
  const fleet = (from: number, days: number) =>
    Array.from({ length: days * 144 }, (_, k) =>
      ["L1", "L2", "L3"].map((id, d) => reading(id, from + k * 600_000 + d, 20 + ((k * 7 + d * 13) % 80), (k + d) % 3 === 0)),
    ).flat();
  /** Aggregates rounded to 9 digits (a sum folded in steps adds in another order). */
  const agg = async (store: TelemetryStore, deviceId: string, from: number, to: number, every: "hour" | "day") =>
    (await store.aggregate({ deviceId, measurement: M, from, to, every })).map((a) => ({ ...a, avg: Math.round(a.avg * 1e9) / 1e9 }));
  const opts = { retention: { rawMs: 10 * DAY, hourlyMs: 30 * DAY, dailyMs: null }, stepRows: 200 };

  it("folds readings past the raw retention into hourly and daily rollups, in steps: aggregates answer as before, raw is gone", async () => {
    const store = await createDuckDbTelemetryStore(dir(), opts);
    const start = NOW - 14 * DAY;
    const batch = fleet(start, 7); // 14 to 7 days ago: the first four days are past the 10 days of raw
    await store.write(batch, seq);
    const range = [start - DAY, NOW] as const;
    // (the rollups keep a streetlight's charted fields: what the aggregates answer before, of those)
    const kept = async (every: "hour" | "day") =>
      (await agg(store, "L2", ...range, every)).filter((a) => (every === "hour" ? HOURLY_FIELDS : DAILY_FIELDS).includes(a.field));
    const before = { hour: await kept("hour"), day: await kept("day") };
    expect(before.day.length).toBeGreaterThanOrEqual(7);
    const done = await store.applyRetention?.(NOW);
    const cutoff = chinaDayStart(NOW - 10 * DAY);
    const folded = batch.filter((r) => r.ts < cutoff).length;
    expect(done).toMatchObject({ rolledUp: folded, prunedHourly: 0, prunedDaily: 0 });
    expect(done?.steps).toBeGreaterThan(folded / 200); // a day's 432 readings in shares of ≤ 200
    expect(await store.count({})).toBe(batch.length - folded);
    expect(await store.raw({ deviceId: "L2", from: start, to: cutoff, limit: 10 })).toEqual([]);
    expect(await kept("hour")).toEqual(before.hour);
    expect(await kept("day")).toEqual(before.day);
    // a second run finds nothing to do
    expect(await store.applyRetention?.(NOW)).toMatchObject({ rolledUp: 0, steps: 0 });
    expect(await kept("day")).toEqual(before.day);
    await store.close();
  });

  it("folds a late reading of a day already folded into that day's rollups; the aggregate counts it before and after", async () => {
    const store = await createDuckDbTelemetryStore(dir(), opts);
    const day = chinaDayStart(NOW - 12 * DAY);
    await store.write(
      [reading("L1", day + 5 * HOUR, 50, true), reading("L1", day + 5 * HOUR + 600_000, 40, false), reading("L1", day + 9 * HOUR, 90, true)],
      seq,
    );
    await store.applyRetention?.(NOW);
    const q = [day, day + DAY] as const;
    const soc = async (every: "hour" | "day") => (await agg(store, "L1", ...q, every)).filter((a) => a.field === "battery.soc");
    expect(await soc("day")).toEqual([{ ts: day, field: "battery.soc", min: 40, avg: 60, max: 90, last: 90, count: 3 }]);
    // late, within the 5 o'clock hour, and the newest of the day's readings in another hour
    await store.write([reading("L1", day + 5 * HOUR + 1_200_000, 10, false), reading("L1", day + 11 * HOUR, 30, false)], seq);
    const want = {
      hour5: { ts: day + 5 * HOUR, field: "battery.soc", min: 10, avg: 100 / 3, max: 50, last: 10, count: 3 },
      day: { ts: day, field: "battery.soc", min: 10, avg: 44, max: 90, last: 30, count: 5 },
    };
    const check = async () => {
      const hours = await soc("hour");
      expect({ ...hours[0], avg: Math.round((hours[0]?.avg ?? 0) * 1e6) }).toEqual({ ...want.hour5, avg: Math.round(want.hour5.avg * 1e6) });
      expect(hours.map((h) => h.ts)).toEqual([day + 5 * HOUR, day + 9 * HOUR, day + 11 * HOUR]);
      expect(await soc("day")).toEqual([want.day]);
    };
    await check(); // the late readings from raw, with the rollups
    expect(await store.applyRetention?.(NOW)).toMatchObject({ rolledUp: 2 });
    expect(await store.count({})).toBe(0);
    await check(); // all from the rollups, merged
    await store.close();
  });

  it("deletes hourly rollups past theirs and dashboard points past the raw retention; keeps daily rollups (forever by default)", async () => {
    const path = dir();
    const store = await createDuckDbTelemetryStore(path, opts);
    const old = chinaDayStart(NOW - 40 * DAY) + 3 * HOUR;
    await store.write([reading("L1", old, 70, true), reading("L1", NOW - HOUR, 60, true)], seq);
    await store.writeDashboardPoints([
      { measurement: "streetlight_night", ts: old, tags: { device: "L1" }, fields: { lit: 1 } },
      { measurement: "streetlight_night", ts: NOW - HOUR, tags: { device: "L1" }, fields: { lit: 1 } },
    ]);
    const done = await store.applyRetention?.(NOW);
    expect(done).toMatchObject({ rolledUp: 1, prunedDerived: 1, prunedDaily: 0 });
    expect(done?.prunedHourly).toBe(rowsPerBucket); // the old reading's hour: battery.soc, battery.v, load.on, or the light's row
    expect(await agg(store, "L1", old - DAY, old + DAY, "hour")).toEqual([]);
    const kept = (await agg(store, "L1", old - DAY, old + DAY, "day")).filter((a) => ["battery.soc", "battery.v", "load.on"].includes(a.field));
    expect(kept.map((a) => [a.field, a.last])).toEqual([
      ["battery.soc", 70],
      ["battery.v", 12],
      ["load.on", 1],
    ]);
    expect(await store.count({})).toBe(1);
    await store.close();
    // a daily retention, when one is set
    const shorter = await createDuckDbTelemetryStore(path, { retention: { ...opts.retention, dailyMs: 20 * DAY } });
    expect(await shorter.applyRetention?.(NOW)).toMatchObject({ prunedDaily: rowsPerBucket });
    expect(await agg(shorter, "L1", old - DAY, old + DAY, "day")).toEqual([]);
    await shorter.close();
  });

  it("stops a run between steps when the service stops (nothing half done); the next run finishes", async () => {
    const store = await createDuckDbTelemetryStore(dir(), opts);
    const old = fleet(chinaDayStart(NOW - 20 * DAY), 2);
    await store.write(old, seq);
    const stop = new AbortController();
    const run = store.applyRetention?.(NOW, stop.signal);
    stop.abort();
    expect(await run).toMatchObject({ rolledUp: 0, steps: 0 });
    expect(await store.count({})).toBe(old.length);
    expect(await store.applyRetention?.(NOW)).toMatchObject({ rolledUp: old.length });
    expect(await store.count({})).toBe(0);
    await store.close();
  });

  it("goes on storing batches while a retention run is under way, and runs once at a time", async () => {
    const store = await createDuckDbTelemetryStore(dir(), opts);
    const old = fleet(chinaDayStart(NOW - 20 * DAY), 3);
    await store.write(old, seq);
    const run = store.applyRetention?.(NOW);
    const again = store.applyRetention?.(NOW);
    const live = [reading("L1", NOW - 1000, 55, true), reading("L2", NOW - 900, 56, true)];
    await store.write(live, seq);
    const [a, b] = await Promise.all([run, again]);
    expect(a).toBe(b);
    expect(a?.rolledUp).toBe(old.length);
    expect(await store.count({})).toBe(2);
    expect(await store.checkpoint()).toBe(seq);
    await store.close();
  });
});

// Live rollups (schema version 7, docs/DATA.md): closed hours rolled up while raw still holds them. Each aggregate is
// held to the same one from a store that never rolls up (raw only): a reading counted twice or missed changes a count.
describe.each([
  { shape: "a few fields", complete: false },
  { shape: "a streetlight's every field", complete: true },
])("embedded telemetry store: live rollups, readings with $shape", ({ complete }) => {
  const DAY = 86_400_000;
  const HOUR = 3_600_000;
  /** Now: 37 minutes into an hour, so that the open hour holds readings. */
  const NOW = Math.floor(Date.now() / HOUR) * HOUR + 37 * 60_000;
  const M = "streetlight_telemetry";
  let seq = 0;
  const reading = (deviceId: string, ts: number, soc: number, on: boolean) => lightReading(++seq, deviceId, ts, soc, on, { complete, varied: true });
  const blender = (ts: number, kg: number): StoredReading => ({
    seq: ++seq,
    measurement: "blender_telemetry",
    deviceId: "B1",
    ts,
    receivedAt: ts,
    tags: {},
    payload: { ts, hopperKg: { urea: kg, kcl: kg / 2 }, running: kg > 500 },
  });
  const withLux = (r: StoredReading): StoredReading => ({ ...r, payload: { ...r.payload, lux: 3 } });
  const start = chinaDayStart(NOW - 3 * DAY);
  /** Three lights every 10 minutes and a blender every 30, from three China days ago up to now. */
  const fleet = () => {
    const out: StoredReading[] = [];
    for (let ts = start; ts < NOW - 60_000; ts += 600_000) {
      const k = (ts - start) / 600_000;
      ["L1", "L2", "L3"].forEach((id, d) => {
        out.push(reading(id, ts + d * 1000, 20 + ((k * 7 + d * 13) % 80), (k + d) % 3 === 0));
      });
      if (k % 3 === 0) out.push(blender(ts + 5000, 100 + ((k * 37) % 1000)));
    }
    return out;
  };
  /** Both stores' answers, rounded to 9 digits (sums added in another order). */
  const round = (rows: Map<string, { avg: number }[]>) =>
    [...rows.entries()].map(([id, list]) => [id, list.map((a) => ({ ...a, avg: Math.round(a.avg * 1e9) / 1e9 }))]);
  const ranges = () => [
    [start, NOW + HOUR], // everything: rolled-up days, the watermark's day, the open hour
    [start + 5 * HOUR, NOW - 2 * HOUR], // from an hour's start into a rolled-up hour
    [start + 5 * HOUR + 17 * 60_000, NOW - 26 * HOUR - 60_000], // both ends inside rolled-up hours (and days)
    [chinaDayStart(NOW), NOW + HOUR], // today: its rolled-up hours and the open one
  ];
  const same = async (
    rolled: TelemetryStore,
    raw: TelemetryStore,
    fields: (every: "hour" | "day") => string[] | undefined = () => undefined,
    everies: readonly ("minute" | "hour" | "day")[] = ["hour", "day"],
    which = ranges(),
  ) => {
    let compared = 0;
    for (const every of everies)
      for (const [from, to] of which) {
        for (const [measurement, deviceIds] of [
          [M, ["L1", "L2", "L3"]],
          ["blender_telemetry", ["B1"]],
        ] as const) {
          const f = every === "minute" ? undefined : fields(every);
          // every field (a row per field), and when none is named, a streetlight's typed fields too (the wide query)
          for (const list of f ? [f] : measurement === M ? [undefined, [...STREETLIGHT_FIELDS]] : [undefined]) {
            const q = { measurement, deviceIds: [...deviceIds], from: from as number, to: to as number, every, ...(list ? { fields: list } : {}) };
            const want = round(await raw.aggregateMany(q));
            const what = `${measurement} ${every} ${new Date(from as number).toISOString()} ${list ? list.length : "all"} fields`;
            expect(round(await rolled.aggregateMany(q)), what).toEqual(want);
            if (list?.length && measurement === M) {
              // typed fields only are read a row per light and bucket (the wide query); with a field that is not typed
              // the same query goes a row per field: both answer the same of the typed ones
              const perField = await rolled.aggregateMany({ ...q, fields: [...list, "lux"] });
              for (const rows of perField.values()) rows.splice(0, rows.length, ...rows.filter((a) => a.field !== "lux"));
              expect(round(perField), `${what}, a row per field`).toEqual(want);
            }
            compared += want.reduce((n, [, rows]) => n + (rows as unknown[]).length, 0);
          }
        }
      }
    expect(compared).toBeGreaterThan(0);
  };
  const opts = { retention: { rawMs: 2 * DAY, hourlyMs: 30 * DAY, dailyMs: null }, stepRows: 120 };

  it("answers from the rollups what raw answers: rolled-up hours and days, the open hour, late readings, a restart, retention", async () => {
    const path = dir();
    let rolled = await createDuckDbTelemetryStore(path, opts);
    const raw = await createDuckDbTelemetryStore(dir()); // never rolls up: the reference
    const all = fleet();
    // in batches, as the store writer sends them
    for (let i = 0; i < all.length; i += 500) {
      const batch = all.slice(i, i + 500);
      await rolled.write(batch, batch.at(-1)?.seq ?? 0);
      await raw.write(batch, batch.at(-1)?.seq ?? 0);
    }
    const first = await rolled.rollUp?.(NOW);
    // every hour that ended 10 minutes before now, from the first reading's on, in steps of whole hours
    expect(first?.hours).toBe((Math.floor((NOW - 600_000) / HOUR) * HOUR - start) / HOUR);
    expect(first?.steps).toBeGreaterThan(10); // ≤ 120 readings a step (6 hours of these), whole hours
    expect(await rolled.rollUp?.(NOW)).toEqual({ hours: 0, late: 0, steps: 0 });
    expect(await rolled.count({})).toBe(all.length); // raw still holds them
    await same(rolled, raw);
    await same(rolled, raw, (every) => (every === "hour" ? ["battery.soc", "pv.v"] : ["battery.soc", "energyToday.pvWh", "gps.lat"]), [
      "minute",
      "hour",
      "day",
    ]);

    // late readings into rolled-up hours (a new minimum, and the newest of its hour), one sent again (a duplicate of a
    // stored reading: counted once), and one in the open hour
    const lateHour = Math.floor((NOW - 5 * HOUR) / HOUR) * HOUR;
    const late = [
      reading("L2", lateHour + 59 * 60_000, 1, true),
      // (with a field the typed columns do not hold: its whole payload kept as text)
      withLux(reading("L1", start + 26 * HOUR + 123, 99, false)),
      { ...(all.find((r) => r.deviceId === "L3" && r.ts >= lateHour) as StoredReading), seq: ++seq },
      reading("L1", NOW - 2 * 60_000, 3, true),
      blender(lateHour + 1234, 5),
    ];
    await rolled.write(late, seq);
    await raw.write(late, seq);
    await same(rolled, raw); // before the next run: from rollup_late

    // a restart (the write-ahead log's refill sends the batch again: nothing new), then the next run adds them
    await rolled.close();
    rolled = await createDuckDbTelemetryStore(path, opts);
    await rolled.write(late, seq);
    await same(rolled, raw);
    expect(await rolled.rollUp?.(NOW)).toMatchObject({ hours: 0, late: 3 }); // (not the duplicate, not the open hour's)
    expect(await rolled.rollUp?.(NOW)).toEqual({ hours: 0, late: 0, steps: 0 });
    await same(rolled, raw);
    await rolled.write(late, seq); // once more, after they were added: still once
    await same(rolled, raw);

    // two hours on: the open hour is rolled up too
    expect((await rolled.rollUp?.(NOW + 2 * HOUR))?.hours).toBe(2);
    await same(rolled, raw);

    // retention: the days past 2 days of raw are deleted from raw (not folded again); the fields the rollups keep answer
    // as raw did
    const done = await rolled.applyRetention?.(NOW + 2 * HOUR);
    const cutoff = chinaDayStart(NOW + 2 * HOUR - 2 * DAY);
    const pruned = [...all, ...late.slice(0, 2), late[4] as StoredReading].filter((r) => r.ts < cutoff).length;
    expect(done).toMatchObject({ rolledUp: pruned });
    expect(await rolled.count({})).toBe(all.length + 4 - pruned); // (the late ones and the open hour's)
    const keptFields = (every: "hour" | "day") => [...(every === "hour" ? HOURLY_FIELDS : DAILY_FIELDS)];
    // (an end of a range inside a bucket raw no longer holds takes that bucket whole, as before: whole buckets only)
    const compare = () => same(rolled, raw, keptFields, ["hour", "day"], [ranges()[0] as number[], ranges()[3] as number[]]);
    await compare();
    // and the blender (every field kept)
    const blenderRanges = { measurement: "blender_telemetry", deviceIds: ["B1"], from: start, to: NOW + HOUR };
    for (const every of ["hour", "day"] as const)
      expect(round(await rolled.aggregateMany({ ...blenderRanges, every }))).toEqual(round(await raw.aggregateMany({ ...blenderRanges, every })));

    // a late reading of a day pruned from raw: counted at once, added by the next run, deleted by the next retention
    const older = [reading("L3", start + 3 * HOUR + 777, 2, false)];
    await rolled.write(older, seq);
    await raw.write(older, seq);
    await compare();
    await rolled.close();
    rolled = await createDuckDbTelemetryStore(path, opts);
    expect(await rolled.applyRetention?.(NOW + 2 * HOUR)).toMatchObject({ rolledUp: 1 });
    await compare();
    expect(await rolled.applyRetention?.(NOW + 2 * HOUR)).toMatchObject({ rolledUp: 0, steps: 0 });
    await compare();
    await rolled.close();
    await raw.close();
  }, 300_000); // (a few hundred aggregates compared: slow on a loaded machine)

  it("takes the readings a store held before schema version 7 as not rolled up: none lost, none counted twice", async () => {
    const path = dir();
    const store6 = await createDuckDbTelemetryStore(path, opts);
    const raw = await createDuckDbTelemetryStore(dir());
    const all = fleet();
    await store6.write(all, seq);
    await raw.write(all, seq);
    await store6.close();
    // as a store of schema version 6 holds them: readings, no watermark, no rollup_late
    const db = await openDb(join(path, "telemetry.duckdb"), []);
    await db.run("DELETE FROM schema_migrations WHERE version = 7; DROP TABLE rollup_late; DELETE FROM meta WHERE key IN ('rolled_to', 'raw_from')");
    await db.close();
    const store = await createDuckDbTelemetryStore(path, opts);
    expect((await store.rollUp?.(NOW))?.hours).toBe((Math.floor((NOW - 600_000) / HOUR) * HOUR - start) / HOUR);
    await same(store, raw);
    await store.close();
    await raw.close();
  }, 300_000);
});
