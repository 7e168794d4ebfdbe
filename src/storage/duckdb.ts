import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { type DuckDBConnection, DuckDBInstance, type DuckDBValue } from "@duckdb/node-api";
import { type Migration, migrate } from "./sql.js";

export type { Migration } from "./sql.js";

/** A DuckDB database: the portable state `Db` (src/storage/sql.ts) with DuckDB's own connection, for the embedded telemetry store. */
export type Db = {
  readonly dialect: "duckdb";
  conn: DuckDBConnection;
  all<T = Record<string, unknown>>(sql: string, params?: DuckDBValue[]): Promise<T[]>;
  run(sql: string, params?: DuckDBValue[]): Promise<void>;
  /**
   * Streams a large result to `onRows` chunk by chunk (DuckDB's vectors of ~2,048 rows) instead of
   * materialising it: loading a million-row table this way costs a fraction of the native memory.
   */
  each<T = Record<string, unknown>>(sql: string, params: DuckDBValue[], onRows: (rows: T[]) => void): Promise<void>;
  /**
   * Runs `fn` in a transaction, serialised with every other call on this connection. Its statements go through
   * `t`, which runs them at once; a call on the Db itself from inside `fn` would wait for the transaction to end.
   * (An explicit handle rather than AsyncLocalStorage, which in Node 20 puts a hook on every promise of the
   * process: ~5 % of the ingest path's CPU, docs/BENCHMARKS.md.)
   */
  tx<T>(fn: (t: Tx) => Promise<T>): Promise<T>;
  /** Waits for queued statements, then closes; later calls fail with an error (never touch a closed native handle). */
  close(): Promise<void>;
};

/** The statements of a transaction under way. */
export type Tx = Pick<Db, "dialect" | "conn" | "all" | "run" | "each">;

/**
 * One DuckDB database file with its migrations applied. DuckDB connections are not safe for
 * interleaved transactions, so every statement goes through one queue.
 */
export async function openDb(path: string, migrations: readonly Migration[]): Promise<Db> {
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
  // (an error names the file it is about, for the start's message: DuckDB's own may not, e.g. "Corrupt database file")
  const instance = await DuckDBInstance.create(path).catch((e: unknown) => {
    throw Object.assign(e instanceof Error ? e : new Error(String(e)), { file: path });
  });
  const conn = await instance.connect();
  let chain: Promise<unknown> = Promise.resolve();
  let closed = false;
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    if (closed) return Promise.reject(new Error(`database ${path} is closed`));
    const next = chain.then(fn, fn);
    chain = next.catch(() => undefined);
    return next;
  };
  const rawAll = async <T>(sql: string, params?: DuckDBValue[]) => {
    const reader = await conn.runAndReadAll(sql, params);
    return reader.getRowObjectsJS() as T[];
  };
  // Statements inside a transaction run directly through this; everyone else queues.
  const direct: Tx = {
    dialect: "duckdb",
    conn,
    all: rawAll,
    run: async (sql, params) => {
      await conn.run(sql, params);
    },
    each: async (sql, params, onRows) => {
      const result = await conn.stream(sql, params);
      for await (const rows of result.yieldRowObjectJs()) onRows(rows as never);
    },
  };
  const db: Db = {
    dialect: "duckdb",
    conn,
    all: (sql, params) => serial(() => direct.all(sql, params)),
    run: (sql, params) => serial(() => direct.run(sql, params)),
    each: (sql, params, onRows) => serial(() => direct.each(sql, params, onRows)),
    tx: (fn) =>
      serial(async () => {
        await conn.run("BEGIN TRANSACTION");
        try {
          const result = await fn(direct);
          await conn.run("COMMIT");
          return result;
        } catch (e: unknown) {
          await conn.run("ROLLBACK").catch(() => undefined);
          throw e;
        }
      }),
    close: async () => {
      if (closed) return;
      closed = true;
      await chain.catch(() => undefined);
      conn.closeSync();
      instance.closeSync();
    },
  };
  await migrate(db, migrations);
  return db;
}
