import type { Db, Migration } from "./sql.js";

/**
 * Claimed jobs (issue 18): a periodic job runs once per due time across every instance on the state store. The
 * first instance to insert (job, due) holds it, with fencing token 1; another may take it over (token + 1) only
 * while it is not done and its holder is gone: on PostgreSQL, the holder's session has ended (its backend pid is no
 * longer in pg_stat_activity: the instance died, or its connection was cut), or on either engine the claim is older
 * than its lease. A holder checks its token before anything it must not do twice (`fenced`), so a stalled holder
 * whose claim was taken over stops instead of sending again. On the embedded store there is one instance: the rows
 * are kept all the same (one code path; a claim is one insert).
 */
export const CLAIMS_MIGRATION: Migration = {
  version: 8,
  name: "job claims",
  sql: `
    CREATE TABLE job_claims (
      job VARCHAR NOT NULL, due VARCHAR NOT NULL, holder VARCHAR NOT NULL, token BIGINT NOT NULL,
      session INTEGER, claimed_at BIGINT NOT NULL, done_at BIGINT, PRIMARY KEY (job, due)
    );
  `,
};

/** A claim held: `token` is its fencing token (it grows with each takeover). */
export type Claim = { job: string; due: string; token: number };

/** How long a claim is held without its holder's session being seen gone, before another instance may take it over. */
export const CLAIM_LEASE_MS = 5 * 60_000;

export function jobClaims(db: Db, holder: string, clock: () => number, leaseMs = CLAIM_LEASE_MS) {
  const pg = db.dialect === "postgres";
  /** The session holding a claim (PostgreSQL: this instance's connection's backend), to tell when it is gone. */
  const session = pg ? "pg_backend_pid()" : "NULL";
  const gone = pg ? " OR NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = job_claims.session)" : "";
  const claims = {
    /** Claims (job, due), or takes over an abandoned claim of it; null when another holds it or it is done. */
    async claim(job: string, due: string): Promise<Claim | null> {
      const now = clock();
      const made = await db.all<{ token: bigint }>(
        `INSERT INTO job_claims (job, due, holder, token, session, claimed_at) VALUES (?, ?, ?, 1, ${session}, ?) ON CONFLICT (job, due) DO NOTHING RETURNING token`,
        [job, due, holder, now],
      );
      const taken =
        made.length > 0
          ? made
          : await db.all<{ token: bigint }>(
              `UPDATE job_claims SET holder = ?, token = token + 1, session = ${session}, claimed_at = ?
               WHERE job = ? AND due = ? AND done_at IS NULL AND (claimed_at < ?${gone}) RETURNING token`,
              [holder, now, job, due, now - leaseMs],
            );
      const token = taken[0]?.token;
      return token === undefined ? null : { job, due, token: Number(token) };
    },
    /** Whether `c` is still the claim in force (not taken over by another instance). */
    async holds(c: Claim): Promise<boolean> {
      const rows = await db.all<{ token: bigint }>("SELECT token FROM job_claims WHERE job = ? AND due = ?", [c.job, c.due]);
      return rows.length > 0 && Number(rows[0]?.token) === c.token;
    },
    /** Marks the job done for its due time (nobody takes it over after this); false when the claim was taken over. */
    async done(c: Claim): Promise<boolean> {
      const rows = await db.all<{ token: bigint }>(
        "UPDATE job_claims SET done_at = ? WHERE job = ? AND due = ? AND token = ? AND done_at IS NULL RETURNING token",
        [clock(), c.job, c.due, c.token],
      );
      return rows.length > 0;
    },
    /**
     * Something to be done once ever, as (job, due): true for the one instance that claims it first (it is done at
     * once: nobody takes it over). For what has no job around it (a reminder of one alert on one channel).
     */
    async once(job: string, due: string): Promise<boolean> {
      const c = await claims.claim(job, due);
      return c !== null && (await claims.done(c));
    },
    /**
     * Runs `fn` if this instance claims (job, due), then marks it done. A run that fails stays undone, for this or
     * another instance to take over (after the lease, or at once on PostgreSQL when this one's session is gone).
     */
    async run<T>(job: string, due: string, fn: (c: Claim) => Promise<T> | T): Promise<T | undefined> {
      const c = await claims.claim(job, due);
      if (!c) return undefined;
      const result = await fn(c);
      await claims.done(c);
      return result;
    },
    /** Drops the claims of due times older than `before` (the retention job's; they are not evidence). */
    prune: (before: number) => db.run("DELETE FROM job_claims WHERE claimed_at < ?", [Math.trunc(before)]),
  };
  return claims;
}
export type JobClaims = ReturnType<typeof jobClaims>;
