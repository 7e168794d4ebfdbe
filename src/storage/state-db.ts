import { join } from "node:path";
import { type Db, type Migration, openDb } from "./duckdb.js";

/** Part of the state database's first version (meta); later changes get versions of their own. */
export const META_MIGRATION: Migration = {
  version: 1,
  name: "meta",
  sql: `
      CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
    `,
};

/**
 * The state database: one embedded DuckDB file, `state.duckdb` in the data dir. Storage owns the handle, the
 * migration runner and a small key/value table (`meta`); every feature hands in its own migrations and keeps its
 * own queries, so nothing here knows a feature's tables.
 */
export async function openStateDb(dataDir: string, migrations: readonly Migration[]) {
  const db: Db = await openDb(dataDir === ":memory:" ? ":memory:" : join(dataDir, "state.duckdb"), [META_MIGRATION, ...migrations]);
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
