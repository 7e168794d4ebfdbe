import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectDevice, publish, reading, registerLight, startTestApp, type TestApp, waitUntil } from "../harness/helpers.js";
import { createStoreWriter, type SetAside, type Sink } from "../src/ingest/store-writer.js";
import { openWal, type WalEntry, type WalRecord } from "../src/ingest/wal.js";
import { createLogger } from "../src/platform/log.js";
import { tempDirPerTest } from "./dirs.js";

/**
 * Issue 16: a store batch that fails for one record is split, the good records land, the bad one is set aside and
 * counted, never retried forever. (A log written before the V1 fix can hold such a record: the upgrade must not stall.)
 */
describe("store writer: one bad record does not stop the others", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.stop());

  it("sets a record the store refuses aside, stores the rest, and stays ready", async () => {
    const dev = await registerLight(t, "POISON-1");
    const now = Date.now();
    // as an older version could have logged it: a time no store can hold (past JavaScript's and DuckDB's last date).
    // (It was a lone surrogate in the payload, which DuckDB refused when it parsed the log's lines; the store now
    // stores the payload as JSON.stringify escapes it.)
    const poison = await t.app.wal.append({
      kind: "reading",
      reading: {
        measurement: "streetlight_status",
        deviceId: dev.id,
        ts: 9e18,
        receivedAt: now,
        tags: {},
        payload: { online: true },
      },
    });
    t.app.writer.push(poison);
    const c = await connectDevice(t, dev);
    for (let i = 0; i < 5; i++) await publish(c, `streetlight/${dev.id}/telemetry`, JSON.stringify(reading(now - 9000 + i * 1000)));
    c.end();
    await waitUntil(
      async () => (await t.app.telemetry.count({ deviceId: dev.id, measurement: "streetlight_telemetry" })) === 5,
      "the good readings stored",
      30_000,
    );
    await t.app.writer.waitFor(t.app.wal.lastSeq());
    const file = join(t.app.config.dataDir, "set-aside", "telemetry.jsonl");
    expect(existsSync(file)).toBe(true);
    const kept = readFileSync(file, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { seq: number; error: string });
    expect(kept.map((k) => k.seq)).toEqual([poison.seq]);
    expect(kept[0]?.error).toBeTruthy();
    const metrics = await (await t.api("/metrics")).text();
    expect(metrics).toMatch(/agrilume_store_set_aside_total\{sink="telemetry"\} 1/);
    expect((await t.api("/ready")).status).toBe(200);
  });
});

describe("store writer: what is a bad record and what is a store that takes nothing", () => {
  const dir = tempDirPerTest();
  const entry = (i: number): WalEntry => ({
    kind: "reading",
    reading: {
      measurement: "streetlight_telemetry",
      deviceId: `D${i}`,
      ts: 1_700_000_000_000 + i,
      receivedAt: 1_700_000_000_000 + i,
      tags: {},
      payload: { i },
    },
  });
  const quiet = createLogger("silent");
  const noMetrics = { written: () => undefined, writeSeconds: () => undefined, writeError: () => undefined, queueDepth: () => undefined };

  /** A sink that keeps what it is given, refuses what `refuses` says, and answers its checkpoint while `up`. */
  const sink = (refuses: (r: WalRecord) => boolean) => {
    const kept: number[] = [];
    let checkpoint = 0;
    const s = {
      up: true,
      kept,
      sink: {
        name: "test",
        accepts: () => true,
        checkpoint: async () => {
          if (!s.up) throw new Error("down");
          return checkpoint;
        },
        write: async (records: WalRecord[], cp: number) => {
          if (!s.up) throw new Error("down");
          if (records.some(refuses)) throw new Error("refused");
          kept.push(...records.map((r) => r.seq));
          checkpoint = cp;
        },
      } satisfies Sink,
    };
    return s;
  };

  /** A real log in a temp dir and a writer over it into `target`; `now` is the writer's clock. */
  const setUp = async (target: ReturnType<typeof sink>, now: () => number = Date.now) => {
    const wal = await openWal(join(dir(), "wal"));
    const setAside: SetAside[] = [];
    const writer = createStoreWriter({
      wal,
      sinks: [target.sink],
      batchSize: 100,
      flushMs: 10,
      log: quiet,
      metrics: noMetrics,
      setAside: (x) => setAside.push(x),
      clock: now,
    });
    return { wal, writer, setAside };
  };

  it("a store that refuses everything while it answers stores nothing, sets nothing aside, and reports how long it has failed", async () => {
    const s = sink(() => true);
    let now = 1000;
    const { wal, writer, setAside } = await setUp(s, () => now);
    await writer.start();
    for (let i = 1; i <= 5; i++) writer.push(await wal.append(entry(i)));
    await waitUntil(() => writer.failingSince() !== null, "the first failure");
    now += 45_000;
    expect(writer.failingSince()).toBe(1000);
    expect(s.kept).toEqual([]);
    expect(setAside).toEqual([]);
    await writer.stop();
    await wal.close();
  });

  it("a lone record the store refuses while it answers is retried, then set aside once it has failed for a minute", async () => {
    const s = sink((r) => r.seq === 1);
    let now = 0;
    const { wal, writer, setAside } = await setUp(s, () => now);
    await writer.start();
    writer.push(await wal.append(entry(1)));
    await waitUntil(() => writer.failingSince() !== null, "the first failure");
    expect(setAside).toEqual([]); // not at its first failure
    now = 61_000; // the next retry (backoff in real time) finds it failing for a minute with the store answering
    await waitUntil(() => setAside.length === 1, "set aside");
    writer.push(await wal.append(entry(2)));
    await writer.waitFor(2);
    expect(setAside.map((x) => x.record.seq)).toEqual([1]);
    expect(s.kept).toEqual([2]);
    expect(writer.failingSince()).toBeNull();
    await writer.stop();
    await wal.close();
  });

  it("a store that is down sets nothing aside, and takes everything once it is back", async () => {
    const s = sink(() => false);
    const { wal, writer, setAside } = await setUp(s);
    s.up = true;
    await writer.start();
    s.up = false;
    for (let i = 1; i <= 5; i++) writer.push(await wal.append(entry(i)));
    await waitUntil(() => writer.failingSince() !== null, "failing");
    s.up = true;
    await writer.waitFor(5);
    expect(s.kept).toEqual([1, 2, 3, 4, 5]);
    expect(setAside).toEqual([]);
    await writer.stop();
    await wal.close();
  });
});
