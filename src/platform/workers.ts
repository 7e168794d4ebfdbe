import { extname } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { type TransferListItem, Worker } from "node:worker_threads";

/**
 * Worker threads for long CPU work (reports, file imports, reading the write-ahead log back, scrypt), so that the
 * service's own thread, which sends every PUBACK, never waits for it. A pool has a fixed number of threads, started
 * when first needed, and a bounded queue: past it a job is refused at once with `busy`, which the HTTP layer answers
 * with 503. Threads hold the process open only while they have work; `stop()` ends them.
 *
 * A job is an exported function of a module (`jobModule`), run in a thread as `fn(input, host)`. What crosses between
 * threads is copied (structured clone), except what a job hands back with `transfer`; a job can ask the service's thread
 * for what only it has (its databases, the registry) through `host.call(name, arg)`, answered by the handlers given with
 * the job.
 */
export type Host = { call<T>(name: string, arg?: unknown): Promise<T> };
export type HostHandlers = Record<string, (arg: never) => unknown>;

/** Typed calls from a job to the handlers `A` that the service's thread runs it with. */
export function hostApi<A extends HostHandlers>(host: Host) {
  return <K extends keyof A & string>(name: K, ...arg: Parameters<A[K]>) => host.call<Awaited<ReturnType<A[K]>>>(name, arg[0]);
}

/**
 * Sends a long list to the host handler `name` in parts, each once the last was taken: a copy is made whole on the
 * receiving thread in one go (100,000 parsed rows took that thread ~0.1–0.6 s: docs/BENCHMARKS.md), a part at a time lets
 * the service's thread do other work in between.
 */
export async function sendInParts<T>(host: Host, name: string, items: readonly T[], size = PART): Promise<void> {
  for (let i = 0; i < items.length; i += size) await host.call(name, items.slice(i, i + size));
}
export const PART = 5000;

/**
 * A full garbage collection of the calling thread, for a job that makes much short-lived garbage as it goes (an import
 * checks 100,000 rows, each a few objects): V8 lets a thread's heap grow by a hundred MB and more before it collects
 * such garbage, and the process's memory with it (docs/BENCHMARKS.md). Called between parts of the work, it keeps the
 * heap near what the job holds. (`--expose-gc` set from here: the collector is then reachable from a new context.)
 */
export function collectGarbage(): void {
  gc ??= (() => {
    setFlagsFromString("--expose-gc");
    return runInNewContext("gc") as () => void;
  })();
  gc();
}
let gc: (() => void) | undefined;

/** A job's result whose buffers move to the caller's thread instead of being copied. */
export class Transfer<T> {
  constructor(
    readonly value: T,
    readonly list: TransferListItem[],
  ) {}
}
export const transfer = <T>(value: T, list: TransferListItem[]) => new Transfer(value, list);
/** The bytes in a buffer of their own, which can be transferred (a Buffer may be a view of a larger or shared one). */
export const ownBytes = (b: Uint8Array): Uint8Array<ArrayBuffer> =>
  b.buffer instanceof ArrayBuffer && b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? (b as Uint8Array<ArrayBuffer>) : new Uint8Array(b);

export type JobCode = "busy" | "stopped" | "failed" | "crashed";
/** Why a job did not give a result. Only `busy` is worth trying again (later). */
export class WorkerJobError extends Error {
  constructor(
    readonly code: JobCode,
    message: string,
  ) {
    super(message);
    this.name = "WorkerJobError";
  }
  get canRetry(): boolean {
    return this.code === "busy";
  }
}

/** A module of jobs, named by URL; `M` is its type (`typeof import("./x.js")`), so that calls are checked. */
export type JobModule<M> = { readonly href: string; readonly types?: M };
/**
 * The module at `path` relative to `importMetaUrl` (or that module itself), with the extension of the file naming it:
 * `.ts` where the sources run (tsx, vitest), `.js` when compiled to dist/.
 */
export function jobModule<M>(importMetaUrl: string, path?: string): JobModule<M> {
  const href = path === undefined ? importMetaUrl : new URL(`${path}${extname(new URL(importMetaUrl).pathname)}`, importMetaUrl).href;
  return { href };
}

type JobFn = (input: never, host: Host) => unknown;
type Input<F> = F extends (input: infer I, host: Host) => unknown ? I : never;
type Unwrap<T> = T extends Transfer<infer V> ? V : T;
type Output<F> = F extends (...args: never[]) => infer R ? Unwrap<Awaited<R>> : never;

/** Messages between the threads (see worker-thread.ts). */
export type ToWorker =
  | { type: "job"; id: number; module: string; fn: string; input: unknown }
  | { type: "reply"; callId: number; ok: true; value: unknown }
  | { type: "reply"; callId: number; ok: false; message: string };
export type FromWorker =
  | { type: "done"; id: number; ok: true; value: unknown }
  | { type: "done"; id: number; ok: false; message: string }
  | { type: "call"; id: number; callId: number; name: string; arg: unknown };

type Job = {
  id: number;
  module: string;
  fn: string;
  input: unknown;
  host: HostHandlers;
  /** The input's buffers that move to the thread instead of being copied (an import's file). */
  transfer: TransferListItem[];
  /** The thread ends once the job has settled (`run`'s `retire`). */
  retire: boolean;
  resolve: (value: unknown) => void;
  reject: (error: WorkerJobError) => void;
};
type Thread = { worker: Worker; job: Job | null; exited: Promise<void> };

const ENTRY = new URL(`./worker-thread${extname(new URL(import.meta.url).pathname)}`, import.meta.url);

/** A thread running worker-thread.ts (or .js). */
function startThread(): Worker {
  if (!ENTRY.pathname.endsWith(".ts")) return new Worker(ENTRY);
  // Node 20 does not apply the loader hooks of `--import tsx` to a worker's own entry file (ERR_UNKNOWN_FILE_EXTENSION,
  // whatever execArgv says), so the thread registers tsx itself and then imports the entry.
  const tsx = import.meta.resolve("tsx/esm/api");
  return new Worker(`import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(ENTRY.href)}); });`, {
    eval: true,
  });
}

export function createWorkerPool(options: {
  /** Threads at most. */
  size: number;
  /** Jobs that may wait for a thread; one more is refused (`busy`). */
  maxQueued: number;
  /** What a thread that died said (the job it ran is failed with `crashed`). */
  onCrash?: (error: unknown) => void;
  /** Start every thread now rather than when first needed (a thread takes a while to start where tsx compiles it). */
  eager?: boolean;
}) {
  const threads = new Set<Thread>();
  const queue: Job[] = [];
  let nextId = 1;
  let stopped = false;

  const settle = (t: Thread, fn: (job: Job) => void) => {
    const job = t.job;
    t.job = null;
    t.worker.unref(); // idle: it does not hold the process open
    if (job?.retire) {
      // its heap goes with it: no other job is given to it (a new thread is started when one is needed)
      threads.delete(t);
      void t.worker.terminate().catch(() => undefined);
    }
    if (job) fn(job);
    dispatch();
  };

  const spawn = (): Thread => {
    const worker = startThread();
    worker.unref();
    let lastError: unknown;
    const t: Thread = {
      worker,
      job: null,
      exited: new Promise((resolve) => worker.once("exit", () => resolve())),
    };
    // (a thread that has come online holds the process open again, though unref'd before: until it has work it must not)
    worker.once("online", () => {
      if (t.job === null) worker.unref();
    });
    worker.on("message", (m: FromWorker) => {
      if (m.type === "call") {
        // answer() catches what the handler throws; only posting the reply can fail (the thread is gone): its job
        // then fails through the thread's exit.
        answer(t, m).catch((e: unknown) => settle(t, (job) => job.reject(new WorkerJobError("failed", e instanceof Error ? e.message : String(e)))));
        return;
      }
      if (m.id !== t.job?.id) return;
      settle(t, (job) => (m.ok ? job.resolve(m.value) : job.reject(new WorkerJobError("failed", m.message))));
    });
    worker.on("error", (e: unknown) => {
      lastError = e;
      options.onCrash?.(e);
    });
    worker.once("exit", (code) => {
      threads.delete(t);
      const why = stopped ? new WorkerJobError("stopped", "the worker pool was stopped") : crashed(code, lastError);
      settle(t, (job) => job.reject(why));
    });
    threads.add(t);
    return t;
  };

  const crashed = (code: number, error: unknown) =>
    new WorkerJobError("crashed", `a worker thread ended (exit code ${code})${error instanceof Error ? `: ${error.message}` : ""}`);

  /** A host call from a job: the handler given with it answers, in this thread. */
  const answer = async (t: Thread, m: Extract<FromWorker, { type: "call" }>) => {
    const job = t.job;
    let reply: ToWorker;
    try {
      const handler = job?.id === m.id ? job.host[m.name] : undefined;
      if (!handler) throw new Error(`no host handler "${m.name}" for this job`);
      reply = { type: "reply", callId: m.callId, ok: true, value: await handler(m.arg as never) };
    } catch (e: unknown) {
      reply = { type: "reply", callId: m.callId, ok: false, message: e instanceof Error ? e.message : String(e) };
    }
    if (t.job === job && job !== null) t.worker.postMessage(reply);
  };

  const dispatch = () => {
    while (!stopped && queue.length > 0) {
      let idle = [...threads].find((t) => t.job === null);
      if (!idle && threads.size < options.size) idle = spawn();
      if (!idle) return;
      const job = queue.shift() as Job;
      idle.job = job;
      idle.worker.ref(); // working: the caller waits for it
      const message: ToWorker = { type: "job", id: job.id, module: job.module, fn: job.fn, input: job.input };
      try {
        idle.worker.postMessage(message, job.transfer);
      } catch (e: unknown) {
        // an input that cannot be copied (a function, say) is the caller's mistake, not the thread's
        idle.job = null;
        idle.worker.unref();
        job.reject(new WorkerJobError("failed", `the job's input cannot be sent to a thread: ${e instanceof Error ? e.message : String(e)}`));
      }
    }
  };

  if (options.eager) for (let i = 0; i < options.size; i++) spawn();

  return {
    /**
     * Runs `name` of `module` in a thread. Refused at once with `busy` when `maxQueued` jobs already wait, unless
     * `urgent` (a job the service itself needs, at most one at a time: it goes first and is never refused).
     */
    run<M, K extends keyof M & string>(
      module: JobModule<M>,
      name: K,
      input: M[K] extends JobFn ? Input<M[K]> : never,
      opts: {
        host?: HostHandlers;
        urgent?: boolean;
        transfer?: TransferListItem[];
        /**
         * End the thread once the job has settled, so that what its heap grew to goes back to the system at once: V8
         * keeps a thread's heap as it grew, and a workbook's reading grows it by ~150 MB, which stayed resident beside
         * the service's own work on the rows (docs/BENCHMARKS.md). The next job starts a thread.
         */
        retire?: boolean;
      } = {},
    ): Promise<Output<M[K]>> {
      if (stopped) return Promise.reject(new WorkerJobError("stopped", "the worker pool was stopped"));
      // (the queue holds only jobs that found no thread: dispatch runs at once)
      if (!opts.urgent && queue.length >= options.maxQueued)
        return Promise.reject(new WorkerJobError("busy", `${queue.length} jobs are already waiting for a worker thread`));
      return new Promise((resolve, reject) => {
        const job: Job = {
          id: nextId++,
          module: module.href,
          fn: name,
          input,
          host: opts.host ?? {},
          transfer: opts.transfer ?? [],
          retire: opts.retire === true,
          resolve: resolve as (v: unknown) => void,
          reject,
        };
        if (opts.urgent) queue.unshift(job);
        else queue.push(job);
        dispatch();
      });
    },
    /** Live threads (started, not yet ended). */
    threads: () => threads.size,
    /** Refuses new jobs, fails the waiting and running ones with `stopped`, and ends every thread. */
    async stop(): Promise<void> {
      stopped = true;
      for (const job of queue.splice(0)) job.reject(new WorkerJobError("stopped", "the worker pool was stopped"));
      const ending = [...threads];
      await Promise.all(ending.map((t) => t.worker.terminate()));
      await Promise.all(ending.map((t) => t.exited));
    },
  };
}
export type WorkerPool = ReturnType<typeof createWorkerPool>;
