import { spawn } from "node:child_process";
import { availableParallelism } from "node:os";
import { threadId } from "node:worker_threads";
import { afterEach, describe, expect, it } from "vitest";
import { startTestApp } from "../harness/helpers.js";
import { createWorkerPool, jobModule, WorkerJobError, type WorkerPool } from "../src/platform/workers.js";

const jobs = jobModule<typeof import("./fixtures/pool-jobs.js")>(import.meta.url, "./fixtures/pool-jobs");

/** A promise and the function that resolves it. */
function gate<T>() {
  let open: (value: T) => void = () => undefined;
  const promise = new Promise<T>((r) => {
    open = r;
  });
  return { promise, open };
}

describe("worker pool", () => {
  const pools: WorkerPool[] = [];
  const pool = (size: number, maxQueued: number) => {
    const p = createWorkerPool({ size, maxQueued });
    pools.push(p);
    return p;
  };
  afterEach(async () => {
    for (const p of pools.splice(0)) await p.stop();
  });

  it("runs a job in another thread and returns its result; a transferred buffer arrives whole", async () => {
    const p = pool(1, 4);
    const r = await p.run(jobs, "echo", { x: 42 });
    expect(r.x).toBe(42);
    expect(r.threadId).not.toBe(threadId);
    const b = await p.run(jobs, "bytes", { n: 1 << 20 });
    expect(b.byteLength).toBe(1 << 20);
    expect(b.every((x) => x === 7)).toBe(true);
  });

  it.runIf(process.platform === "linux")("runs its threads below the service's thread (nice 10)", async () => {
    const p = pool(1, 4);
    expect(await p.run(jobs, "priority", null)).toEqual({ nice: 10 });
  });

  it("a job that throws gives a clean error with its message, and the thread goes on", async () => {
    const p = pool(1, 4);
    const first = (await p.run(jobs, "echo", { x: 1 })).threadId;
    const e = await p.run(jobs, "fail", { message: "row 7 is bad" }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(WorkerJobError);
    expect(e).toMatchObject({ code: "failed", message: "row 7 is bad", canRetry: false });
    expect((await p.run(jobs, "echo", { x: 2 })).threadId).toBe(first);
  });

  it("refuses a job at once with busy when the queue is full, and runs the queued ones in order", async () => {
    const p = pool(1, 2);
    const g = gate<string>();
    const held = p.run(jobs, "hold", null, { host: { release: () => g.promise } });
    const queued = [p.run(jobs, "echo", { x: 1 }), p.run(jobs, "echo", { x: 2 })];
    const refused = await p.run(jobs, "echo", { x: 3 }).catch((x: unknown) => x);
    expect(refused).toMatchObject({ code: "busy", canRetry: true });
    // a job the service needs itself is never refused, and goes first
    const order: number[] = [];
    const urgent = p.run(jobs, "echo", { x: 9 }, { urgent: true }).then((r) => order.push(r.x));
    for (const q of queued) void q.then((r) => order.push(r.x));
    g.open("go");
    expect((await held).released).toBe("go");
    await Promise.all([urgent, ...queued]);
    expect(order).toEqual([9, 1, 2]);
  });

  it("stop() fails the running and waiting jobs with stopped and ends every thread", async () => {
    const p = pool(2, 4);
    const never = gate<string>();
    const running = [1, 2].map(() => p.run(jobs, "hold", null, { host: { release: () => never.promise } }).catch((x: unknown) => x));
    const waiting = p.run(jobs, "echo", { x: 1 }).catch((x: unknown) => x);
    expect(p.threads()).toBe(2);
    await p.stop();
    expect(p.threads()).toBe(0);
    for (const e of [...(await Promise.all(running)), await waiting]) expect(e).toMatchObject({ code: "stopped" });
    await expect(p.run(jobs, "echo", { x: 1 })).rejects.toMatchObject({ code: "stopped" });
  });

  it("idle threads, even ones never given a job, do not hold the process open", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", "test/fixtures/idle-pool.ts"], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    // (a process held open is killed after a while, and the test fails on its signal)
    const kill = setTimeout(() => child.kill("SIGKILL"), 30_000);
    const [code, signal] = await new Promise<[number | null, string | null]>((r) => child.once("exit", (c, s) => r([c, s])));
    clearTimeout(kill);
    expect({ code, signal, out }).toEqual({ code: 0, signal: null, out: "7 on 2 threads\n" });
  });

  it("a thread that dies fails its job with crashed, and the next job gets a new thread", async () => {
    const p = pool(1, 4);
    const before = (await p.run(jobs, "echo", { x: 1 })).threadId;
    await expect(p.run(jobs, "exit", null as never)).rejects.toMatchObject({ code: "crashed" });
    const after = await p.run(jobs, "echo", { x: 2 });
    expect(after.x).toBe(2);
    expect(after.threadId).not.toBe(before);
  });

  it("a job run with retire ends its thread once settled (its heap freed); the next job, queued or later, gets a new thread", async () => {
    const p = pool(1, 4);
    const kept = await p.run(jobs, "echo", { x: 1 });
    expect((await p.run(jobs, "echo", { x: 2 })).threadId).toBe(kept.threadId); // without retire the thread stays
    const retired = p.run(jobs, "echo", { x: 3 }, { retire: true });
    const queued = p.run(jobs, "echo", { x: 4 }); // waits for the one thread, and must not be given the retiring one
    const [r, q] = await Promise.all([retired, queued]);
    expect(r.threadId).toBe(kept.threadId);
    expect(q.threadId).not.toBe(r.threadId);
    const failed = p.run(jobs, "exit", null as never, { retire: true });
    await expect(failed).rejects.toMatchObject({ code: "crashed" });
    expect((await p.run(jobs, "echo", { x: 5 })).x).toBe(5);
    expect(p.threads()).toBe(1);
  });
});

describe("the service's worker threads", () => {
  it("a request that finds the queue full is answered 503 busy at once; once there is room it is served; stop() ends the threads", async () => {
    const t = await startTestApp();
    const pool = t.app.workers;
    const g = gate<string>();
    // Every thread held, and the queue filled behind them (the app's pool: a thread per core but one, 8 waiting).
    const held = Array.from({ length: availableParallelism() + 8 }, () =>
      pool.run(jobs, "hold", null, { host: { release: () => g.promise } }).catch((x: unknown) => x),
    );
    const res = await t.api("/api/v1/verification");
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("5");
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("busy");
    g.open("go");
    await Promise.all(held);
    expect((await t.api("/api/v1/verification")).status).toBe(200);
    expect(pool.threads()).toBeGreaterThan(0);
    await t.stop();
    expect(pool.threads()).toBe(0);
  });
});
