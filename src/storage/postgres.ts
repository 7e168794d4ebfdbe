import pg from "pg";
import { type Db, type Migration, migrate, numberPlaceholders, type SqlValue, type Tx } from "./sql.js";

/** PostgreSQL's type oids whose values are read otherwise than node-postgres does by default. */
const INT8 = 20;
const NUMERIC = 1700;
const JSON_OID = 114;
const JSONB = 3802;
/** The advisory lock two instances starting together take around the migrations ("agrilume" in its first bytes). */
const MIGRATION_LOCK = 0x616772696c75;
const EACH_CHUNK = 2048;

/**
 * Values read back as DuckDB reads them, so a feature's code sees one kind of value on either: 64-bit integers as
 * `bigint` (node-postgres gives strings), numerics as numbers (a `sum` of integers), JSON as the text written
 * (node-postgres parses it).
 */
const types = {
  getTypeParser: ((oid: number, format?: "text" | "binary") => {
    if (oid === INT8) return (v: string) => BigInt(v);
    if (oid === NUMERIC) return (v: string) => Number(v);
    if (oid === JSON_OID || oid === JSONB) return (v: string) => v;
    return pg.types.getTypeParser(oid, format ?? "text");
  }) as typeof pg.types.getTypeParser,
};

/**
 * The state database on PostgreSQL (AGRILUME_STATE_URL), with its migrations applied. One connection, and every
 * statement through one queue, as on DuckDB: a feature's statements run in the order it issued them, and a
 * transaction sees no other statement of this instance interleaved. (The state store's load is small: the
 * readings go to the telemetry store.) A lost connection (PostgreSQL restarted, the session terminated) fails the
 * statements under way; the next statement connects again.
 */
export async function openPostgresDb(url: string, migrations: readonly Migration[], opts: { applicationName?: string } = {}): Promise<Db> {
  let client: pg.Client | null = null;
  let connecting: Promise<pg.Client> | null = null;
  const connection = (): Promise<pg.Client> => {
    if (client) return Promise.resolve(client);
    connecting ??= (async () => {
      const c = new pg.Client({ connectionString: url, types, application_name: opts.applicationName ?? "agrilume" });
      // A broken connection is dropped; the statement that was running fails with its own error.
      c.on("error", () => {
        if (client === c) client = null;
      });
      c.on("end", () => {
        if (client === c) client = null;
      });
      try {
        await c.connect();
      } catch (e: unknown) {
        await c.end().catch(() => undefined);
        throw e;
      }
      client = c;
      return c;
    })().finally(() => {
      connecting = null;
    });
    return connecting;
  };

  const texts = new Map<string, string>();
  const text = (sql: string): string => {
    let t = texts.get(sql);
    if (t === undefined) {
      t = numberPlaceholders(sql);
      if (texts.size > 2000) texts.clear();
      texts.set(sql, t);
    }
    return t;
  };
  const values = (params?: SqlValue[]) => params?.map((v) => (typeof v === "bigint" ? v.toString() : v));

  let chain: Promise<unknown> = Promise.resolve();
  let closed = false;
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    if (closed) return Promise.reject(new Error("the PostgreSQL state database is closed"));
    const next = chain.then(fn, fn);
    chain = next.catch(() => undefined);
    return next;
  };

  const query = async <T>(c: pg.Client, sql: string, params?: SqlValue[]): Promise<T[]> =>
    (await c.query({ text: text(sql), values: values(params) ?? [] })).rows as T[];
  /** A large result read through a cursor, EACH_CHUNK rows at a time (inside a transaction, as cursors need). */
  const cursor = async <T>(c: pg.Client, sql: string, params: SqlValue[], onRows: (rows: T[]) => void) => {
    await c.query({ text: `DECLARE agrilume_each NO SCROLL CURSOR FOR ${text(sql)}`, values: values(params) ?? [] });
    for (;;) {
      const rows = (await c.query(`FETCH ${EACH_CHUNK} FROM agrilume_each`)).rows as T[];
      if (rows.length > 0) onRows(rows);
      if (rows.length < EACH_CHUNK) break;
    }
    await c.query("CLOSE agrilume_each");
  };
  const inTx = async <T>(fn: (c: pg.Client) => Promise<T>): Promise<T> => {
    const c = await connection();
    await c.query("BEGIN");
    try {
      const result = await fn(c);
      await c.query("COMMIT");
      return result;
    } catch (e: unknown) {
      await c.query("ROLLBACK").catch(() => undefined);
      throw e;
    }
  };

  /** LISTEN needs a connection of its own (the queue's may sit in a long transaction); made again when lost. */
  const handlers = new Map<string, Set<(payload: string | null) => void>>();
  let listener: pg.Client | null = null;
  let listening: Promise<void> | null = null;
  let relisten: NodeJS.Timeout | null = null;
  const channel = (topic: string) => {
    if (!/^[a-z_]{1,40}$/.test(topic)) throw new Error(`not a notification topic: ${topic}`);
    return `agrilume_${topic}`;
  };
  /** Tries again every second until PostgreSQL answers; then every listener reads everything again. */
  const scheduleRelisten = () => {
    if (closed || relisten) return;
    relisten = setTimeout(() => {
      relisten = null;
      startListening().then(() => {
        for (const fns of handlers.values()) for (const fn of fns) fn(null);
      }, scheduleRelisten);
    }, 1000);
  };
  const startListening = (): Promise<void> => {
    listening ??= (async () => {
      const c = new pg.Client({ connectionString: url, types, application_name: `${opts.applicationName ?? "agrilume"} listen`.slice(0, 63) });
      const lost = () => {
        if (listener !== c) return;
        listener = null;
        scheduleRelisten();
      };
      c.on("error", lost);
      c.on("end", lost);
      c.on("notification", (n) => {
        for (const fn of handlers.get(n.channel) ?? []) fn(n.payload ?? "");
      });
      try {
        await c.connect();
        for (const ch of handlers.keys()) await c.query(`LISTEN ${ch}`);
      } catch (e: unknown) {
        await c.end().catch(() => undefined);
        throw e;
      }
      listener = c;
    })().finally(() => {
      listening = null;
    });
    return listening;
  };

  const db: Db = {
    dialect: "postgres",
    notify: async (topic, payload = "") => {
      await db.run("SELECT pg_notify(?, ?)", [channel(topic), payload]);
    },
    listen: async (topic, fn) => {
      const ch = channel(topic);
      const fns = handlers.get(ch) ?? new Set();
      const first = fns.size === 0;
      fns.add(fn);
      handlers.set(ch, fns);
      if (listener && first) await listener.query(`LISTEN ${ch}`);
      else if (!listener) await startListening();
    },
    all: (sql, params) => serial(async () => query(await connection(), sql, params)),
    run: (sql, params) =>
      serial(async () => {
        await query(await connection(), sql, params);
      }),
    each: (sql, params, onRows) => serial(() => inTx((c) => cursor(c, sql, params, onRows))),
    tx: (fn) =>
      serial(() =>
        inTx((c) => {
          const t: Tx = {
            dialect: "postgres",
            all: (sql, params) => query(c, sql, params),
            run: async (sql, params) => {
              await query(c, sql, params);
            },
            each: (sql, params, onRows) => cursor(c, sql, params, onRows),
          };
          return fn(t);
        }),
      ),
    close: async () => {
      if (closed) return;
      closed = true;
      if (relisten) clearTimeout(relisten);
      await chain.catch(() => undefined);
      const c = client;
      client = null;
      await c?.end().catch(() => undefined);
      const l = listener;
      listener = null;
      await l?.end().catch(() => undefined);
    },
  };
  try {
    await migrate(db, migrations, {
      take: () => db.run(`SELECT pg_advisory_lock(${MIGRATION_LOCK})`),
      release: () => db.run(`SELECT pg_advisory_unlock(${MIGRATION_LOCK})`),
    });
  } catch (e: unknown) {
    await db.close();
    throw e;
  }
  return db;
}
