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
  DAILY_FIELDS,
  FIELD,
  fieldRows,
  HOURLY_FIELDS,
  isTyped,
  LIGHT_ROLLUPS,
  lightRollupColumns,
  lightRollupRows,
  lightRollupWide,
  PAYLOAD_COLUMNS,
  payloadOf,
  pivotRows,
  READINGS_COLUMNS,
  STREETLIGHT_FIELDS,
  splitTyped,
  TYPED_MEASUREMENT,
  typedAggRows,
  typedSelect,
  wideMerged,
  wideRawRows,
} from "./duckdb-fields.js";
import {
  applyRetention,
  chinaDayStart,
  DEFAULT_RETENTION,
  RAW_FROM,
  type Retention,
  ROLLED_TO,
  type Rolling,
  type RollUpResult,
  rollUp,
} from "./duckdb-retention.js";
import {
  type AggQuery,
  type AggRow,
  type AggVisit,
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
  {
    version: 7,
    // Rollups of live data (duckdb-retention.ts rollUp, docs/DATA.md): closed hours are rolled up while raw still holds
    // them. `rolled_to` (meta) is the watermark: every reading before it is in the rollups, or in `rollup_late` (stored
    // after its hour was rolled up) until the next run adds it. Until now the rollups held only readings pruned from raw,
    // so every stored reading is not in them: the watermark starts at the hour of the first (0 when there is none).
    // `raw_from`: raw holds every reading from then on (the retention moves it); aggregates take a bucket before it whole
    // from the rollups, as they always did past the raw retention.
    name: "live rollups: a watermark and the late readings to add",
    sql: `
      CREATE TABLE rollup_late (${READINGS_COLUMNS});
      INSERT INTO meta (key, value) SELECT 'rolled_to', coalesce(epoch_ms(time_bucket(INTERVAL '1 hour', min(ts))), 0)::VARCHAR FROM readings;
      INSERT INTO meta (key, value) SELECT 'raw_from', value FROM meta WHERE key = 'rolled_to';
    `,
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
  const rolledTo = Number((await db.all<{ value: string }>(`SELECT value FROM meta WHERE key = '${ROLLED_TO}'`))[0]?.value ?? 0);
  const roll: Rolling = { to: rolledTo, target: rolledTo };
  let rollRun: Promise<RollUpResult> | null = null;
  /** The rollup job and the retention run (which starts with it) one at a time. */
  let jobs: Promise<unknown> = Promise.resolve();
  const oneJob = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = jobs.then(fn, fn);
    jobs = next.catch(() => undefined);
    return next;
  };

  type Row = { ts: Date; received_at: Date; measurement: string; typed: boolean; rest: string };
  const toRaw = (r: Row): RawRow => ({
    ts: r.ts.getTime(),
    receivedAt: r.received_at.getTime(),
    measurement: r.measurement,
    payload: payloadOf(r),
  });

  /**
   * Aggregates of many devices in one query (up to 1,000 at a time), by device. Each reading is counted once, from one
   * of: the rollups (hour and day) for readings before the watermark (`rolled_to`: closed hours, rolled up live, and
   * readings pruned from raw); `rollup_late` for readings stored after their hour was rolled up, until the next run adds
   * them; raw for readings from the watermark on. Whole buckets come from the rollups (as past the raw retention).
   * Fields the rollups do not keep (a streetlight's `pv.v`, `gps.*`, …: duckdb-fields.ts) come from raw over the whole
   * range, as far as raw holds it. Minutes come from raw only. The watermark is read in the same turn of the
   * connection as the query, so a rollup step cannot fall between the two. When every field asked for is a streetlight's
   * typed one, the query is made wide (a row per device and bucket, the fields side by side: duckdb-fields.ts
   * `wideMerged`) and each row is handed over field by field; the answer is the same.
   */
  const eachAggregate = async (deviceIds: readonly string[], q: Omit<AggQuery, "deviceId">, visit: AggVisit) => {
    const width = EVERY_MS[q.every];
    const asked = q.fields?.length ? q.fields : undefined;
    const streetlight = q.measurement === TYPED_MEASUREMENT;
    // the fields this width's rollups keep: none (minutes), every one (other measurements), or a streetlight's list
    const kept: readonly string[] | null | undefined =
      q.every === "minute" ? null : streetlight ? (q.every === "hour" ? HOURLY_FIELDS : DAILY_FIELDS) : undefined;
    /** What the rollups answer: undefined every field, else a list (perhaps empty). */
    const rolled = kept === null ? [] : kept === undefined ? asked : asked ? asked.filter((f) => kept.includes(f)) : kept;
    /** The typed fields asked for that the rollups do not keep (from raw over the whole range). */
    const other = kept ? (asked ?? STREETLIGHT_FIELDS).filter((f) => !kept.includes(f)) : [];
    const sqlList = (fields: readonly string[]) => fields.map((f) => `'${f.replace(/'/g, "''")}'`).join(", ");
    /** The fields the answer may hold, known before the query (once each: a name twice would join each row twice): those asked for, or a streetlight's typed ones. */
    const names: readonly string[] = [...new Set(asked ?? (streetlight ? STREETLIGHT_FIELDS : []))];
    const lights = kept && streetlight ? LIGHT_ROLLUPS[q.every === "hour" ? "hourly" : "daily"] : null;
    const table = q.every === "hour" ? "rollup_hourly" : "rollup_daily";
    /** Every field asked for a typed column of a streetlight's (the route's defaults, a chart's fields): the wide query, these by name. */
    const wide = streetlight && asked && asked.every(isTyped) ? [...names].sort() : null;
    const bucket = bucketOf(q.every, "ts");
    /** Aggregate rows (device_id, bucket, field, min, sum, max, last, last_ts, n) of the readings `src`: typed ones by
     * their columns `typed` (undefined: all), the others from their text where `json` (SQL on FIELD) holds. */
    const aggOf = (src: string, typed: readonly string[] | undefined, json: string | null) => {
      const parts: string[] = [];
      const t = streetlight ? typedAggRows(src, bucket, typed) : null;
      if (t) parts.push(t);
      if (json !== null)
        parts.push(`SELECT device_id, ${bucket} AS bucket, field, min(value) AS min, sum(value) AS sum, max(value) AS max,
          arg_max(value, ts) AS last, max(ts) AS last_ts, count(*) AS n FROM (${fieldRows(src, [], json)}) GROUP BY device_id, bucket, field`);
      return parts;
    };
    // (each device once: a device twice in the join below would answer each of its rows twice)
    const unique = [...new Set(deviceIds)];
    for (let i = 0; i < unique.length; i += 1000) {
      const ids = unique.slice(i, i + 1000);
      const idList = `device_id IN (${ids.map((_, k) => `$${k + 1}`).join(", ")})`;
      const mine = `${idList} AND measurement = $${ids.length + 1}`;
      const rows = await db.tx(async (t) => {
        const state = (
          await t.all<{ w: string | null; p: string | null; late: bigint | number }>(
            `SELECT (SELECT value FROM meta WHERE key = '${ROLLED_TO}') AS w, (SELECT value FROM meta WHERE key = '${RAW_FROM}') AS p,
              (SELECT count(*) FROM rollup_late) AS late`,
          )
        )[0];
        const watermark = Number(state?.w ?? 0);
        const rawFrom = Number(state?.p ?? 0);
        // [a, c): the buckets read from the rollups, those wholly in the range; at an end of the range in a bucket raw no
        // longer holds (before rawFrom), that bucket whole, as the rollups hold it. Minutes: none.
        let a = q.from;
        let c = q.from;
        if (kept !== null) {
          const floor = (x: number) => (q.every === "day" ? chinaDayStart(x) : Math.floor(x / HOUR) * HOUR);
          const ceil = (x: number) => (floor(x) === x ? x : floor(x) + width);
          a = q.from < rawFrom ? floor(q.from) : ceil(q.from);
          c = floor(q.to) < rawFrom ? ceil(q.to) : floor(q.to);
          if (a >= c) c = a = q.from;
        }
        // the rollups hold the readings of [a, c) before the watermark; raw the rest of the range
        const w = Math.max(a, Math.min(c, watermark));
        const ranges = [
          [q.from, Math.max(q.from, a)],
          [Math.max(q.from, w), q.to],
        ].filter(([x, y]) => (x as number) < (y as number));
        const ctes = [
          `recent AS (${(ranges.length ? ranges : [[q.from, q.from]])
            .map(([x, y]) => `SELECT * FROM readings WHERE ${mine} AND ts >= ${at(x as number)} AND ts < ${at(y as number)}`)
            .join(" UNION ALL ")})`,
        ];
        // readings stored after their bucket was rolled up, until the next run adds them (rollup_late)
        const withLate = w > a && Number(state?.late ?? 0) > 0 && (rolled === undefined || rolled.length > 0);
        if (withLate) ctes.push(`late AS (SELECT * FROM rollup_late WHERE ${mine} AND ts >= ${at(a)} AND ts < ${at(w)})`);
        // the fields the rollups do not keep, from raw where the rollups answer the others
        const withOld = w > Math.max(q.from, a) && other.length > 0;
        if (withOld) ctes.push(`old AS (SELECT * FROM readings WHERE ${mine} AND ts >= ${at(Math.max(q.from, a))} AND ts < ${at(w)})`);
        if (wide) {
          // each source's rows a row per device and bucket, the fields side by side (wideRawRows in duckdb-fields.ts)
          const all = { paths: wide };
          const others = wideRawRows("recent", bucket, all);
          if (withLate) others.push(...wideRawRows("late", bucket, { paths: wide, keep: rolled }));
          if (withOld) others.push(...wideRawRows("old", bucket, { paths: wide, keep: other }));
          let lightRows: string | null = null;
          if (a < c) {
            others.push(
              pivotRows(
                `SELECT device_id, bucket, field, min, sum, max, last, last_ts, n FROM ${table}
                WHERE ${mine} AND bucket >= ${at(a)} AND bucket < ${at(c)} AND field IN (${sqlList(wide)})`,
                all,
              ),
            );
            lightRows = lights
              ? lightRollupWide(lights.table, lights.fields, all, `${idList} AND bucket_h >= ${a / HOUR} AND bucket_h < ${c / HOUR}`)
              : null;
          }
          const result = await t.conn.run(
            `WITH ${ctes.join(",\n")},
               ix (id, i) AS (VALUES ${ids.map((_, k) => `($${k + 1}, ${k})`).join(", ")})
             SELECT ix.i::INTEGER AS d, epoch_ms(g.bucket)::DOUBLE AS ts, ${wide.map((_, i) => `mn${i}, av${i}, mx${i}, ls${i}, n${i}`).join(", ")}
             FROM (${wideMerged(lightRows, others, wide)}) g JOIN ix ON ix.id = g.device_id
             ORDER BY d, ts`,
            [...ids, q.measurement],
          );
          return readChunks(result);
        }
        const raw = aggOf("recent", asked, asked ? `${FIELD} IN (${sqlList(asked)})` : "true");
        if (withLate) raw.push(...aggOf("late", rolled, rolled ? `${FIELD} IN (${sqlList(rolled)})` : "true"));
        if (withOld && kept)
          raw.push(...aggOf("old", other, `${FIELD} NOT IN (${sqlList(kept)})${asked ? ` AND ${FIELD} IN (${sqlList(asked)})` : ""}`));
        const sources = [...raw];
        // the rollups: every field they hold of those asked for (rollups made before schema version 6 hold all 15 of a
        // streetlight's, of readings pruned long ago; no rollup holds a field it does not keep of a reading still in raw)
        if (a < c) {
          sources.push(`SELECT device_id, bucket, field, min, sum, max, last, last_ts, n FROM ${table}
            WHERE ${mine} AND bucket >= ${at(a)} AND bucket < ${at(c)}${asked ? ` AND field IN (${sqlList(asked)})` : ""}`);
          // a streetlight's rollups, a row per light and bucket: bounds on the column itself, so that DuckDB's zone maps skip the row groups of other times
          const l = lights
            ? lightRollupRows(lights.table, lights.fields, asked, `${idList} AND bucket_h >= ${a / HOUR} AND bucket_h < ${c / HOUR}`)
            : null;
          if (l) sources.push(l);
        }
        // Read chunk by chunk from the vectors, the device as its place in `ids` and the field as its place in `names` (-1:
        // another field, read as text): a town's month is 212,490 rows, and the reader's getColumns (each value through its
        // generic converter) took 0.6 s of them, a string each for the device and the field 0.15–0.35 s (docs/BENCHMARKS.md).
        const result = await t.conn.run(
          `WITH ${ctes.join(",\n")},
             ix (id, i) AS (VALUES ${ids.map((_, k) => `($${k + 1}, ${k})`).join(", ")})${names.length ? `,\n             fx (name, j) AS (VALUES ${names.map((f, j) => `(${sqlList([f])}, ${j})`).join(", ")})` : ""}
           SELECT ix.i::INTEGER AS d, ts, ${names.length ? "coalesce(fx.j, -1)::INTEGER" : "-1::INTEGER"} AS f, g.field, min, avg, max, last, n
           FROM (SELECT device_id, epoch_ms(bucket)::DOUBLE AS ts, field, min(min)::DOUBLE AS min, (sum(sum) / sum(n))::DOUBLE AS avg,
               max(max)::DOUBLE AS max, arg_max(last, last_ts)::DOUBLE AS last, sum(n)::DOUBLE AS n
             FROM (${sources.join("\nUNION ALL\n")})
             GROUP BY device_id, bucket, field) g
           JOIN ix ON ix.id = g.device_id${names.length ? " LEFT JOIN fx ON fx.name = g.field" : ""}
           ORDER BY d, ts, g.field`,
          [...ids, q.measurement],
        );
        return readChunks(result);
      });
      if (wide) {
        // a row per device and bucket: each field's five statistics from column 2 on, the fields in the order of `wide` (by name)
        for (const chunk of rows) {
          const num = (i: number) => chunk.getColumnVector(i) as DuckDBVector<number>;
          const d = num(0);
          const ts = num(1);
          const stats = wide.map((_, j) => [num(2 + 5 * j), num(3 + 5 * j), num(4 + 5 * j), num(5 + 5 * j), num(6 + 5 * j)] as const);
          for (let k = 0; k < chunk.rowCount; k++) {
            const id = ids[d.getItem(k) as number] as string;
            const start = ts.getItem(k) as number;
            for (let j = 0; j < wide.length; j++) {
              const [mn, av, mx, ls, n] = stats[j] as (typeof stats)[number];
              const count = n.getItem(k) as number;
              if (count > 0)
                visit(
                  id,
                  start,
                  wide[j] as string,
                  mn.getItem(k) as number,
                  av.getItem(k) as number,
                  mx.getItem(k) as number,
                  ls.getItem(k) as number,
                  count,
                );
            }
          }
        }
        continue;
      }
      for (const chunk of rows) {
        const num = (i: number) => chunk.getColumnVector(i) as DuckDBVector<number>;
        const [d, ts, f, min, avg, max, last, n] = [num(0), num(1), num(2), num(4), num(5), num(6), num(7), num(8)];
        const text = chunk.getColumnVector(3) as DuckDBVector<string>;
        for (let k = 0; k < chunk.rowCount; k++) {
          const fi = f.getItem(k) as number;
          visit(
            ids[d.getItem(k) as number] as string,
            ts.getItem(k) as number,
            fi >= 0 ? (names[fi] as string) : (text.getItem(k) as string),
            min.getItem(k) as number,
            avg.getItem(k) as number,
            max.getItem(k) as number,
            last.getItem(k) as number,
            n.getItem(k) as number,
          );
        }
      }
    }
  };
  /** eachAggregate's rows as objects, by device (in the order of `deviceIds`, each by time, then field). */
  const aggregateMany = async (deviceIds: readonly string[], q: Omit<AggQuery, "deviceId">) => {
    const out = new Map<string, AggRow[]>();
    let list: AggRow[] = [];
    let device: string | null = null;
    await eachAggregate(deviceIds, q, (id, ts, field, min, avg, max, last, count) => {
      if (id !== device) {
        device = id;
        list = [];
        out.set(id, list);
      }
      list.push({ ts, field, min, avg, max, last, count });
    });
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
      // First copy of each (measurement, device, ts), and only if not stored already: one statement per span, so the
      // search for stored copies reads only the row groups of that span (zone maps), never the days between two spans.
      // A batch with a reading before the live rollups' target (late: its hour may be rolled up already) keeps its new
      // readings in a temp table first, so that those before the watermark are copied into rollup_late as well, in this
      // transaction: the next rollup run adds them (once). A live batch goes straight into readings.
      const late = spans.some(([from]) => from < roll.target);
      const inserts = spans.map(
        ([from, to]) =>
          `INSERT INTO ${late ? "stage_new" : "readings"} SELECT * EXCLUDE (rn) FROM (
           SELECT *, row_number() OVER (PARTITION BY measurement, device_id, ts ORDER BY seq) AS rn FROM stage_readings
           WHERE ts BETWEEN ${at(from)} AND ${at(to)}) s
         WHERE rn = 1 AND NOT EXISTS (
           SELECT 1 FROM readings m WHERE m.ts BETWEEN ${at(from)} AND ${at(to)}
             AND m.ts = s.ts AND m.device_id = s.device_id AND m.measurement = s.measurement);`,
      );
      await t.run(
        `${late ? "CREATE OR REPLACE TEMP TABLE stage_new AS SELECT * FROM stage_readings WHERE false;" : ""}
         ${inserts.join("\n")}
         ${
           late
             ? `INSERT INTO readings SELECT * FROM stage_new;
                INSERT INTO rollup_late SELECT * FROM stage_new WHERE epoch_ms(ts) < (SELECT value::BIGINT FROM meta WHERE key = '${ROLLED_TO}');
                DROP TABLE stage_new;`
             : ""
         }
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
    eachAggregate: (q, visit) => eachAggregate(q.deviceIds, q, visit),
    async rollUp(now: number, signal?: AbortSignal) {
      if (rollRun) return rollRun;
      rollRun = oneJob(() => rollUp(db, roll, now, { stepRows: opts.stepRows, signal })).finally(() => {
        rollRun = null;
      });
      return rollRun;
    },
    async applyRetention(now: number, signal?: AbortSignal) {
      if (retentionRun) return retentionRun;
      retentionRun = oneJob(() => applyRetention(db, retention, roll, now, { stepRows: opts.stepRows, signal })).finally(() => {
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
/** Every chunk of a query's result, read before the connection's turn ends. */
async function readChunks(result: { fetchChunk(): Promise<DuckDBDataChunk | null> }): Promise<DuckDBDataChunk[]> {
  const chunks: DuckDBDataChunk[] = [];
  for (let chunk = await result.fetchChunk(); chunk && chunk.rowCount > 0; chunk = await result.fetchChunk()) chunks.push(chunk);
  return chunks;
}
/** A time computed here (never text from a request) as SQL. */
const at = (ms: number) => `'${new Date(ms).toISOString()}'::TIMESTAMP_MS`;
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
