/**
 * Bounds on what clients can make the service spend before they have proved anything (issue 16, V7 and V8).
 *
 * - A slow credential check (scrypt: a few ms of CPU in the registry's own threads) is taken only within a per-source
 *   budget of *failed* checks, and only so many run at once with a bounded queue behind them. A check holds a token
 *   while it runs and gives it back when the secret is right, so a district's lights reconnecting through one carrier
 *   NAT after a restart are not refused for sharing an address, while guessing from one address is. A device whose
 *   secret was proved since start needs no slow check at all (the registry remembers it).
 * - One device id may connect only so often: twenty clients fighting over one id (each CONNECT takes the session over
 *   from the last) would otherwise turn into thousands of presence changes a second.
 */

/** Token buckets by key: `perMinute` at once, refilled evenly over a minute. Full buckets are forgotten. */
export function createBuckets(opts: { perMinute: number; clock?: () => number; maxKeys?: number }) {
  const clock = opts.clock ?? Date.now;
  const refillPerMs = opts.perMinute / 60_000;
  const maxKeys = opts.maxKeys ?? 100_000;
  const buckets = new Map<string, { tokens: number; at: number }>();
  const level = (b: { tokens: number; at: number }, now: number) => Math.min(opts.perMinute, b.tokens + (now - b.at) * refillPerMs);

  const sweep = (now: number) => {
    for (const [k, b] of buckets) if (level(b, now) >= opts.perMinute) buckets.delete(k);
    // Still too many keys (a scan from very many addresses): forget the oldest half rather than grow.
    if (buckets.size >= maxKeys) {
      let n = 0;
      for (const k of buckets.keys()) if (n++ < maxKeys / 2) buckets.delete(k);
    }
  };

  return {
    /** Takes one token from `key`'s bucket; false when it is empty. */
    take(key: string): boolean {
      const now = clock();
      let b = buckets.get(key);
      if (!b) {
        if (buckets.size >= maxKeys) sweep(now);
        b = { tokens: opts.perMinute, at: now };
        buckets.set(key, b);
      } else {
        b.tokens = level(b, now);
        b.at = now;
      }
      if (b.tokens < 1) return false;
      b.tokens -= 1;
      return true;
    },
    /** Gives back a token taken for something that turned out not to count (a credential check that succeeded). */
    give(key: string): void {
      const b = buckets.get(key);
      if (b) b.tokens = Math.min(opts.perMinute, b.tokens + 1);
    },
    size: () => buckets.size,
  };
}

/** At most `concurrent` slow checks at once and `queue` waiting; `run` resolves to null (refused) past that. */
export function createGate(opts: { concurrent: number; queue: number }) {
  let inFlight = 0;
  const waiting: (() => void)[] = [];
  return {
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
    state: () => ({ inFlight, waiting: waiting.length }),
  };
}
