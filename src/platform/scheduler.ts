import type { Logger } from "./log.js";

/**
 * Periodic work of one process: each task runs on its interval, a failure is logged with the task's name and the
 * next run goes on, and `stop()` clears every timer and waits for runs under way, so nothing touches a store after
 * it is closed. Timers are unref'd: they never keep a process alive by themselves.
 */
export function createScheduler(deps: { log: Logger }) {
  const timers = new Set<NodeJS.Timeout>();
  const running = new Set<Promise<void>>();
  let stopped = false;

  const track = (name: string, fn: () => Promise<unknown> | unknown): Promise<void> => {
    const p: Promise<void> = Promise.resolve()
      .then(fn)
      .then(
        () => undefined,
        (e: unknown) => deps.log.warn({ err: e, task: name }, "periodic task failed"),
      )
      .finally(() => running.delete(p));
    running.add(p);
    return p;
  };

  return {
    /** Runs `fn` every `ms`. */
    every(name: string, ms: number, fn: () => Promise<unknown> | unknown): void {
      if (stopped) return;
      const t = setInterval(() => void track(name, fn), ms);
      t.unref();
      timers.add(t);
    },
    /** Runs `fn` once after `ms` (a catch-up soon after a start). */
    once(name: string, ms: number, fn: () => Promise<unknown> | unknown): void {
      if (stopped) return;
      const t = setTimeout(() => {
        timers.delete(t);
        void track(name, fn);
      }, ms);
      t.unref();
      timers.add(t);
    },
    /** Runs under way now (for tests and the readiness report). */
    running: () => running.size,
    /** Clears every timer and waits for the runs under way. */
    async stop(): Promise<void> {
      stopped = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      await Promise.all([...running]);
    },
  };
}
export type Scheduler = ReturnType<typeof createScheduler>;
