import type { Logger } from "../platform/log.js";
import type { Wal, WalRecord } from "./wal.js";
import { type LogLines, lineRecords } from "./wal-reader.js";

export type StoreWriterMetrics = {
  written: (measurement: string, n: number) => void;
  writeSeconds: (s: number) => void;
  writeError: () => void;
  queueDepth: (n: number) => void;
};

/** A record a store refused on its own (its neighbours were stored): kept for inspection instead of retried forever. */
export type SetAside = { sink: string; record: WalRecord; error: unknown };

/** A lone record that keeps failing while its store answers is set aside after this long (its retries back off meanwhile). */
const SET_ASIDE_AFTER_MS = 60_000;

/**
 * A consumer of durable records: the telemetry store, the reject log, the batch records…
 * Each keeps the highest seq it holds in the same transaction as its data, so a replay
 * gives it only what it lacks, and it is written exactly once.
 */
export type Sink = {
  name: string;
  /** The records this sink stores. A batch with none of them costs it nothing: its checkpoint on disk may lag, and a
   * replay from there only re-reads records it ignores. */
  accepts(record: WalRecord): boolean;
  checkpoint(): Promise<number>;
  /** `records` are those with seq > this sink's checkpoint, in order; `checkpoint` is the batch's last seq. */
  write(records: WalRecord[], checkpoint: number): Promise<void>;
  /** True when it reads the log's own lines (`Wal.lines`): the log keeps them in memory only then. */
  readsLogLines?: boolean;
};

/**
 * The one place batching to the stores lives: a bounded queue of durable records, flushed when
 * it holds `batchSize` records or after `flushMs`, retried with backoff on failure, flushed on stop.
 * When the queue is full, records are not dropped: they are already in the write-ahead log, and
 * the writer reads them back from there once it has caught up.
 */
export function createStoreWriter(deps: {
  wal: Wal;
  sinks: Sink[];
  batchSize: number;
  flushMs: number;
  maxQueue?: number;
  log: Logger;
  metrics: StoreWriterMetrics;
  /** Keeps a record a store refused alone (a file under the data dir); must not throw. */
  setAside: (s: SetAside) => void;
  clock?: () => number;
  /**
   * Reads records back from the log in a worker thread (wal-reader.ts): up to `limit` records after `after`. Without
   * it the writer reads them with `wal.replay`, in its own thread.
   */
  readBack?: (after: number, limit: number) => Promise<LogLines>;
}) {
  const { wal, sinks, batchSize, flushMs, log, metrics, readBack } = deps;
  const maxQueue = deps.maxQueue ?? batchSize * 20;
  let queue: WalRecord[] = [];
  /** Records beyond what the queue held; to be re-read from the log. */
  let spilledFrom: number | null = null;
  let lastQueued = 0;
  const done = new Map<string, number>(sinks.map((s) => [s.name, 0]));
  const stored = () => Math.min(...done.values());
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> | null = null;
  let backoffMs = 0;
  let stopped = false;
  const clock = deps.clock ?? Date.now;
  /** When the writes started failing without a success since (null while they succeed). */
  let failingSince: number | null = null;
  /** False until every sink's checkpoint is known. */
  let ready = true;
  let retryTimer: NodeJS.Timeout | null = null;
  const waiters: { seq: number; resolve: () => void }[] = [];
  /** Lines read back from the log (`readBack`), parsed into the queue a batch at a time; they come before any push. */
  let pending: ReturnType<typeof lineRecords> | null = null;
  /** While the log is being read back, the highest seq pushed (and not queued: the reading may or may not hold it). */
  let reading = false;
  let pushedWhileReading = 0;
  const observers = new Set<(records: WalRecord[]) => void>();

  const schedule = (delay: number) => {
    if (timer || stopped) return;
    timer = setTimeout(() => {
      timer = null;
      void kick();
    }, delay);
  };

  /** Never rejects: a failure to read the log back is logged and retried with backoff, like a failed store write. */
  const kick = (): Promise<void> =>
    (running ??= drain()
      .catch((e: unknown) => {
        metrics.writeError();
        backoffMs = Math.min(30_000, Math.max(100, backoffMs * 2));
        log.error({ err: e, retryInMs: backoffMs }, "could not read the write-ahead log back for the stores; will retry");
      })
      .finally(() => {
        running = null;
        if (queue.length > 0 || spilledFrom !== null || pending !== null) schedule(backoffMs || flushMs);
      }));

  async function writeBatch(batch: WalRecord[]) {
    const last = batch.at(-1)?.seq ?? 0;
    const started = performance.now();
    for (const sink of sinks) {
      const have = done.get(sink.name) ?? 0;
      if (last <= have) continue;
      const mine = batch.filter((r) => r.seq > have && sink.accepts(r));
      if (mine.length > 0) await writeOrSplit(sink, mine, last);
      done.set(sink.name, last);
    }
    metrics.writeSeconds((performance.now() - started) / 1000);
    const counts = new Map<string, number>();
    for (const r of batch) if (r.kind === "reading") counts.set(r.reading.measurement, (counts.get(r.reading.measurement) ?? 0) + 1);
    for (const [m, n] of counts) metrics.written(m, n);
    for (const o of observers) o(batch);
  }

  /**
   * Writes a sink's records; when the store refuses the batch but still answers, the batch is split in halves until
   * the records it refuses alone are found: those are set aside and counted, the rest is stored. A store that refuses
   * every part (down, disk full) stores nothing and the batch is retried with backoff, whole.
   */
  async function writeOrSplit(sink: Sink, records: WalRecord[], checkpoint: number): Promise<void> {
    try {
      await sink.write(records, checkpoint);
      return;
    } catch (e: unknown) {
      // A store that does not answer is down, not refusing data: retry later.
      if (
        !(await sink.checkpoint().then(
          () => true,
          () => false,
        ))
      )
        throw e;
      let stored = 0;
      const refused: { record: WalRecord; error: unknown }[] = [];
      const part = async (rs: WalRecord[], cp: number): Promise<void> => {
        try {
          await sink.write(rs, cp);
          stored += rs.length;
        } catch (err: unknown) {
          const [only] = rs;
          if (rs.length === 1 && only) {
            refused.push({ record: only, error: err });
            return;
          }
          const mid = Math.ceil(rs.length / 2);
          await part(rs.slice(0, mid), rs[mid - 1]?.seq ?? cp);
          await part(rs.slice(mid), cp);
        }
      };
      if (records.length > 1) {
        const mid = Math.ceil(records.length / 2);
        await part(records.slice(0, mid), records[mid - 1]?.seq ?? checkpoint);
        await part(records.slice(mid), checkpoint);
      } else if (records[0]) refused.push({ record: records[0], error: e });
      // Nothing stored at all: not one bad record but a store that takes nothing now (or a lone record: it gets its
      // retries, and is set aside only once it fails again with the store answering, on a later attempt).
      if (stored === 0 && (records.length > 1 || failingSince === null || clock() - failingSince < SET_ASIDE_AFTER_MS)) throw e;
      for (const r of refused) {
        log.error({ sink: sink.name, seq: r.record.seq, err: r.error }, "a store refused one record; set aside and kept for inspection");
        deps.setAside({ sink: sink.name, record: r.record, error: r.error });
      }
    }
  }

  async function drain() {
    while (ready && (queue.length > 0 || spilledFrom !== null || pending !== null)) {
      if (queue.length === 0 && pending === null && spilledFrom !== null) {
        if (!readBack) refillFromWal();
        else if (!(await readBackFromWal(readBack))) return;
      }
      if (queue.length === 0 && pending !== null) takePending();
      if (queue.length === 0) continue;
      const batch = queue.slice(0, batchSize);
      try {
        await writeBatch(batch);
        queue = queue.slice(batch.length);
        backoffMs = 0;
        failingSince = null;
      } catch (e: unknown) {
        failingSince ??= clock();
        metrics.writeError();
        backoffMs = Math.min(30_000, Math.max(100, backoffMs * 2));
        log.warn({ err: e, retryInMs: backoffMs, queued: queue.length }, "store write failed; will retry");
        return;
      } finally {
        metrics.queueDepth(queue.length);
      }
      const all = stored();
      for (let i = waiters.length - 1; i >= 0; i--) {
        const w = waiters[i];
        if (w && w.seq <= all) {
          waiters.splice(i, 1);
          w.resolve();
        }
      }
      wal.release(all);
    }
  }

  /** Queues records from the log starting after `after`, up to the queue's bound. */
  function readLog(after: number): number {
    let n = 0;
    for (const r of wal.replay(after)) {
      if (queue.length >= maxQueue) {
        spilledFrom = r.seq;
        break;
      }
      queue.push(r);
      lastQueued = r.seq;
      n++;
    }
    return n;
  }

  function refillFromWal() {
    const from = spilledFrom ?? 0;
    spilledFrom = null;
    try {
      readLog(from - 1);
    } catch (e: unknown) {
      spilledFrom ??= Math.max(from, lastQueued + 1); // what was not read yet is read on the next try
      throw e;
    }
  }

  /** `refillFromWal` in a worker thread: what is read waits in `pending`. False if the reading failed (retried later). */
  async function readBackFromWal(read: NonNullable<typeof readBack>): Promise<boolean> {
    const from = spilledFrom ?? 0;
    spilledFrom = null;
    reading = true;
    pushedWhileReading = 0;
    let got: LogLines;
    try {
      got = await read(from - 1, maxQueue);
    } catch (e: unknown) {
      spilledFrom = from;
      backoffMs = Math.min(30_000, Math.max(100, backoffMs * 2));
      log.warn({ err: e, retryInMs: backoffMs }, "could not read the write-ahead log back; will retry");
      return false;
    } finally {
      reading = false;
    }
    if (got.torn.length > 0) log.warn({ files: got.torn }, "skipped torn records in the write-ahead log");
    const last = got.count > 0 ? got.lastSeq : from - 1;
    if (got.count > 0) {
      pending = lineRecords(got);
      lastQueued = got.lastSeq;
    }
    // Beyond what was read: more than the limit, or records pushed (so in the log) after the reading saw its end.
    if (got.more || pushedWhileReading > last) spilledFrom = last + 1;
    return true;
  }

  /** The next batch of lines read back, parsed into the queue. */
  function takePending() {
    for (let n = 0; pending && n < batchSize && pending.left() > 0; n++) queue.push(pending.next());
    if (pending?.left() === 0) pending = null;
  }

  return {
    /** Loads each sink's checkpoint and queues whatever the log holds beyond the lowest. */
    /**
     * Loads each sink's checkpoint and queues whatever the log holds beyond the lowest. If a store does not answer
     * (InfluxDB down at start), the writer keeps trying in the background and nothing is written until every
     * checkpoint is known; meanwhile records wait in the log.
     */
    async start(): Promise<{ replayed: number; waiting: boolean }> {
      try {
        for (const s of sinks) done.set(s.name, await s.checkpoint());
      } catch (e: unknown) {
        log.warn({ err: e instanceof Error ? e.message : String(e) }, "a store does not answer; accepted readings wait in the write-ahead log");
        ready = false;
        spilledFrom = null;
        const retry = async (delay: number) => {
          try {
            if (stopped) return;
            for (const s of sinks) done.set(s.name, await s.checkpoint());
            // Read everything back from the log; what was pushed meanwhile is there too. (Not ready until that is read:
            // a failed read starts over. With `readBack` a worker thread reads it once ready, retrying on failure.)
            queue = [];
            lastQueued = 0;
            pending = null;
            wal.release(stored()); // what the stores already held is no longer spooled
            if (readBack) spilledFrom = stored() + 1;
            else readLog(stored());
            ready = true;
            void kick();
          } catch (e: unknown) {
            log.debug({ err: e }, "the stores are not ready yet");
            retryTimer = setTimeout(() => void retry(Math.min(30_000, delay * 2)), delay);
          }
        };
        retryTimer = setTimeout(() => void retry(1000), 1000);
        return { replayed: 0, waiting: true };
      }
      // What the stores already hold is not spooled (else, over the spool's bound, nothing would be accepted until a
      // batch is written, and none would come).
      wal.release(stored());
      const replayed = readLog(stored());
      if (queue.length > 0) await kick();
      while (running) await running;
      return { replayed, waiting: false };
    },
    checkpoints: () => Object.fromEntries(done),
    /** Since when the writes have been failing without a success (null while they succeed): /ready reports a stall. */
    failingSince: () => failingSince,
    /** Records waiting in memory for the stores (more may wait in the log: see spilledFrom). */
    queued: () => queue.length,
    /** A durable record, in seq order. */
    push(record: WalRecord) {
      if (reading) {
        pushedWhileReading = Math.max(pushedWhileReading, record.seq);
        return;
      }
      if (spilledFrom !== null || record.seq <= lastQueued) return; // the log has it; it is (or will be) read back
      if (pending !== null) {
        spilledFrom = record.seq; // after the lines read back, which are not all in the queue yet
        return;
      }
      if (queue.length >= maxQueue) {
        spilledFrom = record.seq;
        return;
      }
      queue.push(record);
      lastQueued = record.seq;
      // (the queue-depth gauge is set after each batch, not here: once per message cost a hash of its labels)
      if (queue.length >= batchSize) void kick();
      else schedule(flushMs);
    },
    /** Resolves once everything up to `seq` is in every sink. */
    waitFor(seq: number): Promise<void> {
      if (stored() >= seq) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ seq, resolve }));
    },
    /** Sees each batch once it is in every sink, i.e. queryable (the benchmark measures publish → queryable with it). */
    observe(fn: (records: WalRecord[]) => void): () => void {
      observers.add(fn);
      return () => observers.delete(fn);
    },
    /** Writes everything queued, then stops. */
    async stop() {
      stopped = true;
      if (retryTimer) clearTimeout(retryTimer);
      if (timer) clearTimeout(timer);
      timer = null;
      for (let attempt = 0; ready && attempt < 5 && (queue.length > 0 || spilledFrom !== null || pending !== null || running); attempt++) {
        if (running) await running;
        if (queue.length > 0 || spilledFrom !== null || pending !== null) await kick();
      }
    },
  };
}
export type StoreWriter = ReturnType<typeof createStoreWriter>;
