import type { Logger } from "../log.js";
import type { RejectRecord, StateStore } from "../store/state-store.js";
import type { StoredReading, TelemetryStore } from "../store/telemetry-store.js";
import type { Wal, WalRecord } from "./wal.js";

export type StoreWriterMetrics = {
  written: (measurement: string, n: number) => void;
  writeSeconds: (s: number) => void;
  writeError: () => void;
  queueDepth: (n: number) => void;
};

/**
 * The one place batching to the stores lives: a bounded queue of durable records, flushed when
 * it holds `batchSize` records or after `flushMs`, retried with backoff on failure, flushed on stop.
 * When the queue is full, records are not dropped: they are already in the write-ahead log, and
 * the writer reads them back from there once it has caught up.
 */
export function createStoreWriter(deps: {
  wal: Wal;
  telemetry: TelemetryStore;
  state: StateStore;
  batchSize: number;
  flushMs: number;
  maxQueue?: number;
  log: Logger;
  metrics: StoreWriterMetrics;
}) {
  const { wal, telemetry, state, batchSize, flushMs, log, metrics } = deps;
  const maxQueue = deps.maxQueue ?? batchSize * 20;
  let queue: WalRecord[] = [];
  /** Records beyond what the queue held; to be re-read from the log. */
  let spilledFrom: number | null = null;
  let lastQueued = 0;
  let storedSeq = 0;
  let rejectsSeq = 0;
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> | null = null;
  let backoffMs = 0;
  let stopped = false;
  const waiters: { seq: number; resolve: () => void }[] = [];

  const schedule = (delay: number) => {
    if (timer || stopped) return;
    timer = setTimeout(() => {
      timer = null;
      void kick();
    }, delay);
  };

  const kick = (): Promise<void> => {
    if (!running) {
      running = drain().finally(() => {
        running = null;
        if (queue.length > 0 || spilledFrom !== null) schedule(backoffMs || flushMs);
      });
    }
    return running;
  };

  async function writeBatch(batch: WalRecord[]) {
    const readings: StoredReading[] = [];
    const rejects: RejectRecord[] = [];
    for (const r of batch) {
      if (r.kind === "reading" && r.seq > storedSeq) readings.push({ ...r.reading, seq: r.seq });
      else if (r.kind === "reject" && r.seq > rejectsSeq) rejects.push({ ...r.reject, seq: r.seq });
    }
    const last = batch.at(-1)?.seq ?? 0;
    const started = performance.now();
    if (rejects.length > 0 || last > rejectsSeq) {
      await state.writeRejects(rejects, Math.max(last, rejectsSeq));
      rejectsSeq = Math.max(last, rejectsSeq);
    }
    if (readings.length > 0 || last > storedSeq) {
      await telemetry.write(readings, Math.max(last, storedSeq));
      storedSeq = Math.max(last, storedSeq);
    }
    metrics.writeSeconds((performance.now() - started) / 1000);
    const counts = new Map<string, number>();
    for (const r of readings) counts.set(r.measurement, (counts.get(r.measurement) ?? 0) + 1);
    for (const [m, n] of counts) metrics.written(m, n);
  }

  async function drain() {
    while (queue.length > 0 || spilledFrom !== null) {
      if (queue.length === 0 && spilledFrom !== null) refillFromWal();
      const batch = queue.slice(0, batchSize);
      try {
        await writeBatch(batch);
        queue = queue.slice(batch.length);
        backoffMs = 0;
      } catch (e: unknown) {
        metrics.writeError();
        backoffMs = Math.min(30_000, Math.max(100, backoffMs * 2));
        log.warn({ err: e, retryInMs: backoffMs, queued: queue.length }, "store write failed; will retry");
        return;
      } finally {
        metrics.queueDepth(queue.length);
      }
      const done = Math.min(storedSeq, rejectsSeq);
      for (let i = waiters.length - 1; i >= 0; i--) {
        const w = waiters[i];
        if (w && w.seq <= done) {
          waiters.splice(i, 1);
          w.resolve();
        }
      }
      wal.release(done);
    }
  }

  function refillFromWal() {
    const from = spilledFrom ?? 0;
    spilledFrom = null;
    for (const r of wal.replay(from - 1)) {
      if (queue.length >= maxQueue) {
        spilledFrom = r.seq;
        break;
      }
      queue.push(r);
      lastQueued = r.seq;
    }
  }

  return {
    /** Loads the stores' checkpoints and queues whatever the log holds beyond them. */
    async start(): Promise<{ replayed: number }> {
      storedSeq = await telemetry.checkpoint();
      rejectsSeq = await state.rejectCheckpoint();
      const from = Math.min(storedSeq, rejectsSeq);
      let replayed = 0;
      for (const r of wal.replay(from)) {
        if (queue.length >= maxQueue) {
          spilledFrom = r.seq;
          break;
        }
        queue.push(r);
        lastQueued = r.seq;
        replayed++;
      }
      if (queue.length > 0) await kick();
      while (running) await running;
      return { replayed };
    },
    checkpoints: () => ({ telemetry: storedSeq, rejects: rejectsSeq }),
    /** A durable record, in seq order. */
    push(record: WalRecord) {
      if (spilledFrom !== null || record.seq <= lastQueued) return; // the log has it; it is (or will be) read back
      if (queue.length >= maxQueue) {
        spilledFrom = record.seq;
        return;
      }
      queue.push(record);
      lastQueued = record.seq;
      metrics.queueDepth(queue.length);
      if (queue.length >= batchSize) void kick();
      else schedule(flushMs);
    },
    /** Resolves once everything up to `seq` is in the stores. */
    waitFor(seq: number): Promise<void> {
      if (Math.min(storedSeq, rejectsSeq) >= seq) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ seq, resolve }));
    },
    depth: () => queue.length,
    /** Writes everything queued, then stops. */
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
      for (let attempt = 0; attempt < 5 && (queue.length > 0 || spilledFrom !== null || running); attempt++) {
        if (running) await running;
        if (queue.length > 0 || spilledFrom !== null) await kick();
      }
    },
  };
}
export type StoreWriter = ReturnType<typeof createStoreWriter>;
