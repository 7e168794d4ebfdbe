import { type Db, jsonText, type Migration } from "../storage/sql.js";
import type { Evaluation, Tolerance } from "./batch.js";
import type { Material } from "./materials.js";
import type { WorkingHours } from "./schedule.js";

/** The tables, with the type that holds JSON (`JSON` on DuckDB, text on PostgreSQL). */
const blendingSql = (json: string) => `
    CREATE TABLE stations (id VARCHAR PRIMARY KEY, name VARCHAR NOT NULL, hours ${json} NOT NULL, created_at TIMESTAMPTZ NOT NULL);
    CREATE TABLE materials (station VARCHAR NOT NULL, code VARCHAR NOT NULL, body ${json} NOT NULL, PRIMARY KEY (station, code));
    CREATE TABLE formulas (id VARCHAR PRIMARY KEY, name VARCHAR NOT NULL, version INTEGER NOT NULL, body ${json} NOT NULL, created_at TIMESTAMPTZ NOT NULL,
      UNIQUE (name, version));
    CREATE TABLE orders (id VARCHAR PRIMARY KEY, body ${json} NOT NULL);
    CREATE TABLE batches (machine_id VARCHAR NOT NULL, batch_id VARCHAR NOT NULL, order_id VARCHAR NOT NULL, body ${json} NOT NULL,
      PRIMARY KEY (machine_id, batch_id));
  `;
export const BLENDING_MIGRATION: Migration = {
  version: 2,
  name: "blending: stations, materials, formulas, orders, batches",
  sql: blendingSql("JSON"),
  postgres: blendingSql("TEXT"),
};

export type Station = { id: string; name: string; hours: WorkingHours; createdAt: number };
export type Formula = {
  id: string;
  name: string;
  version: number;
  station: string | null;
  grade: string;
  kgPerTonne: Record<string, number>;
  trace: Record<string, number>;
  materials: string[];
  createdAt: number;
};
export type OrderState = "planned" | "running" | "paused" | "finished";
export type Order = {
  id: string;
  station: string;
  customer: string;
  crop: string;
  formulaId: string;
  targetT: number;
  bagKg: number;
  batchKg: number;
  dueDate: string;
  tolerances: Record<string, Tolerance>;
  state: OrderState;
  machineId: string | null;
  createdAt: number;
  updatedAt: number;
};
export type BatchState = "running" | "held" | "complete" | "aborted";
export type BatchRecord = {
  machineId: string;
  batchId: string;
  orderId: string;
  state: BatchState;
  startedAt: number | null;
  endedAt: number | null;
  targetKg: Record<string, number> | null;
  actualKg: Record<string, number> | null;
  bags: number;
  heldCount: number;
  events: { ts: number; event: string; reason?: string | undefined }[];
  evaluation: Evaluation | null;
};

/**
 * Blending records in the state store. Bodies are JSON; orders and formulas are read one at a time or by state.
 * `checkpointKey` names this instance's batch-record checkpoint in `meta` (per instance on a shared state store).
 */
export function blendingStore(db: Db, checkpointKey = "blending_seq") {
  const json = <T>(rows: { body: string }[]) => rows.map((r) => JSON.parse(r.body) as T);
  return {
    async stations(): Promise<Station[]> {
      const rows = await db.all<{ id: string; name: string; hours: string; created_at: Date }>("SELECT * FROM stations ORDER BY id");
      return rows.map((r) => ({ id: r.id, name: r.name, hours: JSON.parse(r.hours) as WorkingHours, createdAt: r.created_at.getTime() }));
    },
    async putStation(s: Station) {
      await db.run(
        "INSERT INTO stations (id, name, hours, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET name = excluded.name, hours = excluded.hours, created_at = excluded.created_at",
        [s.id, s.name, JSON.stringify(s.hours), new Date(s.createdAt).toISOString()],
      );
    },
    async materials(): Promise<(Material & { station: string })[]> {
      const rows = await db.all<{ station: string; body: string }>("SELECT station, body FROM materials ORDER BY station, code");
      return rows.map((r) => ({ ...(JSON.parse(r.body) as Material), station: r.station }));
    },
    async putMaterial(station: string, m: Material) {
      await db.run("INSERT INTO materials (station, code, body) VALUES (?, ?, ?) ON CONFLICT (station, code) DO UPDATE SET body = excluded.body", [
        station,
        m.code,
        JSON.stringify(m),
      ]);
    },
    async formulas(): Promise<Formula[]> {
      return json<Formula>(await db.all("SELECT body FROM formulas ORDER BY name, version"));
    },
    async formula(id: string): Promise<Formula | undefined> {
      return json<Formula>(await db.all("SELECT body FROM formulas WHERE id = ?", [id]))[0];
    },
    /** The highest version saved under `name` (0: none). */
    async formulaVersion(name: string): Promise<number> {
      const rows = await db.all<{ v: number | null }>("SELECT max(version) AS v FROM formulas WHERE name = ?", [name]);
      return rows[0]?.v ?? 0;
    },
    async insertFormula(f: Formula) {
      await db.run("INSERT INTO formulas (id, name, version, body, created_at) VALUES (?, ?, ?, ?, ?)", [
        f.id,
        f.name,
        f.version,
        JSON.stringify(f),
        new Date(f.createdAt).toISOString(),
      ]);
    },
    /** Orders not finished, or only the finished ones (the service holds the former, and reads the latter on demand). */
    async orders(which: "open" | "finished"): Promise<Order[]> {
      return json<Order>(
        await db.all(
          `SELECT body FROM orders WHERE ${jsonText(db.dialect, "body", "state")} ${which === "open" ? "<>" : "="} 'finished'
           ORDER BY CAST(${jsonText(db.dialect, "body", "createdAt")} AS BIGINT), id`,
        ),
      );
    },
    async order(id: string): Promise<Order | undefined> {
      return json<Order>(await db.all("SELECT body FROM orders WHERE id = ?", [id]))[0];
    },
    async putOrder(o: Order) {
      await db.run("INSERT INTO orders (id, body) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET body = excluded.body", [o.id, JSON.stringify(o)]);
    },
    async batchesOf(orderId: string): Promise<BatchRecord[]> {
      const rows = await db.all<{ body: string }>("SELECT body FROM batches WHERE order_id = ?", [orderId]);
      return json<BatchRecord>(rows).sort((a, b) => (a.startedAt ?? a.endedAt ?? 0) - (b.startedAt ?? b.endedAt ?? 0));
    },
    async batch(machineId: string, batchId: string): Promise<BatchRecord | undefined> {
      return json<BatchRecord>(await db.all("SELECT body FROM batches WHERE machine_id = ? AND batch_id = ?", [machineId, batchId]))[0];
    },
    async checkpoint(): Promise<number> {
      const rows = await db.all<{ value: string }>("SELECT value FROM meta WHERE key = ?", [checkpointKey]);
      return rows[0] ? Number(rows[0].value) : 0;
    },
    /** Batch records and the checkpoint in one transaction (see ingest/store-writer.ts). */
    async writeBatches(records: BatchRecord[], checkpoint: number) {
      await db.tx(async (t) => {
        for (const b of records) {
          await t.run(
            "INSERT INTO batches (machine_id, batch_id, order_id, body) VALUES (?, ?, ?, ?) ON CONFLICT (machine_id, batch_id) DO UPDATE SET order_id = excluded.order_id, body = excluded.body",
            [b.machineId, b.batchId, b.orderId, JSON.stringify(b)],
          );
        }
        await t.run("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", [
          checkpointKey,
          String(checkpoint),
        ]);
      });
    },
  };
}
export type BlendingStore = ReturnType<typeof blendingStore>;
