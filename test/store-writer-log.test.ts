import { mkdirSync, readdirSync, renameSync, rmdirSync } from "node:fs";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { waitUntil } from "../harness/helpers.js";
import { telemetrySink } from "../src/ingest/sinks.js";
import { createStoreWriter } from "../src/ingest/store-writer.js";
import { openWal, type WalEntry } from "../src/ingest/wal.js";
import { createDuckDbTelemetryStore } from "../src/storage/duckdb-telemetry.js";
import { tempDirPerTest } from "./dirs.js";

const entry = (i: number): WalEntry => ({
  kind: "reading",
  reading: { measurement: "streetlight_telemetry", deviceId: "SW-1", ts: 1_763_719_500_000 + i * 1000, receivedAt: 0, tags: {}, payload: { i } },
});

describe("store writer", () => {
  const dir = tempDirPerTest();
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);
  beforeEach(() => {
    unhandled.length = 0;
    process.on("unhandledRejection", onUnhandled);
  });
  afterEach(() => {
    process.off("unhandledRejection", onUnhandled);
  });

  it("a log it cannot read back is logged and read again, not an unhandled rejection; nothing is lost", async () => {
    const path = dir();
    const wal = await openWal(join(path, "wal"));
    const store = await createDuckDbTelemetryStore(path);
    const logged: { msg: string; err?: { code?: string } }[] = [];
    const log = pino({ level: "warn" }, { write: (line: string) => void logged.push(JSON.parse(line)) });
    const writer = createStoreWriter({
      wal,
      sinks: [telemetrySink(store)],
      batchSize: 2,
      flushMs: 5,
      maxQueue: 4,
      log,
      metrics: { written: () => undefined, writeSeconds: () => undefined, writeError: () => undefined, queueDepth: () => undefined },
      setAside: (x) => {
        throw new Error(`nothing should be set aside here (seq ${x.record.seq})`);
      },
    });
    try {
      await writer.start();
      const records = await Promise.all(Array.from({ length: 20 }, (_, i) => wal.append(entry(i))));
      // the store falls behind: four records wait in memory, the other sixteen are read back from the log
      for (const r of records) writer.push(r);
      // …whose segment cannot be read when the writer gets to them (a directory where the file was)
      const segment = join(path, "wal", readdirSync(join(path, "wal"))[0] ?? "");
      renameSync(segment, `${segment}.aside`);
      mkdirSync(segment);
      await waitUntil(() => logged.some((l) => l.err?.code === "EISDIR"), "the failed read logged");
      expect(logged.find((l) => l.err?.code === "EISDIR")?.msg).toMatch(/will retry/);
      expect(writer.checkpoints()).toEqual({ telemetry: 4 });

      rmdirSync(segment);
      renameSync(`${segment}.aside`, segment);
      await waitUntil(() => writer.checkpoints().telemetry === 20, "everything stored once the log reads again", 20_000);
      expect(await store.count({ deviceId: "SW-1", measurement: "streetlight_telemetry" })).toBe(20);
      expect(unhandled).toEqual([]);
    } finally {
      await wal.close();
      await writer.stop();
      await store.close();
    }
  });
});
