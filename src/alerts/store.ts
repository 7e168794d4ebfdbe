import { storedMessage } from "../platform/i18n.js";
import type { Db, Migration } from "../storage/duckdb.js";
import type { Alert, HistoryEntry } from "./engine.js";

export const ALERTS_MIGRATION: Migration = {
  version: 5,
  name: "alerts, channels, silences, deliveries",
  sql: `
    CREATE TABLE alerts (id VARCHAR PRIMARY KEY, state VARCHAR NOT NULL, body JSON NOT NULL);
    CREATE TABLE channels (id VARCHAR PRIMARY KEY, body JSON NOT NULL);
    CREATE TABLE silences (id VARCHAR PRIMARY KEY, body JSON NOT NULL);
    CREATE TABLE deliveries (id VARCHAR PRIMARY KEY, channel_id VARCHAR NOT NULL, body JSON NOT NULL);
  `,
};

/** Alert records and notification settings in the state store; bodies are JSON (small tables, read whole). */
export function alertStore(db: Db) {
  const all = async <T>(table: string, where = "") =>
    (await db.all<{ body: string }>(`SELECT body FROM ${table} ${where}`)).map((r) => JSON.parse(r.body) as T);
  const put = (table: string, id: string, body: unknown) =>
    db.run(`INSERT OR REPLACE INTO ${table} (id, body) VALUES (?, ?)`, [id, JSON.stringify(body)]);
  return {
    /** Open alerts and the last 30 days of resolved ones. */
    loadAlerts: async () =>
      (await all<StoredAlert>("alerts")).filter((a) => a.state !== "resolved" || (a.resolvedAt ?? 0) > Date.now() - 30 * 86_400_000).map(fromStored),
    putAlert: (a: Alert) => db.run("INSERT OR REPLACE INTO alerts (id, state, body) VALUES (?, ?, ?)", [a.id, a.state, JSON.stringify(a)]),
    channels: <T>() => all<T>("channels"),
    putChannel: (id: string, c: unknown) => put("channels", id, c),
    deleteChannel: (id: string) => db.run("DELETE FROM channels WHERE id = ?", [id]),
    silences: <T>() => all<T>("silences"),
    putSilence: (id: string, s: unknown) => put("silences", id, s),
    deleteSilence: (id: string) => db.run("DELETE FROM silences WHERE id = ?", [id]),
    putDelivery: (id: string, channelId: string, d: unknown) =>
      db.run("INSERT OR REPLACE INTO deliveries (id, channel_id, body) VALUES (?, ?, ?)", [id, channelId, JSON.stringify(d)]),
    deliveries: <T>(channelId: string, limit: number) =>
      all<T>(
        "deliveries",
        `WHERE channel_id = '${channelId.replace(/'/g, "''")}' ORDER BY json_extract(body, '$.createdAt') DESC LIMIT ${Math.trunc(limit)}`,
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
