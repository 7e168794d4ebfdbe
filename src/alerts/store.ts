import { storedMessage } from "../platform/i18n.js";
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
    putAlert: (a: Alert) =>
      db.run("INSERT INTO alerts (id, state, body) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET state = excluded.state, body = excluded.body", [
        a.id,
        a.state,
        JSON.stringify(a),
      ]),
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
