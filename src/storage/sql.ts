import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * The state database as features see it, whichever engine holds it: the embedded DuckDB file (the default) or
 * PostgreSQL (AGRILUME_STATE_URL). Features write their SQL once, with `?` placeholders, in the subset both engines
 * (and, where it costs little, PostgreSQL's derivatives openGauss, Kingbase and GaussDB) accept:
 * - upserts as `INSERT … ON CONFLICT (key) DO UPDATE SET c = excluded.c` or `ON CONFLICT DO NOTHING`, never
 *   DuckDB's `INSERT OR REPLACE`/`OR IGNORE`;
 * - a field of a JSON body through `jsonText` (DuckDB's `json_extract_string`, PostgreSQL's `->>`), JSON bodies
 *   stored as text (a `JSON` column on DuckDB, `TEXT` on PostgreSQL: both read back as the string written);
 * - conditional counts as `count(CASE WHEN … THEN 1 END)` (openGauss has no aggregate `FILTER`); a derived table
 *   has an alias; no DuckDB-only function (`arg_max`, `string_split`, `starts_with`) without a `dialect` branch.
 * Integers of 64 bits read back as `bigint` on both (`Number()` them), timestamps as `Date`, doubles as numbers.
 */
export type SqlValue = string | number | bigint | boolean | null;

export type Dialect = "duckdb" | "postgres";

export type Db = {
  readonly dialect: Dialect;
  all<T = Record<string, unknown>>(sql: string, params?: SqlValue[]): Promise<T[]>;
  run(sql: string, params?: SqlValue[]): Promise<void>;
  /** Hands a large result to `onRows` in chunks (DuckDB streams it; PostgreSQL reads it with a cursor). */
  each<T = Record<string, unknown>>(sql: string, params: SqlValue[], onRows: (rows: T[]) => void): Promise<void>;
  /**
   * Runs `fn` in a transaction, serialised with every other call on this handle. Its statements go through `t`,
   * which runs them at once; a call on the Db itself from inside `fn` would wait for the transaction to end.
   */
  tx<T>(fn: (t: Tx) => Promise<T>): Promise<T>;
  /** Waits for queued statements, then closes; later calls fail with an error. */
  close(): Promise<void>;
  /**
   * A shared store only (PostgreSQL): tells every instance on the database that `topic` changed (`NOTIFY`), for
   * them to read it again. Absent on the embedded store, which no other instance reads.
   */
  notify?(topic: string, payload?: string): Promise<void>;
  /**
   * A shared store only: calls `fn` with the payload whenever an instance (this one too) notifies `topic`, and with
   * null after the listening connection was lost and made again (notifications may have been missed meanwhile).
   */
  listen?(topic: string, fn: (payload: string | null) => void): Promise<void>;
};

/** The statements of a transaction under way. */
export type Tx = Pick<Db, "dialect" | "all" | "run" | "each">;

/**
 * A schema change. Features hand theirs to storage; several owners' parts may share one version (the first version
 * of the state database is made of the registry's, the keys', the rejects' and presence's tables), and a version's
 * parts are applied together in one transaction. `postgres` is the same change for PostgreSQL where its SQL differs
 * (`DOUBLE PRECISION` for `DOUBLE`, `TEXT` for a JSON body).
 */
export type Migration = { version: number; name: string; sql: string; postgres?: string };

/** The text of field `field` (a plain name) of the JSON text in `column`, as SQL for `dialect`. */
export function jsonText(dialect: Dialect, column: string, field: string): string {
  if (!/^[A-Za-z0-9_]+$/.test(field)) throw new Error(`not a plain JSON field name: ${field}`);
  return dialect === "postgres" ? `(CAST(${column} AS json) ->> '${field}')` : `json_extract_string(${column}, '$.${field}')`;
}

/**
 * A large text a query makes (a report's claims, visits or nights, as one JSON text), to be read by a worker thread:
 * the embedded store writes it to a file from DuckDB's own threads (`file`), because a result of several MB turned
 * into a string on the service's thread held it 80–90 ms a time, and a report asks for three (docs/BENCHMARKS.md);
 * PostgreSQL's answer is the text itself (`text`). `readBigText` reads either, once.
 */
export type BigText = { file: string } | { text: string };

/** `sql`, a query of one row and one text column, as a `BigText` (its text null: `empty`). */
export async function bigText(db: Db, sql: string, params: SqlValue[], empty: string): Promise<BigText> {
  if (db.dialect === "postgres") {
    const rows = await db.all<Record<string, string | null>>(sql, params);
    const row = rows[0];
    return { text: (row ? Object.values(row)[0] : null) ?? empty };
  }
  if (bigTextDir === undefined) {
    const dir = mkdtempSync(join(tmpdir(), "agrilume-text-"));
    bigTextDir = dir;
    // (a text whose job failed before reading it goes with the directory when the process ends)
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  }
  const file = join(bigTextDir, `${randomUUID()}.txt`);
  // (a CSV of one value whose delimiter and quote are control characters no JSON text holds unescaped: the value
  // is written as it is, then a newline; the path is ours, made above)
  await db.run(
    `COPY (SELECT coalesce((${sql}), '${empty.replaceAll("'", "''")}')) TO '${file.replaceAll("'", "''")}' (FORMAT csv, HEADER false, DELIMITER E'\\x02', QUOTE E'\\x01', ESCAPE E'\\x01')`,
    params,
  );
  return { file };
}
let bigTextDir: string | undefined;

/** The text of a `BigText`; its file is removed. */
export function readBigText(t: BigText): string {
  if ("text" in t) return t.text;
  try {
    const text = readFileSync(t.file, "utf8");
    return text.endsWith("\n") ? text.slice(0, -1) : text;
  } finally {
    rmSync(t.file, { force: true });
  }
}

/**
 * Applies the migrations not yet recorded in `schema_migrations`, each version in one transaction with its record.
 * `lock` (PostgreSQL: an advisory lock) keeps two instances starting together from applying the same version twice.
 */
export async function migrate(db: Db, migrations: readonly Migration[], lock?: { take: () => Promise<void>; release: () => Promise<void> }) {
  await db.run(
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
  );
  await lock?.take();
  try {
    const done = new Set((await db.all<{ version: number }>("SELECT version FROM schema_migrations")).map((r) => Number(r.version)));
    const byVersion = new Map<number, Migration[]>();
    for (const m of migrations) byVersion.set(m.version, [...(byVersion.get(m.version) ?? []), m]);
    for (const [version, parts] of [...byVersion].sort((a, b) => a[0] - b[0])) {
      if (done.has(version)) continue;
      await db.tx(async (t) => {
        for (const m of parts) await t.run(db.dialect === "postgres" ? (m.postgres ?? m.sql) : m.sql);
        await t.run("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", [version, parts.map((m) => m.name).join(", ")]);
      });
    }
  } finally {
    await lock?.release();
  }
}

/**
 * `?` placeholders as PostgreSQL's `$1, $2…`; a `?` inside a quoted string, a quoted name or a comment stays.
 * (PostgreSQL's own `?` operators, of jsonb, are not used by the state store.)
 */
export function numberPlaceholders(sql: string): string {
  let out = "";
  let n = 0;
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i];
    if (c === "'" || c === '"') {
      const end = sql.indexOf(c, i + 1);
      const stop = end < 0 ? sql.length : end;
      out += sql.slice(i, stop + 1);
      i = stop;
    } else if (c === "-" && sql[i + 1] === "-") {
      const end = sql.indexOf("\n", i);
      const stop = end < 0 ? sql.length - 1 : end;
      out += sql.slice(i, stop + 1);
      i = stop;
    } else if (c === "?") out += `$${++n}`;
    else out += c;
  }
  return out;
}
