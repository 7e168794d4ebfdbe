/**
 * Bounds what unauthenticated clients can make the service spend (issue 16, V8): a slow credential check (scrypt, a few
 * ms of CPU on the thread pool the write-ahead log also uses) is taken only within a per-source budget, and only so
 * many run at once with a bounded queue behind them. A device whose secret was proved since start needs no slow check
 * and is never counted (the registry remembers it), so reconnect storms of real devices pass untouched.
 */
export function createAuthLimiter(opts: {
  /** Slow checks one source address may cause per minute (a token bucket: this many at once, refilled over a minute). */
  perSourcePerMinute: number;
  /** Slow checks at once (the thread pool has 4 threads; the log's writes need some). */
  concurrent: number;
  /** Slow checks waiting; past this a CONNECT is refused at once. */
  queue: number;
  clock?: () => number;
}) {
  const clock = opts.clock ?? Date.now;
  const refillPerMs = opts.perSourcePerMinute / 60_000;
  // One bucket per address seen in the last few minutes: swept when the map grows (bounded by MAX_SOURCES).
  const buckets = new Map<string, { tokens: number; at: number }>();
  const MAX_SOURCES = 100_000;
  let inFlight = 0;
  const waiting: (() => void)[] = [];

  const sweep = (now: number) => {
    for (const [k, b] of buckets) if (b.tokens + (now - b.at) * refillPerMs >= opts.perSourcePerMinute) buckets.delete(k);
    // Still too many distinct sources (a spoofing-scale scan): forget the oldest half rather than grow.
    if (buckets.size >= MAX_SOURCES) {
      let n = 0;
      for (const k of buckets.keys()) if (n++ < MAX_SOURCES / 2) buckets.delete(k);
    }
  };

  return {
    /** Takes one slow check from `source`'s budget; false when it is spent. */
    take(source: string): boolean {
      const now = clock();
      let b = buckets.get(source);
      if (!b) {
        if (buckets.size >= MAX_SOURCES) sweep(now);
        b = { tokens: opts.perSourcePerMinute, at: now };
        buckets.set(source, b);
      } else {
        b.tokens = Math.min(opts.perSourcePerMinute, b.tokens + (now - b.at) * refillPerMs);
        b.at = now;
      }
      if (b.tokens < 1) return false;
      b.tokens -= 1;
      return true;
    },
    /** Runs a slow check within the concurrency bound; resolves to null (refused) when the queue is full. */
    run<T>(check: () => Promise<T>): Promise<T | null> {
      if (inFlight >= opts.concurrent && waiting.length >= opts.queue) return Promise.resolve(null);
      const go = (): Promise<T> => {
        inFlight++;
        return check().finally(() => {
          inFlight--;
          waiting.shift()?.();
        });
      };
      if (inFlight < opts.concurrent) return go();
      return new Promise<void>((resolve) => waiting.push(resolve)).then(go);
    },
    /** For metrics and tests. */
    state: () => ({ inFlight, waiting: waiting.length, sources: buckets.size }),
  };
}
export type AuthLimiter = ReturnType<typeof createAuthLimiter>;
