import { readlinkSync } from "node:fs";
import { setPriority } from "node:os";
import { parentPort } from "node:worker_threads";
import { type FromWorker, type Host, type ToWorker, Transfer } from "./workers.js";

/**
 * The entry of each worker thread (workers.ts starts it): runs one job at a time, an exported function of the module the
 * job names, imported once per thread. A job's exception is its result (`ok: false` with its message), never the end of
 * the thread.
 */
const port = parentPort;
if (!port) throw new Error("worker-thread.ts runs only as a worker thread (src/platform/workers.ts)");

/**
 * The thread runs below the service's own (a nice value of 10, on Linux, where each thread has its own): when the cores
 * are contended, the thread that sends PUBACKs goes first and a report or an import takes longer (docs/BENCHMARKS.md).
 */
const BELOW_SERVICE = 10;
function ownThreadId(): number | null {
  if (process.platform !== "linux") return null;
  try {
    const tid = Number(readlinkSync("/proc/thread-self").split("/").at(-1));
    return Number.isInteger(tid) ? tid : null;
  } catch {
    return null; // no /proc: the thread keeps the process's priority
  }
}
const tid = ownThreadId();
if (tid !== null) setPriority(tid, BELOW_SERVICE);

const modules = new Map<string, Promise<Record<string, unknown>>>();
const calls = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
let nextCall = 1;

const hostFor = (id: number): Host => ({
  call: <T>(name: string, arg?: unknown) =>
    new Promise<T>((resolve, reject) => {
      const callId = nextCall++;
      calls.set(callId, { resolve: resolve as (value: unknown) => void, reject });
      const m: FromWorker = { type: "call", id, callId, name, arg };
      port.postMessage(m);
    }),
});

async function run(job: Extract<ToWorker, { type: "job" }>) {
  let mod = modules.get(job.module);
  if (!mod) {
    mod = import(job.module) as Promise<Record<string, unknown>>;
    modules.set(job.module, mod);
  }
  const fn = (await mod)[job.fn];
  if (typeof fn !== "function") throw new Error(`${job.module} exports no job "${job.fn}"`);
  return (await fn(job.input, hostFor(job.id))) as unknown;
}

port.on("message", (m: ToWorker) => {
  if (m.type === "reply") {
    const call = calls.get(m.callId);
    calls.delete(m.callId);
    if (m.ok) call?.resolve(m.value);
    else call?.reject(new Error(m.message));
    return;
  }
  const fail = (e: unknown) => {
    const done: FromWorker = { type: "done", id: m.id, ok: false, message: e instanceof Error ? e.message : String(e) };
    port.postMessage(done);
  };
  run(m).then((out) => {
    try {
      const done: FromWorker = { type: "done", id: m.id, ok: true, value: out instanceof Transfer ? out.value : out };
      port.postMessage(done, out instanceof Transfer ? out.list : []);
    } catch (e: unknown) {
      fail(new Error(`the job's result cannot be sent back: ${e instanceof Error ? e.message : String(e)}`));
    }
  }, fail);
});
