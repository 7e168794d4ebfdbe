import { join } from "node:path";
import {
  BIGINT,
  BOOLEAN,
  DOUBLE,
  DuckDBDataChunk,
  type DuckDBTimestampMillisecondsValue,
  type DuckDBValue,
  type DuckDBVector,
  TIMESTAMP_MS,
  timestampMillisValue,
  VARCHAR,
} from "@duckdb/node-api";
import { type Migration, openDb, type Tx } from "./duckdb.js";
import {
  COLUMNS,
  fieldRows,
  LIGHT_ROLLUPS,
  lightRollupColumns,
  lightRollupRows,
  PAYLOAD_COLUMNS,
  payloadOf,
  READINGS_COLUMNS,
  splitTyped,
  TYPED_MEASUREMENT,
  typedAggRows,
  typedSelect,
} from "./duckdb-fields.js";
import { applyRetention, DEFAULT_RETENTION, type Retention } from "./duckdb-retention.js";
import {
  type AggQuery,
  type AggRow,
  EVERY_MS,
  type Every,
  type RawQuery,
  type RawRow,
  type RetentionResult,
  type StoredReading,
  type TelemetryStore,
  type TimeSpan,
  timeSpans,
} from "./telemetry-store.js";

export const TELEMETRY_MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: "messages and points",
    sql: `
      CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
      CREATE TABLE messages (measurement VARCHAR NOT NULL, device_id VARCHAR NOT NULL, ts TIMESTAMP_MS NOT NULL,
        received_at TIMESTAMP_MS NOT NULL, seq BIGINT NOT NULL, town VARCHAR, village VARCHAR, station VARCHAR, payload VARCHAR NOT NULL);
      CREATE TABLE points (measurement VARCHAR NOT NULL, device_id VARCHAR NOT NULL, ts TIMESTAMP_MS NOT NULL, seq BIGINT NOT NULL,
        field VARCHAR NOT NULL, value DOUBLE NOT NULL);
    `,
  },
  {
    version: 2,
    name: "derived points for dashboards",
    sql: "CREATE TABLE derived (measurement VARCHAR NOT NULL, ts TIMESTAMP_MS NOT NULL, tags JSON NOT NULL, fields JSON NOT NULL);",
  },
  {
    version: 3,
    // Writing a row per numeric field (15 a streetlight reading) cost DuckDB three quarters of a batch's time, on the
    // same two cores as ingest; a device's aggregates are now read from its messages (docs/BENCHMARKS.md).
    name: "numeric fields found in the payload when aggregating, not stored as points",
    sql: "DROP TABLE points;",
  },
  {
    version: 4,
    // Readings older than the raw retention are folded into these before they are deleted (applyRetention). Sums, not
    // averages, so that a rollup and raw readings (or a late reading folded in later) combine exactly. No primary key:
    // an index over years of rollups would cost more memory than the rows; the retention job merges by its own range.
    name: "hourly and daily rollups",
    sql: `
      CREATE TABLE rollup_hourly (measurement VARCHAR NOT NULL, device_id VARCHAR NOT NULL, bucket TIMESTAMP_MS NOT NULL, field VARCHAR NOT NULL,
        min DOUBLE NOT NULL, sum DOUBLE NOT NULL, max DOUBLE NOT NULL, last DOUBLE NOT NULL, last_ts TIMESTAMP_MS NOT NULL, n BIGINT NOT NULL);
      CREATE TABLE rollup_daily (measurement VARCHAR NOT NULL, device_id VARCHAR NOT NULL, bucket TIMESTAMP_MS NOT NULL, field VARCHAR NOT NULL,
        min DOUBLE NOT NULL, sum DOUBLE NOT NULL, max DOUBLE NOT NULL, last DOUBLE NOT NULL, last_ts TIMESTAMP_MS NOT NULL, n BIGINT NOT NULL);
    `,
  },
  {
    version: 5,
    // A reading as JSON text was ~89 bytes on disk and every aggregate parsed it (docs/BENCHMARKS.md "Size of a district").
    // Streetlight readings now go into typed columns (duckdb-fields.ts), the rest of their payload as text that repeats;
    // every other reading (and any that does not fit) keeps its payload as text. The old rows are converted here.
    name: "readings in typed columns",
    sql: `
      CREATE TABLE readings (${READINGS_COLUMNS});
      INSERT INTO readings ${typedSelect("messages")};
      DROP TABLE messages;
    `,
  },
  {
    version: 6,
    // Streetlight readings' rollups a row per light and bucket with a column per field (duckdb-fields.ts LIGHT_ROLLUPS),
    // of the fields charts read only: a row per field was 6.8 kB a light-day (docs/BENCHMARKS.md). Rollups made before
    // stay in rollup_hourly and rollup_daily, where other measurements' rollups go on being made, until they are pruned.
    name: "streetlight rollups a row per light and bucket",
    sql: Object.values(LIGHT_ROLLUPS)
      .map((r) => `CREATE TABLE ${r.table} (${lightRollupColumns(r.fields)});`)
      .join("\n"),
  },
];

/** Bucket widths; a day is a China day (UTC+8: buckets offset by -8 h from UTC midnight), as people there count days. */
const BUCKET: Record<AggQuery["every"], string> = { minute: "1 minute", hour: "1 hour", day: "1 day" };
const bucketOf = (every: Every, col: string) => `time_bucket(INTERVAL '${BUCKET[every]}', ${col}${every === "day" ? ", INTERVAL '-8 hours'" : ""})`;

/**
 * Embedded telemetry store on DuckDB (`telemetry.duckdb`). Columnar, so aggregation over a
 * time range is a scan of two columns; no index is kept, because duplicate detection only
 * looks at the rows in the batch's own time spans (`timeSpans`) and DuckDB's zone maps skip the rest.
 */
export async function createDuckDbTelemetryStore(dataDir: string, opts: { retention?: Retention; stepRows?: number } = {}): Promise<TelemetryStore> {
  const retention = opts.retention ?? DEFAULT_RETENTION;
  let retentionRun: Promise<RetentionResult> | null = null;
  const db = await openDb(dataDir === ":memory:" ? ":memory:" : join(dataDir, "telemetry.duckdb"), TELEMETRY_MIGRATIONS);
  // Temp tables live per connection: create the staging tables on every open.
  // A batch is split into the readings' columns in JavaScript as it is staged (splitTyped); what goes on to `readings` is
  // then a copy of the new rows. (It has no `writeLines`: DuckDB splitting the log's lines cost it 2–3 times the CPU of
  // the whole batch, more than the split and the appender cost the service's thread: docs/BENCHMARKS.md.)
  await db.run(`CREATE TEMP TABLE IF NOT EXISTS stage_readings (${READINGS_COLUMNS.replace(/ NOT NULL/g, "")});`);

  type Row = { ts: Date; received_at: Date; measurement: string; typed: boolean; rest: string };
  const toRaw = (r: Row): RawRow => ({
    ts: r.ts.getTime(),
    receivedAt: r.received_at.getTime(),
    measurement: r.measurement,
    payload: payloadOf(r),
  });

  /**
   * Aggregates of many devices in one query (up to 1,000 at a time), by device. Raw readings in the range, combined per
   * bucket with the rollups of readings already pruned from raw (hour and day; a reading is in one or the other, moved in
   * one transaction, so nothing counts twice). Within the raw retention the rollups hold nothing and the answer is the raw
   * one; beyond it, whole buckets come from the rollups.
   */
  const aggregateMany = async (deviceIds: readonly string[], q: Omit<AggQuery, "deviceId">) => {
    const out = new Map<string, AggRow[]>();
    const width = EVERY_MS[q.every];
    const fields = q.fields ?? [];
    const asked = fields.length ? fields : undefined;
    const fieldFilter = fields.length ? `AND field IN (${fields.map(() => "?").join(", ")})` : "";
    const rollup = q.every === "minute" ? null : q.every === "hour" ? "rollup_hourly" : "rollup_daily";
    const lights = q.every === "minute" || q.measurement !== TYPED_MEASUREMENT ? null : LIGHT_ROLLUPS[q.every === "hour" ? "hourly" : "daily"];
    for (let i = 0; i < deviceIds.length; i += 1000) {
      const ids = deviceIds.slice(i, i + 1000);
      const idList = `device_id IN (${ids.map(() => "?").join(", ")})`;
      const params: string[] = [...ids, q.measurement, iso(q.from), iso(q.to), ...fields];
      if (rollup) params.push(...ids, q.measurement, iso(q.from - width), iso(q.to), ...fields);
      // a streetlight's rollups, a row per light and bucket (the device ids as parameters, the bounds numbers computed here)
      const lightRows = lights
        ? lightRollupRows(
            lights.table,
            lights.fields,
            asked,
            // bounds on the column itself, so that DuckDB's zone maps skip the row groups of other times
            `${idList} AND bucket_h BETWEEN ${Math.floor((q.from - width) / HOUR) + 1} AND ${Math.ceil(q.to / HOUR) - 1}`,
          )
        : null;
      if (lightRows) params.push(...ids);
      // Typed readings are read by their columns (only those asked for), grouped a row per device and bucket before they
      // are split into a row per field; the others from their payload's text.
      const typedRows = q.measurement === TYPED_MEASUREMENT ? typedAggRows("src", bucketOf(q.every, "ts"), asked) : null;
      const rows = await db.all<{
        device_id: string;
        bucket: Date;
        field: string;
        min: number;
        avg: number;
        max: number;
        last: number;
        n: bigint | number;
      }>(
        `WITH src AS (SELECT * FROM readings WHERE ${idList} AND measurement = ? AND ts >= ?::TIMESTAMP_MS AND ts < ?::TIMESTAMP_MS),
         raw AS (
           ${typedRows ? `${typedRows} UNION ALL` : ""}
           SELECT device_id, ${bucketOf(q.every, "ts")} AS bucket, field, min(value) AS min, sum(value) AS sum, max(value) AS max,
                  arg_max(value, ts) AS last, max(ts) AS last_ts, count(*) AS n
           FROM (${fieldRows("src", typedRows ? [] : asked)})
           WHERE true ${fieldFilter}
           GROUP BY device_id, bucket, field)
         SELECT device_id, bucket, field, min(min) AS min, sum(sum) / sum(n) AS avg, max(max) AS max, arg_max(last, last_ts) AS last, sum(n) AS n
         FROM (SELECT * FROM raw
               ${rollup ? `UNION ALL SELECT device_id, bucket, field, min, sum, max, last, last_ts, n FROM ${rollup} WHERE ${idList} AND measurement = ? AND bucket > ?::TIMESTAMP_MS AND bucket < ?::TIMESTAMP_MS ${fieldFilter}` : ""}
               ${lightRows ? `UNION ALL ${lightRows}` : ""})
         GROUP BY device_id, bucket, field ORDER BY device_id, bucket, field`,
        params,
      );
      for (const r of rows) {
        const list = out.get(r.device_id) ?? [];
        list.push({ ts: r.bucket.getTime(), field: r.field, min: r.min, avg: r.avg, max: r.max, last: r.last, count: Number(r.n) });
        out.set(r.device_id, list);
      }
    }
    return out;
  };

  /** Whether stage_readings may hold rows of an earlier batch (true until a batch has emptied it). */
  let stageDirty = true;
  /** One transaction: `stage` fills stage_readings (null: an empty batch) and says the spans its readings lie in, then the rest in one round trip. */
  const writeBatch = async (checkpoint: number, stage: ((t: Tx) => Promise<TimeSpan[]>) | null) => {
    const dirty = stageDirty;
    stageDirty = true;
    await db.tx(async (t) => {
      if (!stage) {
        await t.run("INSERT INTO meta (key, value) VALUES ('seq', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", [String(checkpoint)]);
        return;
      }
      // stage_readings is emptied at the end of each batch; after a failed one it may still hold rows.
      if (dirty) await t.run("DELETE FROM stage_readings");
      const spans = await stage(t);
      // One round trip for the rest of the batch: under a full ingest load each await on DuckDB waits a turn
      // of a busy event loop, so fewer of them is what keeps the store near the ingest rate (docs/BENCHMARKS.md).
      // The values inlined are numbers this function computed, never text from a device.
      const at = (ms: number) => `'${new Date(ms).toISOString()}'::TIMESTAMP_MS`;
      // First copy of each (measurement, device, ts), and only if not stored already: one statement per span, so the
      // search for stored copies reads only the row groups of that span (zone maps), never the days between two spans.
      const inserts = spans.map(
        ([from, to]) =>
          `INSERT INTO readings SELECT * EXCLUDE (rn) FROM (
           SELECT *, row_number() OVER (PARTITION BY measurement, device_id, ts ORDER BY seq) AS rn FROM stage_readings
           WHERE ts BETWEEN ${at(from)} AND ${at(to)}) s
         WHERE rn = 1 AND NOT EXISTS (
           SELECT 1 FROM readings m WHERE m.ts BETWEEN ${at(from)} AND ${at(to)}
             AND m.ts = s.ts AND m.device_id = s.device_id AND m.measurement = s.measurement);`,
      );
      await t.run(
        `${inserts.join("\n")}
         DELETE FROM stage_readings;
         INSERT INTO meta (key, value) VALUES ('seq', '${Math.trunc(checkpoint)}') ON CONFLICT (key) DO UPDATE SET value = excluded.value;`,
      );
    });
    stageDirty = false; // committed: the stage was emptied with the batch (or was not touched)
  };
  return {
    kind: "embedded",
    async write(batch, checkpoint) {
      await writeBatch(
        checkpoint,
        batch.length === 0
          ? null
          : async (t) => {
              // One row per reading, staged so that duplicates (within the batch and against what is stored) are left out.
              // Column by column into data chunks (a number is written into the chunk's own array), not value by value
              // through the appender: its calls into the binding, ~25 a reading, cost the service's thread more than the
              // split itself (docs/BENCHMARKS.md).
              const msgs = await t.conn.createAppender("stage_readings", "main", "temp");
              for (let at = 0; at < batch.length; at += CHUNK_ROWS) {
                const n = Math.min(CHUNK_ROWS, batch.length - at);
                const chunk = DuckDBDataChunk.create(STAGE_TYPES, n);
                const vec = <T extends DuckDBValue>(i: number) => chunk.getColumnVector(i) as DuckDBVector<T>;
                const [measurement, deviceId, ts, receivedAt] = [vec<string>(0), vec<string>(1), vec<TimestampMs>(2), vec<TimestampMs>(3)];
                const [seq, town, village, station] = [vec<bigint>(4), vec<string>(5), vec<string>(6), vec<string>(7)];
                const fields = COLUMNS.map((_, i) => vec<number | boolean>(8 + i));
                const [typed, rest] = [vec<boolean>(8 + COLUMNS.length), vec<string>(9 + COLUMNS.length)];
                for (let j = 0; j < n; j++) {
                  const r = batch[at + j] as StoredReading;
                  measurement.setItem(j, r.measurement);
                  deviceId.setItem(j, r.deviceId);
                  ts.setItem(j, timestampMillisValue(BigInt(Math.trunc(r.ts))));
                  receivedAt.setItem(j, timestampMillisValue(BigInt(Math.trunc(r.receivedAt))));
                  seq.setItem(j, BigInt(r.seq));
                  town.setItem(j, r.tags.town ?? null);
                  village.setItem(j, r.tags.village ?? null);
                  station.setItem(j, r.tags.station ?? null);
                  const split = splitTyped(r.measurement, r.ts, r.payload);
                  for (let i = 0; i < fields.length; i++) (fields[i] as DuckDBVector<number | boolean>).setItem(j, split?.values[i] ?? null);
                  typed.setItem(j, split !== null);
                  rest.setItem(j, split ? split.rest : JSON.stringify(r.payload));
                }
                for (let i = 0; i < STAGE_TYPES.length; i++) chunk.getColumnVector(i).flush();
                msgs.appendDataChunk(chunk);
              }
              msgs.closeSync();
              return timeSpans(batch.map((r) => r.ts));
            },
      );
    },
    async checkpoint() {
      const rows = await db.all<{ value: string }>("SELECT value FROM meta WHERE key = 'seq'");
      return rows[0] ? Number(rows[0].value) : 0;
    },
    async raw(q: RawQuery) {
      const params = [q.deviceId, iso(q.from), iso(q.to)];
      if (q.measurement) params.push(q.measurement);
      const rows = await db.all<Row>(
        `SELECT ts, received_at, measurement, ${PAYLOAD_COLUMNS} FROM readings WHERE device_id = ? AND ts >= ?::TIMESTAMP_MS AND ts < ?::TIMESTAMP_MS
         ${q.measurement ? "AND measurement = ?" : ""} ORDER BY ts LIMIT ${Math.trunc(q.limit)}`,
        params,
      );
      return rows.map(toRaw);
    },
    async rawMany(q) {
      const out = new Map<string, RawRow[]>();
      for (let i = 0; i < q.deviceIds.length; i += 500) {
        const ids = q.deviceIds.slice(i, i + 500);
        const rows = await db.all<Row & { device_id: string }>(
          `SELECT device_id, ts, received_at, measurement, ${PAYLOAD_COLUMNS} FROM readings WHERE measurement = ? AND ts >= ?::TIMESTAMP_MS AND ts < ?::TIMESTAMP_MS
           AND device_id IN (${ids.map(() => "?").join(", ")}) ORDER BY device_id, ts`,
          [q.measurement, iso(q.from), iso(q.to), ...ids],
        );
        for (const r of rows) {
          const list = out.get(r.device_id) ?? [];
          list.push(toRaw(r));
          out.set(r.device_id, list);
        }
      }
      return out;
    },
    async aggregate(q: AggQuery) {
      return (await aggregateMany([q.deviceId], q)).get(q.deviceId) ?? [];
    },
    aggregateMany: (q) => aggregateMany(q.deviceIds, q),
    async applyRetention(now: number, signal?: AbortSignal) {
      if (retentionRun) return retentionRun;
      retentionRun = applyRetention(db, retention, now, { stepRows: opts.stepRows, signal }).finally(() => {
        retentionRun = null;
      });
      return retentionRun;
    },
    async latest(deviceId, measurement) {
      const rows = await db.all<Row>(
        `SELECT ts, received_at, measurement, ${PAYLOAD_COLUMNS} FROM readings WHERE device_id = ? AND measurement = ? ORDER BY ts DESC LIMIT 1`,
        [deviceId, measurement],
      );
      return rows[0] ? toRaw(rows[0]) : undefined;
    },
    async count(q) {
      const where: string[] = [];
      const params: string[] = [];
      if (q.deviceId) {
        where.push("device_id = ?");
        params.push(q.deviceId);
      }
      if (q.measurement) {
        where.push("measurement = ?");
        params.push(q.measurement);
      }
      const rows = await db.all<{ n: bigint | number }>(
        `SELECT count(*) AS n FROM readings ${where.length ? `WHERE ${where.join(" AND ")}` : ""}`,
        params,
      );
      return Number(rows[0]?.n ?? 0);
    },
    async writeDashboardPoints(points) {
      if (points.length === 0) return;
      await db.tx(async (t) => {
        for (const p of points) {
          await t.run("INSERT INTO derived (measurement, ts, tags, fields) VALUES (?, ?::TIMESTAMP_MS, ?, ?)", [
            p.measurement,
            iso(p.ts),
            JSON.stringify(p.tags),
            JSON.stringify(p.fields),
          ]);
        }
      });
    },
    async ping() {
      await db.all("SELECT 1");
    },
    async close() {
      await db.run("CHECKPOINT");
      await db.close();
    },
  };
}

const iso = (ms: number) => new Date(ms).toISOString();
const HOUR = 3_600_000;
/** stage_readings' column types, in its order (READINGS_COLUMNS). */
const STAGE_TYPES = [
  VARCHAR,
  VARCHAR,
  TIMESTAMP_MS,
  TIMESTAMP_MS,
  BIGINT,
  VARCHAR,
  VARCHAR,
  VARCHAR,
  ...COLUMNS.map((c) => (c.bool ? BOOLEAN : DOUBLE)),
  BOOLEAN,
  VARCHAR,
];
type TimestampMs = DuckDBTimestampMillisecondsValue;
/** Rows in a data chunk: DuckDB's vector size (2,048). */
const CHUNK_ROWS = 2048;
