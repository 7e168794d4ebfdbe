/**
 * Simulated time. Readings carry their own timestamps and the service rejects those more than
 * 5 minutes ahead of its clock, so a fast run starts in the past and catches up with real time:
 * at `speed` 60 a 7.5 h shift starting 7.5 h ago ends now, after 7.5 real minutes.
 */
export type SimClock = { now(): number; speed: number; sleep(simMs: number, signal?: AbortSignal): Promise<void> };

/** `startAt` places the run explicitly (e.g. last night); otherwise a fast run ends at the present. */
export function createSimClock(speed: number, simDurationMs = 0, startAt?: number): SimClock {
  const realStart = Date.now();
  const simStart = startAt ?? (speed > 1 ? realStart - simDurationMs : realStart);
  return {
    speed,
    now: () => Math.min(Date.now(), simStart + (Date.now() - realStart) * speed),
    sleep: (simMs, signal) =>
      new Promise((resolve) => {
        // the abort listener is removed when the sleep ends: a long run sleeps many thousands of times
        const onAbort = () => {
          clearTimeout(t);
          resolve();
        };
        const t = setTimeout(
          () => {
            signal?.removeEventListener("abort", onAbort);
            resolve();
          },
          Math.max(0, simMs / speed),
        );
        signal?.addEventListener("abort", onAbort, { once: true });
      }),
  };
}
