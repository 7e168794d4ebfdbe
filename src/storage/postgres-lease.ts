import pg from "pg";

/** The advisory-lock class of Agrilume's leases ("agri" in its bytes); the lease's own number is its name's hash. */
const LEASE_CLASS = 0x61677269;

/** A 32-bit signed hash of a lease's name (FNV-1a), the second half of its advisory-lock key. */
export function leaseKey(name: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(name, "utf8")) {
    h ^= b;
    h = Math.imul(h, 0x01000193);
  }
  return h | 0;
}

export type LeaseState = "connecting" | "waiting" | "held" | "stopped";

/**
 * A lease held as a PostgreSQL session advisory lock on a connection of its own: exactly one holder at a time across
 * every instance on the database, and freed by PostgreSQL the moment the holder's session ends (its process killed:
 * the kernel closes the socket; its session terminated; PostgreSQL restarted). A waiter blocks in
 * `pg_advisory_lock`, so it has the lock as soon as PostgreSQL frees it.
 *
 * The holder checks its connection every `checkMs` (a `SELECT 1` that must answer within `timeoutMs`): a connection
 * lost, closed or silent is a lease lost, and `onLost` runs at once, before anything else, so the holder stops what the
 * lease guarded (fencing) and only then waits for the lease again. The server frees a silent client's lock only when
 * its own TCP keepalives give up (docs/DEPLOYMENT.md says to set them longer than `checkMs + timeoutMs`).
 */
export function createAdvisoryLease(opts: {
  url: string;
  name: string;
  applicationName: string;
  onAcquired: () => void;
  onLost: (why: string) => void;
  onState?: (state: LeaseState, detail?: string) => void;
  checkMs?: number;
  timeoutMs?: number;
  retryMs?: number;
}) {
  const checkMs = opts.checkMs ?? 2000;
  // (long enough for a busy event loop: a lease lost to a slow answer is a needless takeover)
  const timeoutMs = opts.timeoutMs ?? 8000;
  const retryMs = opts.retryMs ?? 1000;
  const key = leaseKey(opts.name);
  let state: LeaseState = "connecting";
  let client: pg.Client | null = null;
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  /** Counts attempts, so that what an earlier connection does after it was given up is ignored. */
  let attempt = 0;
  let heldSince: number | null = null;

  const enter = (next: LeaseState, detail?: string) => {
    if (next === state) return;
    state = next;
    opts.onState?.(next, detail);
  };

  /** The connection is gone or silent: fence first (if held), then close it and try again. */
  const lose = (n: number, why: string) => {
    if (n !== attempt || stopped) return;
    attempt++;
    const c = client;
    client = null;
    if (timer) clearTimeout(timer);
    timer = null;
    const wasHeld = state === "held";
    heldSince = null;
    enter("connecting", why);
    if (wasHeld) opts.onLost(why);
    c?.end().catch(() => undefined);
    timer = setTimeout(() => {
      run().catch((e: unknown) => lose(attempt, `the lease could not be tried again: ${String(e)}`));
    }, retryMs);
  };

  const check = (n: number, c: pg.Client) => {
    timer = setTimeout(() => {
      timer = null;
      if (n !== attempt || stopped) return;
      const silent = setTimeout(() => lose(n, `the lease connection did not answer within ${timeoutMs} ms`), timeoutMs);
      c.query("SELECT 1").then(
        () => {
          clearTimeout(silent);
          if (n === attempt && !stopped) check(n, c);
        },
        (e: unknown) => {
          clearTimeout(silent);
          lose(n, `the lease connection failed: ${(e as Error).message}`);
        },
      );
    }, checkMs);
  };

  const run = async () => {
    if (stopped) return;
    const n = ++attempt;
    const c = new pg.Client({ connectionString: opts.url, application_name: opts.applicationName.slice(0, 63), keepAlive: true });
    client = c;
    c.on("error", (e) => lose(n, `the lease connection failed: ${e.message}`));
    c.on("end", () => lose(n, "the lease connection closed"));
    try {
      await c.connect();
      if (n !== attempt || stopped) return;
      enter("waiting");
      await c.query("SELECT pg_advisory_lock($1, $2)", [LEASE_CLASS, key]);
    } catch (e: unknown) {
      lose(n, `could not take the lease: ${(e as Error).message}`);
      return;
    }
    if (n !== attempt || stopped) return;
    heldSince = Date.now();
    enter("held");
    opts.onAcquired();
    check(n, c);
  };

  return {
    state: () => state,
    /** When this instance took the lease it holds (null: it does not hold it). */
    heldSince: () => heldSince,
    /** Starts trying to take the lease (and keeps trying); resolves at once. */
    start() {
      run().catch((e: unknown) => lose(attempt, `the lease could not be tried: ${String(e)}`));
    },
    /** Lets the lease go (ending the session frees the lock); `onLost` does not run. */
    async stop() {
      stopped = true;
      attempt++;
      if (timer) clearTimeout(timer);
      timer = null;
      heldSince = null;
      enter("stopped");
      const c = client;
      client = null;
      await c?.end().catch(() => undefined);
    },
  };
}
export type AdvisoryLease = ReturnType<typeof createAdvisoryLease>;
