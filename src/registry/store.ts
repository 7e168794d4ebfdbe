import type { Family } from "../../devices/index.js";
import type { Db, Migration } from "../storage/sql.js";

/** Part of the state database's first version (devices); later changes get versions of their own. */
export const REGISTRY_MIGRATION: Migration = {
  version: 1,
  name: "devices",
  sql: `
      CREATE TABLE devices (
        id VARCHAR PRIMARY KEY, family VARCHAR NOT NULL, name VARCHAR, town VARCHAR, village VARCHAR, station VARCHAR,
        lat DOUBLE, lon DOUBLE, attrs JSON NOT NULL, secret_hash VARCHAR NOT NULL, disabled BOOLEAN NOT NULL DEFAULT false,
        created_at TIMESTAMPTZ NOT NULL, updated_at TIMESTAMPTZ NOT NULL);
    `,
  postgres: `
      CREATE TABLE devices (
        id VARCHAR PRIMARY KEY, family VARCHAR NOT NULL, name VARCHAR, town VARCHAR, village VARCHAR, station VARCHAR,
        lat DOUBLE PRECISION, lon DOUBLE PRECISION, attrs TEXT NOT NULL, secret_hash VARCHAR NOT NULL, disabled BOOLEAN NOT NULL DEFAULT false,
        created_at TIMESTAMPTZ NOT NULL, updated_at TIMESTAMPTZ NOT NULL);
    `,
};

/**
 * Each device's secret also in the form an external broker checks (Mosquitto's PBKDF2 `$7$`, secrets.ts), so Agrilume
 * can write the broker's password file. Null for a device registered before this version until its secret is seen
 * again (its next connect to the embedded broker or through EMQX's HTTP authentication) or rotated.
 */
export const REGISTRY_BROKER_HASH_MIGRATION: Migration = {
  version: 7,
  name: "device broker hashes",
  sql: "ALTER TABLE devices ADD COLUMN IF NOT EXISTS broker_hash VARCHAR;",
};

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
  /** The secret as Mosquitto's password file holds it (REGISTRY_BROKER_HASH_MIGRATION); null until known. */
  brokerHash: string | null;
  disabled: boolean;
  createdAt: number;
  updatedAt: number;
};

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
  broker_hash: string | null;
  disabled: boolean;
  created_at: Date;
  updated_at: Date;
};

/** The registry's table: every device with its place, attributes and secret hash. */
export function deviceStore(db: Db) {
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
    brokerHash: r.broker_hash,
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
    d.brokerHash,
    d.disabled,
    new Date(d.createdAt).toISOString(),
    new Date(d.updatedAt).toISOString(),
  ];
  const INSERT_DEVICE =
    "INSERT INTO devices (id, family, name, town, village, station, lat, lon, attrs, secret_hash, broker_hash, disabled, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

  return {
    /** Every device, streamed (the registry's load: a million rows materialised at once would hold far more memory). */
    async allDevices(): Promise<DeviceRecord[]> {
      const intern = interner();
      const out: DeviceRecord[] = [];
      await db.each<DeviceRow>("SELECT * FROM devices", [], (rows) => {
        for (const r of rows) out.push(toDevice(r, intern));
      });
      return out;
    },
    /** These devices (those that exist). */
    async devicesById(ids: readonly string[]): Promise<DeviceRecord[]> {
      const out: DeviceRecord[] = [];
      for (let i = 0; i < ids.length; i += 500) {
        const chunk = ids.slice(i, i + 500);
        const rows = await db.all<DeviceRow>(`SELECT * FROM devices WHERE id IN (${chunk.map(() => "?").join(", ")})`, chunk);
        for (const r of rows) out.push(toDevice(r));
      }
      return out;
    },
    /** Inserts all or none. */
    async insertDevices(devices: DeviceRecord[]): Promise<void> {
      await db.tx(async (t) => {
        for (const d of devices) await t.run(INSERT_DEVICE, deviceParams(d));
      });
    },
    /**
     * Broker hashes learnt for devices registered before they were kept, in one transaction (a column without an index),
     * a statement per 500 devices (a statement each was a prepared statement made and freed on the service's thread per
     * device: a storm of first connects queued a thousand of them, docs/BENCHMARKS.md).
     */
    async setBrokerHashes(hashes: readonly { id: string; brokerHash: string }[]): Promise<void> {
      await db.tx(async (t) => {
        for (let i = 0; i < hashes.length; i += 500) {
          const chunk = hashes.slice(i, i + 500);
          await t.run(
            `UPDATE devices SET broker_hash = v.h FROM (VALUES ${chunk.map(() => "(?, ?)").join(", ")}) AS v(id, h) WHERE devices.id = v.id`,
            chunk.flatMap((h) => [h.id, h.brokerHash]),
          );
        }
      });
    },
    async updateDevice(d: DeviceRecord): Promise<void> {
      // DuckDB cannot UPDATE a row's indexed columns in place; replacing the row keeps this simple and atomic.
      await db.tx(async (t) => {
        await t.run("DELETE FROM devices WHERE id = ?", [d.id]);
        await t.run(INSERT_DEVICE, deviceParams(d));
      });
    },
  };
}
export type DeviceStore = ReturnType<typeof deviceStore>;
