import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openDb } from "../src/store/duckdb.js";
import { createDuckDbTelemetryStore, TELEMETRY_MIGRATIONS } from "../src/store/duckdb-telemetry.js";
import { tempDir } from "./helpers.js";
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

describe("embedded telemetry store schema upgrades", () => {
  it("opens a database from before schema version 3 (points stored per field): readings and aggregates stay", async () => {
    const dir = tempDir();
    try {
      const old = await openDb(join(dir.path, "telemetry.duckdb"), TELEMETRY_MIGRATIONS.slice(0, 2));
      const ts = Date.now() - 3600_000;
      await old.run(
        `INSERT INTO messages VALUES ('streetlight_telemetry', 'L1', ?::TIMESTAMP_MS, ?::TIMESTAMP_MS, 7, '来苏镇', NULL, NULL, '{"ts":${ts},"pv":{"w":12.5},"load":{"on":true}}')`,
        [new Date(ts).toISOString(), new Date(ts).toISOString()],
      );
      await old.run("INSERT INTO points VALUES ('streetlight_telemetry', 'L1', ?::TIMESTAMP_MS, 7, 'pv.w', 12.5)", [new Date(ts).toISOString()]);
      await old.close();
      const store = await createDuckDbTelemetryStore(dir.path);
      const agg = await store.aggregate({ deviceId: "L1", measurement: "streetlight_telemetry", from: ts - 1, to: ts + 1, every: "hour" });
      expect(agg.map((a) => [a.field, a.last])).toEqual([
        ["load.on", 1],
        ["pv.w", 12.5],
      ]);
      expect(await store.count({ deviceId: "L1" })).toBe(1);
      await store.close();
    } finally {
      dir.remove();
    }
  });
});
