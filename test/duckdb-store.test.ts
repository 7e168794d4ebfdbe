import { describe, expect, it } from "vitest";
import { openDb } from "../src/store/duckdb.js";
import { createDuckDbTelemetryStore } from "../src/store/duckdb-telemetry.js";
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
