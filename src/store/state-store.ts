import { join } from "node:path";
import type { Family } from "../../devices/index.js";
import { ALERTS_MIGRATION } from "../alerts/store.js";
import { BLENDING_MIGRATION } from "../blending/store.js";
import { STREETLIGHT_MIGRATION } from "../streetlights/store.js";
import { VERIFICATION_MIGRATION } from "../verification/store.js";
import { type Db, type Migration, openDb } from "./duckdb.js";

/**
 * The state store: registry, credentials, API keys, rejected messages and presence history
 * (later issues add orders, alerts, reports). Embedded DuckDB file `state.duckdb` in the data dir.
 */
export const STATE_MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: "registry, keys, rejects, presence",
    sql: `
      CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
      CREATE TABLE devices (
        id VARCHAR PRIMARY KEY, family VARCHAR NOT NULL, name VARCHAR, town VARCHAR, village VARCHAR, station VARCHAR,
        lat DOUBLE, lon DOUBLE, attrs JSON NOT NULL, secret_hash VARCHAR NOT NULL, disabled BOOLEAN NOT NULL DEFAULT false,
        created_at TIMESTAMPTZ NOT NULL, updated_at TIMESTAMPTZ NOT NULL);
      CREATE TABLE api_keys (
        id VARCHAR PRIMARY KEY, name VARCHAR NOT NULL, role VARCHAR NOT NULL, key_hash VARCHAR NOT NULL UNIQUE,
        towns JSON, stations JSON, created_at TIMESTAMPTZ NOT NULL, revoked_at TIMESTAMPTZ);
      CREATE TABLE rejects (
        seq BIGINT PRIMARY KEY, device_id VARCHAR, client_id VARCHAR, topic VARCHAR NOT NULL, reason VARCHAR NOT NULL,
        detail VARCHAR NOT NULL, payload VARCHAR NOT NULL, payload_encoding VARCHAR NOT NULL, payload_bytes INTEGER NOT NULL,
        received_at TIMESTAMPTZ NOT NULL);
      CREATE TABLE reject_counts (device_id VARCHAR NOT NULL, reason VARCHAR NOT NULL, n BIGINT NOT NULL, last_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (device_id, reason));
      CREATE TABLE presence_events (device_id VARCHAR NOT NULL, online BOOLEAN NOT NULL, cause VARCHAR NOT NULL, "at" TIMESTAMPTZ NOT NULL);
    `,
  },
  BLENDING_MIGRATION,
  STREETLIGHT_MIGRATION,
  VERIFICATION_MIGRATION,
  ALERTS_MIGRATION,
];

export type DeviceRecord = {
  id: string;
  family: Family;
  name: string | null;
  town: string | null;
  village: string | null;
  station: string | null;
  lat: number | null;
  lon: number | null;
  attrs: Record<string, unknown>;
  secretHash: string;
  disabled: boolean;
  createdAt: number;
  updatedAt: number;
};

export type Role = "admin" | "operator" | "finance" | "technician";
export const ROLES: readonly Role[] = ["admin", "operator", "finance", "technician"];

export type ApiKeyRecord = {
  id: string;
  name: string;
  role: Role;
  keyHash: string;
  towns: string[] | null;
  stations: string[] | null;
  createdAt: number;
  revokedAt: number | null;
};

export type RejectRecord = {
  seq: number;
  deviceId: string | null;
  clientId: string | null;
  topic: string;
  reason: string;
  detail: string;
  payload: string;
  payloadEncoding: "utf8" | "base64";
  payloadBytes: number;
  receivedAt: number;
};

export type PresenceEvent = { deviceId: string; online: boolean; cause: string; at: number };

type DeviceRow = {
  id: string;
  family: Family;
  name: string | null;
  town: string | null;
  village: string | null;
  station: string | null;
  lat: number | null;
  lon: number | null;
  attrs: string;
  secret_hash: string;
  disabled: boolean;
  created_at: Date;
  updated_at: Date;
};

/** Most recent rejects kept per device (and for messages naming no registered device). */
export const REJECTS_KEPT_PER_DEVICE = 100;

export type StateStore = Awaited<ReturnType<typeof openStateStore>>;

export async function openStateStore(dataDir: string) {
  const db: Db = await openDb(dataDir === ":memory:" ? ":memory:" : join(dataDir, "state.duckdb"), STATE_MIGRATIONS);

  /**
   * Tens of thousands of devices share a handful of towns, villages and attribute sets: loading the
   * registry keeps one copy of each (`intern`), and one frozen attributes object per distinct set.
   */
  const interner = () => {
    const strings = new Map<string, string>();
    const attrs = new Map<string, Readonly<Record<string, unknown>>>();
    return {
      str: <T extends string | null>(x: T): T => {
        if (x === null) return x;
        const known = strings.get(x) as T | undefined;
        if (known !== undefined) return known;
        strings.set(x, x);
        return x;
      },
      attrs: (json: string) => {
        let a = attrs.get(json);
        if (!a) {
          a = Object.freeze(JSON.parse(json) as Record<string, unknown>);
          attrs.set(json, a);
        }
        return a;
      },
    };
  };
  const toDevice = (r: DeviceRow, intern = interner()): DeviceRecord => ({
    id: r.id,
    family: intern.str(r.family),
    name: r.name,
    town: intern.str(r.town),
    village: intern.str(r.village),
    station: intern.str(r.station),
    lat: r.lat,
    lon: r.lon,
    attrs: intern.attrs(r.attrs) as Record<string, unknown>,
    secretHash: r.secret_hash,
    disabled: r.disabled,
    createdAt: r.created_at.getTime(),
    updatedAt: r.updated_at.getTime(),
  });
  const deviceParams = (d: DeviceRecord) => [
    d.id,
    d.family,
    d.name,
    d.town,
    d.village,
    d.station,
    d.lat,
    d.lon,
    JSON.stringify(d.attrs),
    d.secretHash,
    d.disabled,
    new Date(d.createdAt).toISOString(),
    new Date(d.updatedAt).toISOString(),
  ];
  const INSERT_DEVICE =
    "INSERT INTO devices (id, family, name, town, village, station, lat, lon, attrs, secret_hash, disabled, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

  return {
    db,
    async getMeta(key: string): Promise<string | undefined> {
      const rows = await db.all<{ value: string }>("SELECT value FROM meta WHERE key = ?", [key]);
      return rows[0]?.value;
    },
    async setMeta(key: string, value: string): Promise<void> {
      await db.run("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", [key, value]);
    },

    /** Every device, streamed (the registry's load: a million rows materialised at once would hold far more memory). */
    async allDevices(): Promise<DeviceRecord[]> {
      const intern = interner();
      const out: DeviceRecord[] = [];
      await db.each<DeviceRow>("SELECT * FROM devices", [], (rows) => {
        for (const r of rows) out.push(toDevice(r, intern));
      });
      return out;
    },
    /** Inserts all or none. */
    async insertDevices(devices: DeviceRecord[]): Promise<void> {
      await db.tx(async (t) => {
        for (const d of devices) await t.run(INSERT_DEVICE, deviceParams(d));
      });
    },
    async updateDevice(d: DeviceRecord): Promise<void> {
      // DuckDB cannot UPDATE a row's indexed columns in place; replacing the row keeps this simple and atomic.
      await db.tx(async (t) => {
        await t.run("DELETE FROM devices WHERE id = ?", [d.id]);
        await t.run(INSERT_DEVICE, deviceParams(d));
      });
    },

    async allApiKeys(): Promise<ApiKeyRecord[]> {
      const rows = await db.all<{
        id: string;
        name: string;
        role: Role;
        key_hash: string;
        towns: string | null;
        stations: string | null;
        created_at: Date;
        revoked_at: Date | null;
      }>("SELECT * FROM api_keys ORDER BY created_at");
      return rows.map((r) => ({
        id: r.id,
        name: r.name,
        role: r.role,
        keyHash: r.key_hash,
        towns: r.towns ? (JSON.parse(r.towns) as string[]) : null,
        stations: r.stations ? (JSON.parse(r.stations) as string[]) : null,
        createdAt: r.created_at.getTime(),
        revokedAt: r.revoked_at ? r.revoked_at.getTime() : null,
      }));
    },
    async insertApiKey(k: ApiKeyRecord): Promise<void> {
      await db.run("INSERT INTO api_keys (id, name, role, key_hash, towns, stations, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)", [
        k.id,
        k.name,
        k.role,
        k.keyHash,
        k.towns ? JSON.stringify(k.towns) : null,
        k.stations ? JSON.stringify(k.stations) : null,
        new Date(k.createdAt).toISOString(),
      ]);
    },
    async revokeApiKey(id: string, at: number): Promise<void> {
      await db.run("UPDATE api_keys SET revoked_at = ? WHERE id = ?", [new Date(at).toISOString(), id]);
    },

    /** Highest WAL sequence whose rejects are recorded here (see ingest/wal.ts). */
    async rejectCheckpoint(): Promise<number> {
      const rows = await db.all<{ value: string }>("SELECT value FROM meta WHERE key = 'rejects_seq'");
      return rows[0] ? Number(rows[0].value) : 0;
    },
    /** Records rejects and their counts with the checkpoint in one transaction, so a replay never counts twice. */
    async writeRejects(rejects: RejectRecord[], checkpoint: number): Promise<void> {
      await db.tx(async (t) => {
        for (const r of rejects) {
          await t.run(
            "INSERT OR IGNORE INTO rejects (seq, device_id, client_id, topic, reason, detail, payload, payload_encoding, payload_bytes, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
              r.seq,
              r.deviceId,
              r.clientId,
              r.topic,
              r.reason,
              r.detail,
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
        await t.run("INSERT INTO meta (key, value) VALUES ('rejects_seq', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", [
          String(checkpoint),
        ]);
      });
    },
    async rejectsFor(deviceId: string | null, limit: number): Promise<{ counts: Record<string, number>; recent: RejectRecord[] }> {
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
          detail: r.detail,
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
        `DELETE FROM rejects WHERE seq IN (SELECT seq FROM (SELECT seq, row_number() OVER (PARTITION BY device_id ORDER BY seq DESC) AS rn FROM rejects) WHERE rn > ${REJECTS_KEPT_PER_DEVICE})`,
      );
    },

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

    close: () => db.close(),
  };
}
