import { appendFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../platform/config.js";
import type { Logger } from "../platform/log.js";
import type { Metrics } from "../platform/metrics.js";
import type { WorkerPool } from "../platform/workers.js";
import type { Registry } from "../registry/registry.js";
import { createPipeline } from "./pipeline.js";
import type { Presence } from "./presence.js";
import { createStoreWriter, type SetAside, type Sink } from "./store-writer.js";
import { openWal } from "./wal.js";
import { createLogReader } from "./wal-reader.js";

/**
 * Durable ingest, assembled: the write-ahead log (opened past every sink's checkpoint), the store writer that feeds
 * the sinks from it, and the pipeline that accepts into it. `sinks` is called with the log's own lines for batches it
 * still holds in memory, for a store that writes those bytes instead of re-encoding records (none does today: the log
 * keeps them only for a sink that says it reads them, `readsLogLines`).
 */
export async function openDurableIngest(deps: {
  config: Pick<Config, "dataDir" | "store" | "ingest">;
  sinks: (logLines: (from: number, to: number) => Uint8Array | null) => Sink[];
  registry: Registry;
  presence: Presence;
  metrics: Metrics;
  workers: WorkerPool;
  log: Logger;
  clock: () => number;
}) {
  const { config, metrics, log } = deps;
  let walLines: ((from: number, to: number) => Uint8Array | null) | undefined;
  const sinks = deps.sinks((from, to) => walLines?.(from, to) ?? null);
  // (a store that does not answer yet counts as 0 here: the log's own files still set the sequence)
  const floorSeq = Math.max(...(await Promise.all(sinks.map((s) => s.checkpoint().catch(() => 0)))));
  const wal = await openWal(join(config.dataDir, "wal"), {
    floorSeq,
    keepLines: sinks.some((s) => s.readsLogLines === true),
    onTornRecord: (_file, where) => log.warn(where, "skipped a torn record at the end of a write-ahead log segment (it was never acknowledged)"),
    onCorruptRecord: (where) => {
      metrics.walCorruptRecords.inc();
      log.error(
        where,
        "the write-ahead log holds a corrupt record (damaged disk or file): skipped, the records after it replayed; it may have been acknowledged and is then lost",
      );
    },
    onCallbackError: (err) => log.error({ err }, "handling a recorded message failed after it was made durable"),
  });
  walLines = wal.lines;
  const writer = createStoreWriter({
    wal,
    readBack: createLogReader(deps.workers, join(config.dataDir, "wal")),
    sinks,
    batchSize: config.store.batchSize,
    flushMs: config.store.flushMs,
    log,
    metrics: {
      written: (measurement, n) => metrics.storeWritten.inc({ measurement }, n),
      writeSeconds: (s) => metrics.storeWriteSeconds.observe(s),
      writeError: () => metrics.storeWriteErrors.inc(),
      queueDepth: (n) => metrics.storeQueueDepth.set(n),
    },
    setAside: setAsideFile(join(config.dataDir, "set-aside"), deps),
  });
  const pipeline = createPipeline({
    registry: deps.registry,
    wal,
    writer,
    presence: deps.presence,
    metrics,
    maxPayloadBytes: config.ingest.maxPayloadBytes,
    spoolMaxBytes: config.store.spoolMaxBytes,
    rejectLimitPerMinute: config.ingest.rejectLimitPerMinute,
    log: deps.log,
  });
  return { wal, writer, pipeline };
}

/** A record a store refused for good is kept as a line of `<dir>/<sink>.jsonl` for inspection, and counted. */
function setAsideFile(dir: string, deps: { metrics: Metrics; log: Logger; clock: () => number }) {
  return ({ sink, record, error }: SetAside) => {
    deps.metrics.storeSetAside.inc({ sink });
    try {
      mkdirSync(dir, { recursive: true });
      const line = {
        sink,
        seq: record.seq,
        at: new Date(deps.clock()).toISOString(),
        error: error instanceof Error ? error.message : String(error),
        record,
      };
      appendFileSync(join(dir, `${sink}.jsonl`), `${JSON.stringify(line)}\n`);
    } catch (e: unknown) {
      deps.log.error({ err: e, sink, seq: record.seq }, "could not keep a set-aside record (it stays in the write-ahead log until released)");
    }
  };
}
