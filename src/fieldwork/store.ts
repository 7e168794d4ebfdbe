import type { Db, Migration } from "../storage/sql.js";
import type { PhotoMeta, WorkOrder } from "./model.js";

/** Field work's tables: work orders (a JSON body with their history), their photos, and the answers to requests sent
 * with an Idempotency-Key (a phone sends what it made offline again until it hears an answer: each is done once). */
export const FIELDWORK_MIGRATION: Migration = {
  version: 9,
  name: "work orders, their photos, idempotent requests",
  sql: `
    CREATE TABLE work_orders (id VARCHAR PRIMARY KEY, town VARCHAR NOT NULL, state VARCHAR NOT NULL, created_at BIGINT NOT NULL, body JSON NOT NULL);
    CREATE TABLE work_photos (id VARCHAR PRIMARY KEY, order_id VARCHAR NOT NULL, media_type VARCHAR NOT NULL, data TEXT NOT NULL, body JSON NOT NULL);
    CREATE TABLE field_requests (key VARCHAR PRIMARY KEY, fingerprint VARCHAR NOT NULL, status INTEGER NOT NULL, response TEXT NOT NULL, answered_at BIGINT NOT NULL);
  `,
  postgres: `
    CREATE TABLE work_orders (id VARCHAR PRIMARY KEY, town VARCHAR NOT NULL, state VARCHAR NOT NULL, created_at BIGINT NOT NULL, body TEXT NOT NULL);
    CREATE TABLE work_photos (id VARCHAR PRIMARY KEY, order_id VARCHAR NOT NULL, media_type VARCHAR NOT NULL, data TEXT NOT NULL, body TEXT NOT NULL);
    CREATE TABLE field_requests (key VARCHAR PRIMARY KEY, fingerprint VARCHAR NOT NULL, status INTEGER NOT NULL, response TEXT NOT NULL, answered_at BIGINT NOT NULL);
  `,
};

export type StoredAnswer = { fingerprint: string; status: number; response: string };

/** Work orders and their photos in the state store. A photo's bytes are kept as base64 text (both engines; shared
 * between instances on PostgreSQL), at most AGRILUME_FIELD_PHOTO_MAX_KB each. */
export function fieldworkStore(db: Db) {
  return {
    putOrder: (o: WorkOrder) =>
      db.run(
        "INSERT INTO work_orders (id, town, state, created_at, body) VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET state = excluded.state, body = excluded.body",
        [o.id, o.town, o.state, o.createdAt, JSON.stringify(o)],
      ),
    getOrder: async (id: string): Promise<WorkOrder | undefined> =>
      (await db.all<{ body: string }>("SELECT body FROM work_orders WHERE id = ?", [id])).map((r) => JSON.parse(r.body) as WorkOrder)[0],
    /** Orders, newest first: of these states (all when none), these towns (all when undefined). */
    async orders(q: { states?: readonly string[] | undefined; towns?: readonly string[] | undefined; limit: number }): Promise<WorkOrder[]> {
      if (q.towns?.length === 0 || q.states?.length === 0) return [];
      const where: string[] = [];
      const params: string[] = [];
      if (q.states) {
        where.push(`state IN (${q.states.map(() => "?").join(", ")})`);
        params.push(...q.states);
      }
      if (q.towns) {
        where.push(`town IN (${q.towns.map(() => "?").join(", ")})`);
        params.push(...q.towns);
      }
      const rows = await db.all<{ body: string }>(
        `SELECT body FROM work_orders ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY created_at DESC, id LIMIT ${Math.trunc(q.limit)}`,
        params,
      );
      return rows.map((r) => JSON.parse(r.body) as WorkOrder);
    },
    putPhoto: (p: PhotoMeta, data: Buffer) =>
      db.run("INSERT INTO work_photos (id, order_id, media_type, data, body) VALUES (?, ?, ?, ?, ?)", [
        p.id,
        p.orderId,
        p.mediaType,
        data.toString("base64"),
        JSON.stringify(p),
      ]),
    async photo(orderId: string, id: string): Promise<{ meta: PhotoMeta; data: Buffer } | undefined> {
      const [row] = await db.all<{ data: string; body: string }>("SELECT data, body FROM work_photos WHERE order_id = ? AND id = ?", [orderId, id]);
      return row ? { meta: JSON.parse(row.body) as PhotoMeta, data: Buffer.from(row.data, "base64") } : undefined;
    },
    answer: async (key: string): Promise<StoredAnswer | undefined> =>
      (await db.all<StoredAnswer>("SELECT fingerprint, status, response FROM field_requests WHERE key = ?", [key])).map((r) => ({
        ...r,
        status: Number(r.status),
      }))[0],
    putAnswer: (key: string, a: StoredAnswer, at: number) =>
      db.run("INSERT INTO field_requests (key, fingerprint, status, response, answered_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING", [
        key,
        a.fingerprint,
        a.status,
        a.response,
        at,
      ]),
    /** Forgets answers older than `before` (a phone resends within days, not months; docs/DATA.md). */
    pruneAnswers: (before: number) => db.run("DELETE FROM field_requests WHERE answered_at < ?", [Math.trunc(before)]),
  };
}
export type FieldworkStore = ReturnType<typeof fieldworkStore>;
