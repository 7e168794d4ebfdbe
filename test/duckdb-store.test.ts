import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../harness/helpers.js";
import { openWal } from "../src/ingest/wal.js";
import { openDb } from "../src/storage/duckdb.js";
import { createDuckDbTelemetryStore, TELEMETRY_MIGRATIONS } from "../src/storage/duckdb-telemetry.js";
import { tempDirPerTest } from "./dirs.js";
import { telemetryStoreContract } from "./store-contract.js";

telemetryStoreContract("embedded (DuckDB)", async () => {
  const dir = tempDir();
  return { open: () => createDuckDbTelemetryStore(dir.path), cleanup: dir.remove };
});

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

describe("embedded telemetry store: a batch from the write-ahead log's lines", () => {
  it("stores from the log's lines exactly what it stores from the records, ignoring other records and other seqs", async () => {
    const wal = await openWal(dir());
    const ts = Date.now() - 3600_000;
    const reading = (i: number) => ({
      kind: "reading" as const,
      reading: {
        measurement: "streetlight_telemetry",
        deviceId: `L${i % 3}`,
        ts: ts + i * 1000,
        receivedAt: ts + i * 1000 + 5,
        tags: { town: "来苏镇", village: i % 2 ? "梳妆台村" : undefined },
        // (reading 2 goes into the log as the device's own bytes, UTF-8 past ASCII included)
        payload: { ts: ts + i * 1000, pv: { w: i }, load: { on: i % 2 === 0 }, faults: [], ...(i === 2 ? { note: "灯亮了 😀" } : {}) },
      },
    });
    const records = await Promise.all([
      wal.append(reading(1)),
      wal.append({
        kind: "reject",
        reject: {
          deviceId: "L1",
          clientId: "L1",
          topic: "t",
          reason: "bad_json",
          detail: "x",
          payload: "{",
          payloadEncoding: "utf8",
          payloadBytes: 1,
          receivedAt: ts,
        },
      }),
      wal.append(reading(2), Buffer.from(JSON.stringify(reading(2).reading.payload))),
      // (a device's own bytes may hold a carriage return or tabs between tokens: JSON whitespace, not a line break)
      wal.append(reading(3), Buffer.from(JSON.stringify(reading(3).reading.payload).replaceAll(",", ",\r\t"))),
      wal.append(reading(4)),
    ]);
    const readings = records.flatMap((r) => (r.kind === "reading" ? [{ ...r.reading, seq: r.seq }] : []));
    const inRange = readings.filter((r) => r.seq <= 4); // seq 5 is outside the batch
    const viaRecords = await createDuckDbTelemetryStore(dir());
    const viaLines = await createDuckDbTelemetryStore(dir());
    await viaRecords.write(inRange, 4);
    const lines = wal.lines(1, 4);
    expect(lines).not.toBeNull();
    await viaLines.writeLines?.(lines ?? new Uint8Array(), { fromSeq: 1, toSeq: 4, spans: [[ts, ts + 3000]] }, 4);
    for (const id of ["L0", "L1", "L2"]) {
      const q = { deviceId: id, from: ts - 1, to: ts + 10_000, limit: 10 };
      expect(await viaLines.raw(q)).toEqual(await viaRecords.raw(q));
    }
    expect(await viaLines.count({})).toBe(3);
    expect(await viaLines.checkpoint()).toBe(4);
    const agg = { deviceId: "L1", measurement: "streetlight_telemetry", from: ts - 1, to: ts + 10_000, every: "hour" as const };
    expect(await viaLines.aggregate(agg)).toEqual(await viaRecords.aggregate(agg));
    await Promise.all([viaRecords.close(), viaLines.close(), wal.close()]);
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
