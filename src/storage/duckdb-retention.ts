import type { Db } from "./duckdb.js";
import { COMPLETE, fieldRows, foldLights, LIGHT_ROLLUPS, rolledUp } from "./duckdb-fields.js";
import type { RetentionResult } from "./telemetry-store.js";

/**
 * How long the embedded store keeps what (docs/DATA.md): raw readings `rawMs`, their hourly rollups `hourlyMs`, their
 * daily rollups `dailyMs` (null: for the life of the programme). The defaults are InfluxDB's (60 days raw, 104 weeks hourly).
 */
export type Retention = { rawMs: number; hourlyMs: number; dailyMs: number | null };

const DAY = 86_400_000;
const HOUR = 3_600_000;
const { hourly, daily } = LIGHT_ROLLUPS;
const CHINA = 8 * 3_600_000;
export const DEFAULT_RETENTION: Retention = { rawMs: 60 * DAY, hourlyMs: 104 * 7 * DAY, dailyMs: null };

/** Readings folded and deleted per step (one transaction): a fraction of a second on two shared cores, so the store
 * writer's batches, which queue on the same connection, wait at most that long. */
const STEP_ROWS = 20_000;

/** The start of the China day (00:00 UTC+8) that `ms` falls in. */
export const chinaDayStart = (ms: number) => Math.floor((ms + CHINA) / DAY) * DAY - CHINA;
const at = (ms: number) => `'${new Date(ms).toISOString()}'::TIMESTAMP_MS`;

/** The rollup rows of `input` merged with those `table` holds already for the same keys in [from, to), written back. */
const merge = (table: string, input: string, from: number, to: number) => `
  CREATE OR REPLACE TEMP TABLE roll_merged AS
    SELECT measurement, device_id, bucket, field, min(min) AS min, sum(sum) AS sum, max(max) AS max,
           arg_max(last, last_ts) AS last, max(last_ts) AS last_ts, sum(n)::BIGINT AS n
    FROM (SELECT measurement, device_id, bucket, field, min, sum, max, last, last_ts, n FROM ${input}
          UNION ALL
          SELECT h.measurement, h.device_id, h.bucket, h.field, h.min, h.sum, h.max, h.last, h.last_ts, h.n FROM ${table} h
          WHERE h.bucket >= ${at(from)} AND h.bucket < ${at(to)} AND EXISTS (SELECT 1 FROM ${input} i
            WHERE i.measurement = h.measurement AND i.device_id = h.device_id AND i.bucket = h.bucket AND i.field = h.field))
    GROUP BY measurement, device_id, bucket, field;
  DELETE FROM ${table} h WHERE h.bucket >= ${at(from)} AND h.bucket < ${at(to)} AND EXISTS (SELECT 1 FROM ${input} i
    WHERE i.measurement = h.measurement AND i.device_id = h.device_id AND i.bucket = h.bucket AND i.field = h.field);
  INSERT INTO ${table} SELECT * FROM roll_merged ORDER BY measurement, device_id, field, bucket;`;

/**
 * One retention run of the embedded store. Raw readings of every China day that ended before `now - rawMs` are folded
 * into the hourly and daily rollups and deleted, a day at a time and within a day a share of its lights at a time
 * (≤ STEP_ROWS readings a transaction), so ingest's batches go on between the steps. A reading that arrives late for a
 * day already folded (possible only when the raw retention is shorter than the 60 days of late data the protocol
 * accepts) is folded into that day's rollups by the next run. Then hourly rollups older than `hourlyMs`, daily ones
 * older than `dailyMs` (if set) and dashboard points older than `rawMs` (InfluxDB keeps those in its raw policy too)
 * are deleted, a day at a time.
 */
export async function applyRetention(
  db: Db,
  retention: Retention,
  now: number,
  opts: { stepRows?: number | undefined; signal?: AbortSignal | undefined } = {},
): Promise<RetentionResult> {
  const stepRows = opts.stepRows ?? STEP_ROWS;
  /** Stopped between steps when the service stops (each step is a transaction of its own: nothing is left half done). */
  const stopped = () => opts.signal?.aborted === true;
  const result: RetentionResult = { rolledUp: 0, prunedHourly: 0, prunedDaily: 0, prunedDerived: 0, steps: 0 };
  const rawCutoff = chinaDayStart(now - retention.rawMs);
  const first = async (table: string, col: string, from: number, to: number) => {
    const rows = await db.all<{ t: Date | null }>(`SELECT min(${col}) AS t FROM ${table} WHERE ${col} >= ${at(from)} AND ${col} < ${at(to)}`);
    return rows[0]?.t ? rows[0].t.getTime() : null;
  };
  // 1. Raw readings past retention, into the rollups.
  for (let t = await first("readings", "ts", 0, rawCutoff); t !== null && !stopped(); ) {
    const day = chinaDayStart(t);
    const end = day + DAY;
    const count = await db.all<{ n: bigint | number }>(`SELECT count(*) AS n FROM readings WHERE ts >= ${at(day)} AND ts < ${at(end)}`);
    const n = Number(count[0]?.n ?? 0);
    const shares = Math.max(1, Math.ceil(n / stepRows));
    for (let k = 0; k < shares; k++) {
      if (stopped()) return result;
      const share = `ts >= ${at(day)} AND ts < ${at(end)}${shares > 1 ? ` AND hash(device_id) % ${shares} = ${k}` : ""}`;
      await db.tx(async (tx) => {
        await tx.run(`
          CREATE OR REPLACE TEMP TABLE roll_hour AS
            SELECT measurement, device_id, time_bucket(INTERVAL '1 hour', ts) AS bucket, field, min(value) AS min, sum(value) AS sum,
                   max(value) AS max, arg_max(value, ts) AS last, max(ts) AS last_ts, count(*)::BIGINT AS n
            FROM (${fieldRows(`(SELECT * FROM readings WHERE ${share} AND NOT ${COMPLETE})`, hourly.fields, rolledUp(hourly.fields))})
            GROUP BY measurement, device_id, bucket, field;
          CREATE OR REPLACE TEMP TABLE roll_day AS
            SELECT measurement, device_id, ${at(day)} AS bucket, field, min(value) AS min, sum(value) AS sum,
                   max(value) AS max, arg_max(value, ts) AS last, max(ts) AS last_ts, count(*)::BIGINT AS n
            FROM (${fieldRows(`(SELECT * FROM readings WHERE ${share} AND NOT ${COMPLETE})`, daily.fields, rolledUp(daily.fields))})
            GROUP BY measurement, device_id, field;
          ${merge("rollup_hourly", "roll_hour", day, end)}
          ${merge("rollup_daily", "roll_day", day, end)}
          ${foldLights(hourly.table, hourly.fields, `(SELECT * FROM readings WHERE ${share})`, "time_bucket(INTERVAL '1 hour', ts)", day / HOUR, end / HOUR)}
          ${foldLights(daily.table, daily.fields, `(SELECT * FROM readings WHERE ${share})`, at(day), day / HOUR, end / HOUR)}
          DELETE FROM readings WHERE ${share};
          DROP TABLE roll_hour; DROP TABLE roll_day; DROP TABLE roll_merged;`);
      });
      result.steps++;
    }
    result.rolledUp += n;
    t = await first("readings", "ts", end, rawCutoff);
  }
  // 2. Rollups and dashboard points past theirs, a day at a time.
  const prune = async (table: string, col: string, cutoff: number) => {
    let deleted = 0;
    for (let t = await first(table, col, 0, cutoff); t !== null && !stopped(); t = await first(table, col, chinaDayStart(t) + DAY, cutoff)) {
      const to = Math.min(chinaDayStart(t) + DAY, cutoff);
      const sql = `DELETE FROM ${table} WHERE ${col} >= ${at(chinaDayStart(t))} AND ${col} < ${at(to)}`;
      deleted += await db.tx(async (tx) => (await tx.conn.run(sql)).rowsChanged);
      result.steps++;
    }
    return deleted;
  };
  const lightBucket = "make_timestamp_ms(bucket_h::BIGINT * 3600000)";
  const hourlyCutoff = chinaDayStart(now - retention.hourlyMs);
  result.prunedHourly = (await prune("rollup_hourly", "bucket", hourlyCutoff)) + (await prune(hourly.table, lightBucket, hourlyCutoff));
  if (retention.dailyMs !== null) {
    const dailyCutoff = chinaDayStart(now - retention.dailyMs);
    result.prunedDaily = (await prune("rollup_daily", "bucket", dailyCutoff)) + (await prune(daily.table, lightBucket, dailyCutoff));
  }
  result.prunedDerived = await prune("derived", "ts", rawCutoff);
  return result;
}
