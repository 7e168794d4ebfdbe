import { join } from "node:path";
import { openDb } from "./duckdb.js";
import { openPostgresDb } from "./postgres.js";
import type { Db, Migration } from "./sql.js";

/** Part of the state database's first version (meta); later changes get versions of their own. */
export const META_MIGRATION: Migration = {
  version: 1,
  name: "meta",
  sql: `
      CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
    `,
};

/**
 * The state database: one embedded DuckDB file, `state.duckdb` in the data dir, or PostgreSQL when `url` is given
 * (AGRILUME_STATE_URL; several instances can share it). Storage owns the handle, the migration runner (versions
 * recorded in the database's `schema_migrations`) and a small key/value table (`meta`); every feature hands in its
 * own migrations and keeps its own queries in the portable subset of src/storage/sql.ts, so nothing here knows a
 * feature's tables.
 */
export async function openStateDb(dataDir: string, migrations: readonly Migration[], opts: { url?: string | undefined; instance?: string } = {}) {
  const all = [META_MIGRATION, ...migrations];
  const db: Db = opts.url
    ? await openPostgresDb(opts.url, all, { applicationName: `agrilume ${opts.instance ?? ""}`.trim().slice(0, 63) })
    : await openDb(dataDir === ":memory:" ? ":memory:" : join(dataDir, "state.duckdb"), all);
  return {
    db,
    async getMeta(key: string): Promise<string | undefined> {
      const rows = await db.all<{ value: string }>("SELECT value FROM meta WHERE key = ?", [key]);
      return rows[0]?.value;
    },
    async setMeta(key: string, value: string): Promise<void> {
      await db.run("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", [key, value]);
    },

    close: () => db.close(),
  };
}
export type StateDb = Awaited<ReturnType<typeof openStateDb>>;
