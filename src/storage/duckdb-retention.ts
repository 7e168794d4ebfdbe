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

/** How long after an hour ends it is rolled up: readings reach the store seconds after they are made (a batch, the
 * store writer's queue), so an hour is left open a little longer; a reading later than this is a late one. */
export const ROLL_GRACE_MS = 10 * 60_000;
/** The meta key of the live rollups' watermark: every reading before it is in the rollups (or in `rollup_late`). */
export const ROLLED_TO = "rolled_to";
/** The meta key of the time from which raw holds every reading (the start of the first China day retention left). */
export const RAW_FROM = "raw_from";

/** Where the live rollups stand: `to` is the watermark (in meta as well); `target` is never below it, and is raised
 * before a step that moves the watermark is queued, so that a writer comparing its readings with it never misses one. */
export type Rolling = { to: number; target: number };
export type RollUpResult = { hours: number; late: number; steps: number };

/**
 * SQL: the readings of `src` (a relation with the readings table's columns) folded into the hourly and daily rollups,
 * added to what they hold for the same keys (sums, not averages, so that rows combine exactly). `from`, `to`: the
 * range of their timestamps, which bounds the rollup rows looked at.
 */
function foldSql(src: string, from: number, to: number): string {
  const day = "time_bucket(INTERVAL '1 day', ts, INTERVAL '-8 hours')";
  const hour = "time_bucket(INTERVAL '1 hour', ts)";
  const d0 = chinaDayStart(from);
  const d1 = chinaDayStart(to - 1) + DAY;
  const h0 = Math.floor(from / HOUR) * HOUR;
  const h1 = Math.ceil(to / HOUR) * HOUR;
  const stats = `min(value) AS min, sum(value) AS sum, max(value) AS max, arg_max(value, ts) AS last, max(ts) AS last_ts, count(*)::BIGINT AS n`;
  return `
    CREATE OR REPLACE TEMP TABLE roll_hour AS
      SELECT measurement, device_id, ${hour} AS bucket, field, ${stats}
      FROM (${fieldRows(`(SELECT * FROM ${src} WHERE NOT ${COMPLETE})`, hourly.fields, rolledUp(hourly.fields))})
      GROUP BY measurement, device_id, bucket, field;
    CREATE OR REPLACE TEMP TABLE roll_day AS
      SELECT measurement, device_id, ${day} AS bucket, field, ${stats}
      FROM (${fieldRows(`(SELECT * FROM ${src} WHERE NOT ${COMPLETE})`, daily.fields, rolledUp(daily.fields))})
      GROUP BY measurement, device_id, bucket, field;
    ${merge("rollup_hourly", "roll_hour", h0, h1)}
    ${merge("rollup_daily", "roll_day", d0, d1)}
    ${foldLights(hourly.table, hourly.fields, src, hour, h0 / HOUR, h1 / HOUR)}
    ${foldLights(daily.table, daily.fields, src, day, d0 / HOUR, d1 / HOUR)}
    DROP TABLE roll_hour; DROP TABLE roll_day; DROP TABLE roll_merged;`;
}

/**
 * The live rollups (docs/DATA.md): readings are rolled up while raw still holds them, so that an hourly or daily
 * aggregate reads whole buckets from the rollups and only what came after the watermark from raw.
 *
 * 1. Late readings: a reading stored with a timestamp before the watermark (a buffered night, the write-ahead log's
 *    refill after a crash) was copied into `rollup_late` by the same transaction that stored it (and only if it was
 *    new, so never twice); here it is added to its hour's and day's rollups and taken out of `rollup_late`, in one
 *    transaction per step (a China day, ≤ `stepRows` readings a step, a share of the day's lights).
 * 2. Closed hours: the readings from the watermark to the last hour that ended `ROLL_GRACE_MS` before `now` are
 *    folded, and the watermark moved past them, in one transaction per step (whole hours: up to the day's end, as many
 *    as hold ≤ `stepRows` readings, at least one). A day's rollup row so holds its readings before the watermark; the
 *    aggregate adds those after it from raw.
 *
 * Nothing is ever counted twice: a reading is folded either with its hour (it was in raw when the watermark moved past
 * it) or from `rollup_late` (it was stored after), each in the transaction that moves it on; retention only deletes.
 */
export async function rollUp(
  db: Db,
  roll: Rolling,
  now: number,
  opts: { stepRows?: number | undefined; signal?: AbortSignal | undefined } = {},
): Promise<RollUpResult> {
  const stepRows = opts.stepRows ?? STEP_ROWS;
  const stopped = () => opts.signal?.aborted === true;
  const result: RollUpResult = { hours: 0, late: 0, steps: 0 };
  const one = async (sql: string) => (await db.all<{ v: Date | bigint | number | null }>(sql))[0]?.v ?? null;
  const time = (v: Date | bigint | number | null) => (v instanceof Date ? v.getTime() : null);
  // 1. late readings, a day at a time
  for (let t = time(await one("SELECT min(ts) AS v FROM rollup_late")); t !== null && !stopped(); ) {
    const day = chinaDayStart(t);
    const inDay = `ts >= ${at(day)} AND ts < ${at(day + DAY)}`;
    const n = Number((await one(`SELECT count(*) AS v FROM rollup_late WHERE ${inDay}`)) ?? 0);
    const shares = Math.max(1, Math.ceil(n / stepRows));
    for (let k = 0; k < shares; k++) {
      if (stopped()) return result;
      const share = `${inDay}${shares > 1 ? ` AND hash(device_id) % ${shares} = ${k}` : ""}`;
      await db.tx(async (tx) => {
        await tx.run(`${foldSql(`(SELECT * FROM rollup_late WHERE ${share})`, day, day + DAY)}
          DELETE FROM rollup_late WHERE ${share};`);
      });
      result.steps++;
    }
    result.late += n;
    t = time(await one("SELECT min(ts) AS v FROM rollup_late"));
  }
  // 2. closed hours, from the watermark on
  const target = Math.floor((now - ROLL_GRACE_MS) / HOUR) * HOUR;
  while (roll.to < target && !stopped()) {
    const from = roll.to;
    const next = time(await one(`SELECT min(ts) AS v FROM readings WHERE ts >= ${at(from)} AND ts < ${at(target)}`));
    let to = target;
    // the hours the watermark moves (a fresh store's, whose watermark is 0, from its first reading on)
    let first = from > 0 ? from : target;
    if (next !== null) {
      const h = Math.floor(next / HOUR) * HOUR;
      if (from === 0) first = h;
      const n = Number((await one(`SELECT count(*) AS v FROM readings WHERE ts >= ${at(h)} AND ts < ${at(h + HOUR)}`)) ?? 0);
      const hours = Math.max(1, Math.floor(stepRows / Math.max(1, n)));
      to = Math.min(target, chinaDayStart(h) + DAY, h + hours * HOUR);
    }
    // [from, to), not [h, to): a reading stored in [from, h) since the look above is folded too, not skipped
    roll.target = Math.max(roll.target, to);
    await db.tx(async (tx) => {
      await tx.run(`${foldSql(`(SELECT * FROM readings WHERE ts >= ${at(from)} AND ts < ${at(to)})`, from, to)}
        INSERT INTO meta (key, value) VALUES ('${ROLLED_TO}', '${to}') ON CONFLICT (key) DO UPDATE SET value = excluded.value;`);
    });
    roll.to = to;
    result.hours += (to - first) / HOUR;
    result.steps++;
  }
  return result;
}

/**
 * One retention run of the embedded store. First the live rollups (rollUp), so that every reading before the
 * watermark is in them; then raw readings of every China day that ended before `now - rawMs` (and before the
 * watermark) are deleted, a day at a time and within a day a share of its lights at a time (≤ STEP_ROWS readings a
 * transaction), so ingest's batches go on between the steps. They were folded when their hour closed, or from
 * `rollup_late` when they came late: nothing is folded here, so nothing twice. Then hourly rollups older than
 * `hourlyMs`, daily ones older than `dailyMs` (if set) and dashboard points older than `rawMs` (InfluxDB keeps those
 * in its raw policy too) are deleted, a day at a time.
 */
export async function applyRetention(
  db: Db,
  retention: Retention,
  roll: Rolling,
  now: number,
  opts: { stepRows?: number | undefined; signal?: AbortSignal | undefined } = {},
): Promise<RetentionResult> {
  const stepRows = opts.stepRows ?? STEP_ROWS;
  /** Stopped between steps when the service stops (each step is a transaction of its own: nothing is left half done). */
  const stopped = () => opts.signal?.aborted === true;
  const result: RetentionResult = { rolledUp: 0, prunedHourly: 0, prunedDaily: 0, prunedDerived: 0, steps: 0 };
  const rolled = await rollUp(db, roll, now, opts);
  result.steps += rolled.steps;
  if (stopped()) return result;
  const rawCutoff = Math.min(chinaDayStart(now - retention.rawMs), chinaDayStart(roll.to));
  const first = async (table: string, col: string, from: number, to: number) => {
    const rows = await db.all<{ t: Date | null }>(`SELECT min(${col}) AS t FROM ${table} WHERE ${col} >= ${at(from)} AND ${col} < ${at(to)}`);
    return rows[0]?.t ? rows[0].t.getTime() : null;
  };
  // 1. Raw readings past retention (all in the rollups already), deleted.
  for (let t = await first("readings", "ts", 0, rawCutoff); t !== null && !stopped(); ) {
    const day = chinaDayStart(t);
    const end = day + DAY;
    const count = await db.all<{ n: bigint | number }>(`SELECT count(*) AS n FROM readings WHERE ts >= ${at(day)} AND ts < ${at(end)}`);
    const n = Number(count[0]?.n ?? 0);
    const shares = Math.max(1, Math.ceil(n / stepRows));
    let deleted = 0;
    for (let k = 0; k < shares; k++) {
      if (stopped()) {
        result.rolledUp += deleted;
        return result;
      }
      const share = `ts >= ${at(day)} AND ts < ${at(end)}${shares > 1 ? ` AND hash(device_id) % ${shares} = ${k}` : ""}`;
      // (raw_from moves past the day with its first share: an aggregate takes the day's buckets from the rollups whole
      // from then on, not from what raw holds of them)
      const moved =
        k === 0
          ? `INSERT INTO meta (key, value) VALUES ('${RAW_FROM}', '${end}')
             ON CONFLICT (key) DO UPDATE SET value = greatest(meta.value::BIGINT, excluded.value::BIGINT)::VARCHAR;`
          : "";
      deleted += await db.tx(async (tx) => {
        if (moved) await tx.run(moved);
        return (await tx.conn.run(`DELETE FROM readings WHERE ${share}`)).rowsChanged;
      });
      result.steps++;
    }
    result.rolledUp += deleted;
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
