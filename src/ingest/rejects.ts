import { type Message, storedMessage } from "../platform/i18n.js";
import type { Db, Migration } from "../storage/sql.js";

/** Part of the state database's first version (rejected messages); later changes get versions of their own. */
export const REJECTS_MIGRATION: Migration = {
  version: 1,
  name: "rejected messages",
  sql: `
      CREATE TABLE rejects (
        seq BIGINT PRIMARY KEY, device_id VARCHAR, client_id VARCHAR, topic VARCHAR NOT NULL, reason VARCHAR NOT NULL,
        detail VARCHAR NOT NULL, payload VARCHAR NOT NULL, payload_encoding VARCHAR NOT NULL, payload_bytes INTEGER NOT NULL,
        received_at TIMESTAMPTZ NOT NULL);
      CREATE TABLE reject_counts (device_id VARCHAR NOT NULL, reason VARCHAR NOT NULL, n BIGINT NOT NULL, last_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (device_id, reason));
    `,
};

export type RejectRecord = {
  seq: number;
  deviceId: string | null;
  clientId: string | null;
  topic: string;
  reason: string;
  /** Why, as code and parameters (stored as JSON); a string is a detail written before messages were data (an old log's). */
  detail: Message | string;
  payload: string;
  payloadEncoding: "utf8" | "base64";
  payloadBytes: number;
  receivedAt: number;
};

/** Most recent rejects kept per device (and for messages naming no registered device). */
export const REJECTS_KEPT_PER_DEVICE = 100;

/**
 * Rejected messages, kept for inspection, and their counts per device and reason. `checkpointKey` names this
 * instance's checkpoint in `meta` (each instance's log numbers its records on its own: on a shared state store
 * each instance keeps its own, `rejects_seq@<instance>`).
 */
export function rejectStore(db: Db, checkpointKey = "rejects_seq") {
  return {
    /** Highest WAL sequence whose rejects are recorded here (see ingest/wal.ts). */
    async rejectCheckpoint(): Promise<number> {
      const rows = await db.all<{ value: string }>("SELECT value FROM meta WHERE key = ?", [checkpointKey]);
      return rows[0] ? Number(rows[0].value) : 0;
    },
    /**
     * Records rejects and their counts with the checkpoint in one transaction, so a replay never counts twice. Without
     * a checkpoint (null: a light's answer the control sink found naming no command of its own) the checkpoint stays.
     */
    async writeRejects(rejects: RejectRecord[], checkpoint: number | null): Promise<void> {
      await db.tx(async (t) => {
        for (const r of rejects) {
          await t.run(
            "INSERT INTO rejects (seq, device_id, client_id, topic, reason, detail, payload, payload_encoding, payload_bytes, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [
              r.seq,
              r.deviceId,
              r.clientId,
              r.topic,
              r.reason,
              typeof r.detail === "string" ? r.detail : JSON.stringify(r.detail),
              r.payload,
              r.payloadEncoding,
              r.payloadBytes,
              new Date(r.receivedAt).toISOString(),
            ],
          );
          await t.run(
            `INSERT INTO reject_counts (device_id, reason, n, last_at) VALUES (?, ?, 1, ?)
             ON CONFLICT (device_id, reason) DO UPDATE SET n = reject_counts.n + 1, last_at = excluded.last_at`,
            [r.deviceId ?? "", r.reason, new Date(r.receivedAt).toISOString()],
          );
        }
        if (checkpoint === null) return;
        await t.run("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", [
          checkpointKey,
          String(checkpoint),
        ]);
      });
    },
    async rejectsFor(
      deviceId: string | null,
      limit: number,
    ): Promise<{ counts: Record<string, number>; recent: (Omit<RejectRecord, "detail"> & { detail: Message | null })[] }> {
      const key = deviceId ?? "";
      // One transaction, so the counts and the list are of the same moment (a store batch can land between two reads).
      const { counts, recent } = await db.tx(async (t) => ({
        counts: await t.all<{ reason: string; n: bigint | number }>("SELECT reason, n FROM reject_counts WHERE device_id = ?", [key]),
        recent: await t.all<{
          seq: bigint | number;
          device_id: string | null;
          client_id: string | null;
          topic: string;
          reason: string;
          detail: string;
          payload: string;
          payload_encoding: "utf8" | "base64";
          payload_bytes: number;
          received_at: Date;
        }>(
          `SELECT * FROM rejects WHERE ${deviceId === null ? "device_id IS NULL" : "device_id = ?"} ORDER BY seq DESC LIMIT ${Math.trunc(limit)}`,
          deviceId === null ? [] : [deviceId],
        ),
      }));
      return {
        counts: Object.fromEntries(counts.map((c) => [c.reason, Number(c.n)])),
        recent: recent.map((r) => ({
          seq: Number(r.seq),
          deviceId: r.device_id,
          clientId: r.client_id,
          topic: r.topic,
          reason: r.reason,
          detail: storedMessage(r.detail),
          payload: r.payload,
          payloadEncoding: r.payload_encoding,
          payloadBytes: r.payload_bytes,
          receivedAt: r.received_at.getTime(),
        })),
      };
    },
    /** Keeps the most recent rejects per device; counts are kept whole. */
    async pruneRejects(): Promise<void> {
      await db.run(
        `DELETE FROM rejects WHERE seq IN (SELECT seq FROM (SELECT seq, row_number() OVER (PARTITION BY device_id ORDER BY seq DESC) AS rn FROM rejects) AS ranked WHERE rn > ${REJECTS_KEPT_PER_DEVICE})`,
      );
    },
  };
}
export type RejectStore = ReturnType<typeof rejectStore>;
