import type { Db, Migration } from "../storage/sql.js";

/** Part of the state database's first version (presence history); later changes get versions of their own. */
export const PRESENCE_MIGRATION: Migration = {
  version: 1,
  name: "presence history",
  sql: `
      CREATE TABLE presence_events (device_id VARCHAR NOT NULL, online BOOLEAN NOT NULL, cause VARCHAR NOT NULL, "at" TIMESTAMPTZ NOT NULL);
    `,
};

/**
 * When a device last spoke, kept with each offline event (state version 14): a start restores it, so a light silent for
 * hours before a restart still says when it was last heard (the readings read back at a start cover only the last hour).
 */
export const PRESENCE_LAST_SEEN_MIGRATION: Migration = {
  version: 14,
  name: "presence events keep when the device last spoke",
  sql: "ALTER TABLE presence_events ADD COLUMN last_seen TIMESTAMPTZ",
};

/** `lastSeen`: when the device last spoke, on an offline event (null: never, or an event recorded before version 14). */
export type PresenceEvent = { deviceId: string; online: boolean; cause: string; at: number; lastSeen?: number | null };

/** Online/offline transitions per device, for a device's history. */
export function presenceStore(db: Db) {
  return {
    async insertPresenceEvents(events: PresenceEvent[]): Promise<void> {
      if (events.length === 0) return;
      // One statement per 500 events, in one transaction (a statement per event was ~1 ms each: a reconnect storm
      // of many devices queued every other use of the database behind it).
      await db.tx(async (t) => {
        for (let i = 0; i < events.length; i += 500) {
          const chunk = events.slice(i, i + 500);
          await t.run(
            `INSERT INTO presence_events (device_id, online, cause, "at", last_seen) VALUES ${chunk.map(() => "(?, ?, ?, ?, ?)").join(", ")}`,
            chunk.flatMap((e) => [
              e.deviceId,
              e.online,
              e.cause,
              new Date(e.at).toISOString(),
              e.lastSeen == null ? null : new Date(e.lastSeen).toISOString(),
            ]),
          );
        }
      });
    },
    /** Every device that has ever come online (a light never among them never connected). */
    async devicesSeen(): Promise<Set<string>> {
      const rows = await db.all<{ device_id: string }>("SELECT DISTINCT device_id FROM presence_events WHERE online");
      return new Set(rows.map((r) => r.device_id));
    },
    /**
     * Deletes online/offline events from before `before`, except each device's newest "online" one (which says the device
     * has connected at least once: devicesSeen, the check for lights that never reported). docs/DATA.md.
     */
    async prunePresenceEvents(before: number): Promise<void> {
      await db.run(
        `DELETE FROM presence_events e WHERE e."at" < ?::TIMESTAMPTZ AND NOT (e.online AND e."at" = (
           SELECT max(l."at") FROM presence_events l WHERE l.device_id = e.device_id AND l.online))`,
        [new Date(before).toISOString()],
      );
    },
    /** Each device's newest online/offline event: its presence as last recorded, restored at a start. */
    async latestPresence(): Promise<PresenceEvent[]> {
      const rows = await db.all<{ device_id: string; online: boolean; cause: string; at: Date; last_seen: Date | null }>(
        `SELECT DISTINCT ON (device_id) device_id, online, cause, "at" AS at, last_seen FROM presence_events ORDER BY device_id, "at" DESC`,
      );
      return rows.map((r) => ({
        deviceId: r.device_id,
        online: r.online,
        cause: r.cause,
        at: r.at.getTime(),
        lastSeen: r.last_seen?.getTime() ?? null,
      }));
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
