import type { Db, Migration } from "../storage/duckdb.js";

/** Part of the state database's first version (presence history); later changes get versions of their own. */
export const PRESENCE_MIGRATION: Migration = {
  version: 1,
  name: "presence history",
  sql: `
      CREATE TABLE presence_events (device_id VARCHAR NOT NULL, online BOOLEAN NOT NULL, cause VARCHAR NOT NULL, "at" TIMESTAMPTZ NOT NULL);
    `,
};

export type PresenceEvent = { deviceId: string; online: boolean; cause: string; at: number };

/** Online/offline transitions per device, for a device's history. */
export function presenceStore(db: Db) {
  return {
    async insertPresenceEvents(events: PresenceEvent[]): Promise<void> {
      if (events.length === 0) return;
      await db.tx(async (t) => {
        for (const e of events) {
          await t.run(`INSERT INTO presence_events (device_id, online, cause, "at") VALUES (?, ?, ?, ?)`, [
            e.deviceId,
            e.online,
            e.cause,
            new Date(e.at).toISOString(),
          ]);
        }
      });
    },
    async presenceEvents(deviceId: string, limit: number): Promise<PresenceEvent[]> {
      const rows = await db.all<{ online: boolean; cause: string; at: Date }>(
        `SELECT online, cause, "at" AS at FROM presence_events WHERE device_id = ? ORDER BY "at" DESC LIMIT ${Math.trunc(limit)}`,
        [deviceId],
      );
      return rows.map((r) => ({ deviceId, online: r.online, cause: r.cause, at: r.at.getTime() }));
    },
  };
}
export type PresenceStore = ReturnType<typeof presenceStore>;
