import { storedMessage } from "../platform/i18n.js";
import type { Claim } from "../storage/claims.js";
import { type Db, jsonText, type Migration } from "../storage/sql.js";
import type { Alert, AlertQuery, HistoryEntry } from "./engine.js";

export const ALERTS_MIGRATION: Migration = {
  version: 5,
  name: "alerts, channels, silences, deliveries",
  sql: `
    CREATE TABLE alerts (id VARCHAR PRIMARY KEY, state VARCHAR NOT NULL, body JSON NOT NULL);
    CREATE TABLE channels (id VARCHAR PRIMARY KEY, body JSON NOT NULL);
    CREATE TABLE silences (id VARCHAR PRIMARY KEY, body JSON NOT NULL);
    CREATE TABLE deliveries (id VARCHAR PRIMARY KEY, channel_id VARCHAR NOT NULL, body JSON NOT NULL);
  `,
  postgres: `
    CREATE TABLE alerts (id VARCHAR PRIMARY KEY, state VARCHAR NOT NULL, body TEXT NOT NULL);
    CREATE TABLE channels (id VARCHAR PRIMARY KEY, body TEXT NOT NULL);
    CREATE TABLE silences (id VARCHAR PRIMARY KEY, body TEXT NOT NULL);
    CREATE TABLE deliveries (id VARCHAR PRIMARY KEY, channel_id VARCHAR NOT NULL, body TEXT NOT NULL);
  `,
};

/**
 * Issue 18: one open alert per (device, type) across every instance, as a constraint of the database. PostgreSQL: the
 * device and type as columns of their own, and a partial unique index over the open rows (openGauss, Kingbase and
 * GaussDB have partial indexes too), so a second instance's insert of another open alert for the same problem fails
 * and its engine adopts the one there. DuckDB has no partial index (and its unique indexes refuse an update that
 * moves a key within a statement); the embedded store has one instance, whose engine opens alerts from one in-memory
 * map updated synchronously: that holds it there. Its table is left as it was (two more columns made each alert's
 * write a third slower there, for nothing it needs): nothing to do but record the version.
 */
export const ALERTS_ONE_OPEN_MIGRATION: Migration = {
  version: 8,
  name: "one open alert per device and type",
  sql: "SELECT 1",
  postgres: `
    ALTER TABLE alerts ADD COLUMN device_id VARCHAR;
    ALTER TABLE alerts ADD COLUMN alert_type VARCHAR;
    UPDATE alerts SET device_id = CAST(body AS json) ->> 'deviceId', alert_type = CAST(body AS json) ->> 'type';
    CREATE UNIQUE INDEX alerts_one_open ON alerts (device_id, alert_type) WHERE state <> 'resolved';
  `,
};

/** PostgreSQL's code for a unique violation: here, another instance holds the open alert of this device and type. */
export const isOpenAlertConflict = (e: unknown) => (e as { code?: unknown } | null)?.code === "23505";

/**
 * Alert records and notification settings in the state store; bodies are JSON (channels, silences: small tables, read
 * whole). Alerts are every alert ever raised: the open ones are read at start, a resolved one when it is asked for.
 */
export function alertStore(db: Db) {
  // (values travel as parameters, never in the SQL's text: DuckDB reads that text up to its first NUL, so a NUL in an
  // id written into it broke the statement and the request answered 500 — V13)
  const all = async <T>(table: string, where = "", params: string[] = []) =>
    (await db.all<{ body: string }>(`SELECT body FROM ${table} ${where}`, params)).map((r) => JSON.parse(r.body) as T);
  const put = (table: string, id: string, body: unknown) =>
    db.run(`INSERT INTO ${table} (id, body) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET body = excluded.body`, [id, JSON.stringify(body)]);
  return {
    openAlerts: async () => (await all<StoredAlert>("alerts", "WHERE state <> 'resolved'")).map(fromStored),
    getAlert: async (id: string): Promise<Alert | undefined> =>
      (await db.all<{ body: string }>("SELECT body FROM alerts WHERE id = ?", [id])).map((r) => fromStored(JSON.parse(r.body) as StoredAlert))[0],
    /** Resolved alerts matching `q`, newest first (the engine's query: AlertQuery's filters, the reader's limits too). */
    async resolvedAlerts(q: AlertQuery): Promise<Alert[]> {
      if (q.towns?.length === 0 || q.stations?.length === 0) return [];
      const where = ["state = 'resolved'"];
      const params: string[] = [];
      const field = (name: string) => jsonText(db.dialect, "body", name);
      for (const [name, value] of [
        ["type", q.type],
        ["town", q.town],
        ["station", q.station],
      ] as const) {
        if (!value) continue;
        where.push(`${field(name)} = ?`);
        params.push(value);
      }
      for (const [name, values] of [
        ["town", q.towns],
        ["station", q.stations],
      ] as const) {
        if (!values) continue;
        where.push(`${field(name)} IN (${values.map(() => "?").join(", ")})`);
        params.push(...values);
      }
      const rows = await db.all<{ body: string }>(
        `SELECT body FROM alerts WHERE ${where.join(" AND ")} ORDER BY CAST(${field("since")} AS BIGINT) DESC LIMIT ${Math.trunc(q.limit)}`,
        params,
      );
      return rows.map((r) => fromStored(JSON.parse(r.body) as StoredAlert));
    },
    /** The open alert of a device and type (another instance's, when this one's insert conflicted with it). */
    openAlertFor: async (deviceId: string, type: string): Promise<Alert | undefined> =>
      (
        await db.all<{ body: string }>(
          db.dialect === "postgres"
            ? "SELECT body FROM alerts WHERE device_id = ? AND alert_type = ? AND state <> 'resolved'"
            : `SELECT body FROM alerts WHERE ${jsonText(db.dialect, "body", "deviceId")} = ? AND ${jsonText(db.dialect, "body", "type")} = ? AND state <> 'resolved'`,
          [deviceId, type],
        )
      ).map((r) => fromStored(JSON.parse(r.body) as StoredAlert))[0],
    /**
     * Writes an alert. On a shared store (PostgreSQL) the row is locked and read first, and the history of a change
     * made meanwhile on another instance is kept (merged by time; the state is the side with the latest entry's).
     * Returns what was written.
     */
    putAlert: async (a: Alert): Promise<Alert> => {
      if (db.dialect !== "postgres") {
        await db.run(
          "INSERT INTO alerts (id, state, body) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET state = excluded.state, body = excluded.body",
          [a.id, a.state, JSON.stringify(a)],
        );
        return a;
      }
      const write = (t: Pick<Db, "run">, body: Alert) =>
        t.run(
          "INSERT INTO alerts (id, state, device_id, alert_type, body) VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET state = excluded.state, body = excluded.body",
          [body.id, body.state, body.deviceId, body.type, JSON.stringify(body)],
        );
      return db.tx(async (t) => {
        const [row] = await t.all<{ body: string }>("SELECT body FROM alerts WHERE id = ? FOR UPDATE", [a.id]);
        const merged = row ? mergeAlert(fromStored(JSON.parse(row.body) as StoredAlert), a) : a;
        await write(t, merged);
        return merged;
      });
    },
    channels: <T>() => all<T>("channels"),
    putChannel: (id: string, c: unknown) => put("channels", id, c),
    deleteChannel: (id: string) => db.run("DELETE FROM channels WHERE id = ?", [id]),
    silences: <T>() => all<T>("silences"),
    putSilence: (id: string, s: unknown) => put("silences", id, s),
    deleteSilence: (id: string) => db.run("DELETE FROM silences WHERE id = ?", [id]),
    putDelivery: (id: string, channelId: string, d: unknown) =>
      db.run(
        "INSERT INTO deliveries (id, channel_id, body) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET channel_id = excluded.channel_id, body = excluded.body",
        [id, channelId, JSON.stringify(d)],
      ),
    /**
     * Records a delivery before it is sent, under a job's claim (issue 18): true only when `claim` is still the one in
     * force (its fencing token) and no delivery of this id was recorded before, by this or another instance.
     */
    claimDelivery: (id: string, channelId: string, d: unknown, claim: Claim): Promise<boolean> =>
      db.tx(async (t) => {
        const held = await t.all<{ token: bigint }>(
          `SELECT token FROM job_claims WHERE job = ? AND due = ?${db.dialect === "postgres" ? " FOR SHARE" : ""}`,
          [claim.job, claim.due],
        );
        if (held.length === 0 || Number(held[0]?.token) !== claim.token) return false;
        const made = await t.all<{ id: string }>(
          "INSERT INTO deliveries (id, channel_id, body) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING RETURNING id",
          [id, channelId, JSON.stringify(d)],
        );
        return made.length > 0;
      }),
    deliveries: <T>(channelId: string, limit: number) =>
      all<T>(
        "deliveries",
        `WHERE channel_id = ? ORDER BY CAST(${jsonText(db.dialect, "body", "createdAt")} AS BIGINT) DESC LIMIT ${Math.trunc(limit)}`,
        [channelId],
      ),
    /** Deletes the delivery records (sent or given up; never a pending one) made before `before` (docs/DATA.md: the
     * alerts themselves, with their history, are the evidence and are kept). */
    pruneDeliveries: (before: number) =>
      db.run(
        `DELETE FROM deliveries WHERE ${jsonText(db.dialect, "body", "status")} <> 'pending' AND CAST(${jsonText(db.dialect, "body", "createdAt")} AS BIGINT) < ?`,
        [Math.trunc(before)],
      ),
  };
}
export type AlertStore = ReturnType<typeof alertStore>;

/** Two copies of one alert changed apart: every history entry of both, by time; the fields of the later one. */
export function mergeAlert(stored: Alert, mine: Alert): Alert {
  const seen = new Set(mine.history.map((h) => JSON.stringify(h)));
  const theirs = stored.history.filter((h) => !seen.has(JSON.stringify(h)));
  if (theirs.length === 0) return mine;
  const history = [...mine.history, ...theirs].sort((x, y) => x.at - y.at);
  const last = (h: Alert["history"]) => h[h.length - 1]?.at ?? 0;
  const newer = last(stored.history) > last(mine.history) ? stored : mine;
  return { ...newer, history };
}

/** An alert as a row may hold it: rows written before messages were data have English text for the detail and the system's history. */
type StoredAlert = Omit<Alert, "detail" | "history"> & { detail: unknown; history: (HistoryEntry & { text?: unknown })[] };
function fromStored(a: StoredAlert): Alert {
  return {
    ...a,
    detail: storedMessage(a.detail),
    history: a.history.map((h) =>
      h.who === "system" && h.message === undefined && typeof h.text === "string"
        ? { at: h.at, who: h.who, action: h.action, message: storedMessage(h.text) ?? undefined }
        : h,
    ),
  };
}
