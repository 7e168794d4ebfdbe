/**
 * A payload's numeric fields as rows (field, value) of json_tree `j`: every number or boolean (as 0/1) by its dotted
 * path, not inside an array, not the top-level ts. numericFields in devices/decode.ts says the same for InfluxDB; the
 * store contract test holds both to it.
 */
export const FIELD = "substr(j.fullkey, 3)";
export const VALUE = "CASE WHEN j.type = 'BOOLEAN' THEN CASE WHEN j.atom = 'true' THEN 1.0 ELSE 0.0 END ELSE CAST(j.atom AS DOUBLE) END";
export const NUMERIC = "j.type IN ('UBIGINT', 'BIGINT', 'DOUBLE', 'BOOLEAN') AND j.fullkey <> '$.ts' AND NOT contains(j.fullkey, '[')";

/** The measurement whose readings are kept in typed columns: nearly all of a district's readings (18,105 lights every 5 minutes). */
export const TYPED_MEASUREMENT = "streetlight_telemetry";

/**
 * The typed columns of a streetlight reading (devices/streetlight.ts, contract v1): each numeric field of the payload
 * by its dotted path, and its column. A reading is kept in these columns (and the rest of its payload, with these fields
 * and its ts taken out, as text: `{"pv":{},…,"faults":[],"gps":{}}`, which DuckDB keeps in a dictionary) when every one
 * it has is of its type; otherwise (another measurement, or a payload that does not fit) its whole payload is kept as text.
 */
export const COLUMNS: readonly { path: string; col: string; bool?: true }[] = [
  { path: "pv.v", col: "pv_v" },
  { path: "pv.a", col: "pv_a" },
  { path: "pv.w", col: "pv_w" },
  { path: "battery.v", col: "battery_v" },
  { path: "battery.soc", col: "battery_soc" },
  { path: "battery.tempC", col: "battery_temp_c" },
  { path: "load.on", col: "load_on", bool: true },
  { path: "load.w", col: "load_w" },
  { path: "load.a", col: "load_a" },
  { path: "load.dimPct", col: "load_dim_pct" },
  { path: "energyToday.pvWh", col: "energy_pv_wh" },
  { path: "energyToday.loadWh", col: "energy_load_wh" },
  { path: "gps.lat", col: "gps_lat" },
  { path: "gps.lon", col: "gps_lon" },
  { path: "gps.accM", col: "gps_acc_m" },
];
/** A streetlight reading's numeric fields (every one the contract has), by dotted path. */
export const STREETLIGHT_FIELDS: readonly string[] = COLUMNS.map((c) => c.path);
const PARENTS = [...new Set(COLUMNS.map((c) => c.path.split(".")[0] as string))];

/**
 * The fields of a streetlight reading that the rollups keep (other measurements: every numeric field). Hourly: the
 * battery, the panel's and the lamp's power and whether it was lit, what a chart of a light over months shows. Daily, as
 * well: the battery's temperature, the dimming level and the day's energy counters (the last of a day is that day's
 * energy). Left out of both: the panel's and the lamp's voltage and current (`pv.v`, `pv.a`, `load.a`: their power is
 * kept) and the position (`gps.*`: not a time series; the registry and the latest reading hold it). An aggregate over a
 * range past the raw retention has these fields only (docs/DATA.md).
 */
export const HOURLY_FIELDS: readonly string[] = ["pv.w", "battery.v", "battery.soc", "load.on", "load.w"];
export const DAILY_FIELDS: readonly string[] = [...HOURLY_FIELDS, "battery.tempC", "load.dimPct", "energyToday.pvWh", "energyToday.loadWh"];

/**
 * The rollups of streetlight readings, one row per light and hour (or day): its readings' count, the offset of the
 * newest of them from the bucket's start, and min, sum, max and last of each field. A row per field (the other rollup
 * tables' form) repeated the light, the bucket and the newest reading's time for every field: three times the bytes.
 * `bucket_h`: the bucket's start in hours since 1970 (a China day starts on a whole hour).
 */
export const LIGHT_ROLLUPS = {
  hourly: { table: "rollup_hourly_lights", fields: HOURLY_FIELDS },
  daily: { table: "rollup_daily_lights", fields: DAILY_FIELDS },
} as const;
const column = (path: string) => COLUMNS.find((c) => c.path === path) as (typeof COLUMNS)[number];
/** A typed column's value as a number (a boolean as 0/1). */
const numberOf = (c: (typeof COLUMNS)[number]) => (c.bool ? `CASE WHEN ${c.col} THEN 1.0 WHEN NOT ${c.col} THEN 0.0 END` : `${c.col}::DOUBLE`);
const STATS = ["min", "sum", "max", "last"] as const;

/** The DDL of a light rollup table (migration 6). */
export const lightRollupColumns = (fields: readonly string[]) =>
  `device_id VARCHAR NOT NULL, bucket_h INTEGER NOT NULL, n INTEGER NOT NULL, last_ms INTEGER NOT NULL, ${fields
    .flatMap((f) => STATS.map((s) => `${s}_${column(f).col} DOUBLE NOT NULL`))
    .join(", ")}`;

/** SQL: a readings row that goes into the light rollups: a typed streetlight reading with every field they keep. */
export const COMPLETE = `(typed AND measurement = '${TYPED_MEASUREMENT}' AND ${DAILY_FIELDS.map((f) => `${column(f).col} IS NOT NULL`).join(" AND ")})`;

/**
 * The light rollup rows (into temp table `into`) of the readings `src` that are COMPLETE, by `bucket` (SQL on ts, a
 * TIMESTAMP_MS), then merged with the rows `table` holds for the same light and bucket in [fromH, toH): deleted and
 * written back combined. Sums, not averages, so that rows combine exactly.
 */
export function foldLights(table: string, fields: readonly string[], src: string, bucket: string, fromH: number, toH: number): string {
  const cols = fields.map(column);
  const stats = (c: (typeof COLUMNS)[number]) =>
    `min(${numberOf(c)}) AS min_${c.col}, sum(${numberOf(c)}) AS sum_${c.col}, max(${numberOf(c)}) AS max_${c.col}, arg_max(${numberOf(c)}, ts) AS last_${c.col}`;
  const merged = (c: (typeof COLUMNS)[number]) =>
    `min(min_${c.col}) AS min_${c.col}, sum(sum_${c.col}) AS sum_${c.col}, max(max_${c.col}) AS max_${c.col}, arg_max(last_${c.col}, last_ms) AS last_${c.col}`;
  const same = `i.device_id = h.device_id AND i.bucket_h = h.bucket_h`;
  const range = `h.bucket_h >= ${Math.trunc(fromH)} AND h.bucket_h < ${Math.trunc(toH)}`;
  return `
    CREATE OR REPLACE TEMP TABLE roll_lights AS
      SELECT device_id, (epoch_ms(b) // 3600000)::INTEGER AS bucket_h, count(*)::INTEGER AS n, (epoch_ms(max(ts)) - epoch_ms(b))::INTEGER AS last_ms,
             ${cols.map(stats).join(", ")}
      FROM (SELECT *, ${bucket} AS b FROM ${src} WHERE ${COMPLETE}) GROUP BY device_id, b;
    CREATE OR REPLACE TEMP TABLE roll_lights_merged AS
      SELECT device_id, bucket_h, sum(n)::INTEGER AS n, max(last_ms) AS last_ms, ${cols.map(merged).join(", ")}
      FROM (SELECT * FROM roll_lights UNION ALL BY NAME
            SELECT h.* FROM ${table} h WHERE ${range} AND EXISTS (SELECT 1 FROM roll_lights i WHERE ${same}))
      GROUP BY device_id, bucket_h;
    DELETE FROM ${table} h WHERE ${range} AND EXISTS (SELECT 1 FROM roll_lights i WHERE ${same});
    INSERT INTO ${table} BY NAME SELECT * FROM roll_lights_merged ORDER BY device_id, bucket_h;
    DROP TABLE roll_lights; DROP TABLE roll_lights_merged;`;
}

/**
 * The rows of a light rollup table as rows of the per-field form (device_id, bucket, field, min, sum, max, last, last_ts, n): of the
 * fields `paths` asks for (all it keeps when undefined), for `where` (SQL on device_id and bucket_h). Null when it keeps
 * none of them.
 */
export function lightRollupRows(table: string, fields: readonly string[], paths: readonly string[] | undefined, where: string): string | null {
  const cols = fields.filter((f) => !paths || paths.includes(f)).map(column);
  if (cols.length === 0) return null;
  const list = (s: string) => `unnest([${cols.map((c) => `${s}_${c.col}`).join(", ")}])`;
  return `SELECT device_id, make_timestamp_ms(bucket_h::BIGINT * 3600000) AS bucket, unnest([${cols.map((c) => `'${c.path}'`).join(", ")}]) AS field,
      ${list("min")} AS min, ${list("sum")} AS sum, ${list("max")} AS max, ${list("last")} AS last,
      make_timestamp_ms(bucket_h::BIGINT * 3600000 + last_ms) AS last_ts, n
    FROM ${table} WHERE ${where}`;
}

/** The readings table's columns in order (migration 5). */
export const READINGS_COLUMNS = `measurement VARCHAR NOT NULL, device_id VARCHAR NOT NULL, ts TIMESTAMP_MS NOT NULL, received_at TIMESTAMP_MS NOT NULL,
  seq BIGINT NOT NULL, town VARCHAR, village VARCHAR, station VARCHAR,
  ${COLUMNS.map((c) => `${c.col} ${c.bool ? "BOOLEAN" : "DOUBLE"}`).join(", ")}, typed BOOLEAN NOT NULL, rest VARCHAR NOT NULL`;

/** The keys of the typed fields (their last part) and of the top-level ts: a value of one that is not a number (`on`: not a boolean) keeps a payload as text. */
const NUMBER_KEYS = [...new Set(["ts", ...COLUMNS.filter((c) => !c.bool).map((c) => c.path.split(".")[1] as string)])];
const BOOL_KEYS = [...new Set(COLUMNS.filter((c) => c.bool).map((c) => c.path.split(".")[1] as string))];

/**
 * The rows of `source` (measurement, device_id, ts, received_at, seq, town, village, station, payload: the payload's JSON
 * text) as rows of `readings`: a streetlight reading whose fields fit (each present one a number, load.on a boolean, its
 * ts the reading's, no null anywhere, nothing numeric left besides) goes into the typed columns and `rest`; any other
 * keeps its whole payload in `rest`. What DuckDB runs on a batch's new readings (in the statement that reads the
 * write-ahead log's lines), and the migration on a store's old ones.
 *
 * The payload is read twice, each time once: json_transform into the typed values (DuckDB's transform is lenient: a
 * string "12" would become 12.0, so a payload in which a typed field's key holds anything but a number, or `on` anything
 * but a boolean, or that has an escape, keeps its text: one pass of a regular expression over the text says so), and
 * json_merge_patch to take the fields out (a parent is patched only when one of its fields was found, so it was an
 * object: a patch naming a parent the payload lacks, or has as a string, would make it an empty object). Each is
 * computed once in an inner query (an earlier form cast each field's JSON text to a number in expressions DuckDB
 * repeated: three times the CPU of the whole batch, docs/BENCHMARKS.md).
 */
export function typedSelect(source: string): string {
  const shape: Record<string, Record<string, string> | string> = { ts: "BIGINT" };
  for (const c of COLUMNS) {
    const [p, k] = c.path.split(".") as [string, string];
    shape[p] = { ...(shape[p] as Record<string, string> | undefined), [k]: c.bool ? "BOOLEAN" : "DOUBLE" };
  }
  const leaf = (c: (typeof COLUMNS)[number]) =>
    `x.${c.path
      .split(".")
      .map((k) => `"${k}"`)
      .join(".")}`;
  const keys = `"(${[...NUMBER_KEYS, ...BOOL_KEYS].join("|")})"\\s*:\\s*`;
  const badType = `"(${NUMBER_KEYS.join("|")})"\\s*:\\s*[^-0-9]|"(${BOOL_KEYS.join("|")})"\\s*:\\s*[^tf]`;
  const value = "(-?[0-9][-+.eE0-9]*|true|false)";
  // as many of those keys in the text as fields found (and the ts): none of them is anywhere else in the payload
  const present = ["1", ...COLUMNS.map((c) => `(${leaf(c)} IS NOT NULL)::INTEGER`)].join(" + ");
  // The fields taken out of the text: a pair after a comma with its comma, then a pair first in its object with the comma
  // after it. A string holds no quote (a payload with an escape is not typed), so a quote followed by a colon is a key.
  const rest = `regexp_replace(regexp_replace(payload, ',\\s*${keys}${value}', '', 'g'), '${keys}${value}\\s*,?', '', 'g')`;
  return `SELECT measurement, device_id, ts, received_at, seq, town, village, station,
      ${COLUMNS.map((c) => `CASE WHEN typed THEN ${leaf(c)} END`).join(", ")},
      typed, CASE WHEN typed THEN rest ELSE payload END
    FROM (SELECT *, coalesce(rest IS NOT NULL AND NOT regexp_matches(rest, '[0-9]|true|false'), false) AS typed
          FROM (SELECT *, CASE WHEN fits THEN ${rest} END AS rest
                FROM (SELECT *, measurement = '${TYPED_MEASUREMENT}' AND x.ts = epoch_ms(ts) AND NOT contains(payload, 'null')
                        AND NOT contains(payload, '\\') AND NOT regexp_matches(payload, '${badType}')
                        AND len(regexp_extract_all(payload, '${keys}')) = ${present} AS fits
                      FROM (SELECT *, json_transform(payload, '${JSON.stringify(shape)}') AS x FROM ${source}))))`;
}

/** A typed row's numeric fields as rows (field, value) by unnest: the columns of `paths` (all when undefined). */
export function typedFields(paths?: readonly string[]): { names: string; values: string } | null {
  const cols = COLUMNS.filter((c) => !paths || paths.includes(c.path));
  if (cols.length === 0) return null;
  return {
    names: `[${cols.map((c) => `'${c.path}'`).join(", ")}]`,
    values: `[${cols.map(numberOf).join(", ")}]`,
  };
}

/** A readings row as the payload the device sent: `rest` with the typed fields and the ts put back. */
export function payloadOf(row: Record<string, unknown> & { ts: Date; typed: boolean; rest: string }): Record<string, unknown> {
  const rest = JSON.parse(row.rest) as Record<string, unknown>;
  if (!row.typed) return rest;
  const payload: Record<string, unknown> = { ts: row.ts.getTime(), ...rest };
  for (const c of COLUMNS) {
    const v = row[c.col];
    if (v === null || v === undefined) continue;
    const [p, k] = c.path.split(".") as [string, string];
    (payload[p] as Record<string, unknown>)[k] = v;
  }
  return payload;
}

/** The columns a query reads to rebuild payloads with payloadOf. */
export const PAYLOAD_COLUMNS = `typed, rest, ${COLUMNS.map((c) => c.col).join(", ")}`;

/**
 * The numeric fields of the readings in `src` (a relation with the readings table's columns) as rows (measurement,
 * device_id, ts, field, value): a typed row's columns of `paths` (all when undefined) by unnest, any other row's payload
 * by json_tree, where `jsonWhere` (SQL on FIELD and `m.measurement`) holds as well.
 */
export function fieldRows(src: string, paths: readonly string[] | undefined, jsonWhere = "true"): string {
  const typed = typedFields(paths);
  const fromJson = `SELECT m.measurement, m.device_id, m.ts, ${FIELD} AS field, ${VALUE} AS value
    FROM (SELECT measurement, device_id, ts, rest FROM ${src} WHERE NOT typed) m, json_tree(m.rest) j WHERE ${NUMERIC} AND (${jsonWhere})`;
  if (!typed) return fromJson;
  return `SELECT measurement, device_id, ts, field, value FROM (
      SELECT measurement, device_id, ts, unnest(${typed.names}) AS field, unnest(${typed.values}) AS value FROM ${src} WHERE typed)
    WHERE value IS NOT NULL
    UNION ALL ${fromJson}`;
}

/** SQL: whether a field row of `m.measurement` (by FIELD) goes into rollups that keep `fields` of a streetlight reading. */
export const rolledUp = (fields: readonly string[]) =>
  `(m.measurement <> '${TYPED_MEASUREMENT}' OR ${FIELD} IN (${fields.map((f) => `'${f}'`).join(", ")}))`;

/** A reading split as typedSelect splits it, in JavaScript: the typed columns' values (in COLUMNS' order) and `rest`. */
export type TypedSplit = { values: (number | boolean | null)[]; rest: string } | null;

const NOT_TYPED = /[0-9]|true|false|null/;
/** Each parent's typed keys: the column (index in COLUMNS) of each, and whether it holds a boolean. */
const TYPED_KEYS = new Map<string, Map<string, { index: number; bool: boolean }>>(
  PARENTS.map((p) => [
    p,
    new Map(
      COLUMNS.flatMap((c, index) => (c.path.startsWith(`${p}.`) ? [[c.path.slice(p.length + 1), { index, bool: c.bool === true }] as const] : [])),
    ),
  ]),
);
/** A key as JSON text, made once for the keys that recur (a key is JSON.stringify'd otherwise). */
const KEY_JSON = new Map<string, string>();
const keyJson = (k: string) => {
  let j = KEY_JSON.get(k);
  if (j === undefined) {
    j = JSON.stringify(k);
    if (KEY_JSON.size < 256) KEY_JSON.set(k, j);
  }
  return j;
};
/**
 * What typedSelect makes of a reading, from the payload object (the store's `write`, whose readings JavaScript holds
 * already): null when it keeps its whole payload as text. The same rules: a streetlight reading, its ts the reading's,
 * each typed field present a finite number (`load.on` a boolean), its parents objects, and nothing numeric, boolean or
 * null left in the rest. test/duckdb-store.test.ts holds both to the same payloads.
 *
 * `rest` is the text JSON.stringify gives of the payload without its ts and with the typed fields taken out of their
 * parents, written here in one pass (no copy of the payload and its parents to stringify: it runs for every reading a
 * batch stages, on the service's thread, docs/BENCHMARKS.md).
 */
export function splitTyped(measurement: string, ts: number, payload: Record<string, unknown>): TypedSplit {
  if (measurement !== TYPED_MEASUREMENT || payload.ts !== ts) return null;
  const values: (number | boolean | null)[] = new Array(COLUMNS.length).fill(null);
  let text = "{";
  for (const k in payload) {
    if (k === "ts") continue;
    const v = payload[k];
    if (v === undefined) continue; // (as JSON.stringify leaves it out)
    const typed = TYPED_KEYS.get(k);
    let piece: string | undefined;
    if (typed && v !== null && typeof v === "object" && !Array.isArray(v)) {
      const o = v as Record<string, unknown>;
      let found = false;
      for (const [key, c] of typed) {
        const x = o[key];
        if (x === undefined) continue;
        if (c.bool ? typeof x !== "boolean" : typeof x !== "number" || !Number.isFinite(x)) return null;
        values[c.index] = x as number | boolean;
        found = true;
      }
      if (found) {
        piece = "{";
        for (const kk in o) {
          const x = o[kk];
          if (typed.has(kk) || x === undefined) continue;
          piece += `${piece.length > 1 ? "," : ""}${keyJson(kk)}:${JSON.stringify(x)}`;
        }
        piece += "}";
      }
    }
    text += `${text.length > 1 ? "," : ""}${keyJson(k)}:${piece ?? JSON.stringify(v)}`;
  }
  text += "}";
  return NOT_TYPED.test(text) ? null : { values, rest: text };
}

/** SQL: the statistics of typed columns over readings grouped by device and bucket: mn{i}, sm{i}, mx{i}, ls{i} (the last value), lt{i} (its time), n{i} of each column `c` numbered `i`. */
const typedStats = (cols: readonly { c: (typeof COLUMNS)[number]; i: number }[]) =>
  cols
    .map(({ c, i }) => {
      const v = numberOf(c);
      return `min(${v}) AS mn${i}, sum(${v}) AS sm${i}, max(${v}) AS mx${i}, arg_max(${v}, ts) FILTER (WHERE ${c.col} IS NOT NULL) AS ls${i},
        max(ts) FILTER (WHERE ${c.col} IS NOT NULL) AS lt${i}, count(${c.col}) AS n${i}`;
    })
    .join(",\n        ");

/**
 * The raw aggregate rows (device_id, bucket, field, min, sum, max, last, last_ts, n) of the typed rows of `src` by
 * `bucket` (SQL on ts), of the columns of `paths` (all when undefined): grouped a row per device and bucket with the
 * statistics of every column side by side, then unnested into a row per field. (Unnesting each reading into a row per
 * field first, and grouping those, made a town's month 15 times as many rows to group: docs/BENCHMARKS.md.) Null when
 * none of the columns is asked for.
 */
export function typedAggRows(src: string, bucket: string, paths: readonly string[] | undefined): string | null {
  const cols = COLUMNS.filter((c) => !paths || paths.includes(c.path));
  if (cols.length === 0) return null;
  const stats = typedStats(cols.map((c, i) => ({ c, i })));
  const list = (s: string) => `unnest([${cols.map((_, i) => `${s}${i}`).join(", ")}])`;
  return `SELECT * FROM (
      SELECT device_id, bucket, unnest([${cols.map((c) => `'${c.path}'`).join(", ")}]) AS field, ${list("mn")} AS min, ${list("sm")} AS sum,
        ${list("mx")} AS max, ${list("ls")} AS last, ${list("lt")} AS last_ts, ${list("n")} AS n
      FROM (SELECT device_id, ${bucket} AS bucket, ${stats} FROM ${src} WHERE typed GROUP BY device_id, bucket))
    WHERE n > 0`;
}

/**
 * The wide form of aggregate rows, for typed fields only: a row per device and bucket with, for the i-th of the fields
 * asked for, mn{i}, sm{i}, mx{i}, ls{i} (the last value), lt{i} (its time) and n{i} (how many); a source that does not
 * hold a field leaves its columns out (NULL under UNION ALL BY NAME). A town's month is then a row per light and day to
 * group and sort, not a row per light, day and field: docs/BENCHMARKS.md. Each function below makes one source's rows of
 * `paths` (the fields asked for, in the order that numbers them) as far as `keep` says (all of them by default).
 */
export const isTyped = (path: string) => STREETLIGHT_FIELDS.includes(path);
type Wide = { paths: readonly string[]; keep?: readonly string[] | undefined };
const picked = ({ paths, keep }: Wide) => paths.flatMap((p, i) => (!keep || keep.includes(p) ? [{ p, i }] : []));

/** Wide rows of the readings `src` (by `bucket`, SQL on ts): the typed rows by their columns, the others (a payload kept as text) from their JSON. None when nothing is picked. */
export function wideRawRows(src: string, bucket: string, w: Wide): string[] {
  const fields = picked(w);
  if (fields.length === 0) return [];
  const typed = typedStats(fields.map(({ p, i }) => ({ c: column(p), i })));
  const json = `SELECT m.device_id, m.ts, ${FIELD} AS field, ${VALUE} AS value
      FROM (SELECT device_id, ts, rest FROM ${src} WHERE NOT typed) m, json_tree(m.rest) j
      WHERE ${NUMERIC} AND ${FIELD} IN (${fields.map(({ p }) => `'${p}'`).join(", ")})`;
  return [
    `SELECT device_id, ${bucket} AS bucket, ${typed} FROM ${src} WHERE typed GROUP BY device_id, bucket`,
    pivotRows(
      `SELECT device_id, ${bucket} AS bucket, field, value AS min, value AS sum, value AS max, value AS last, ts AS last_ts, 1 AS n FROM (${json})`,
      w,
    ),
  ];
}

/** Wide rows of per-field aggregate rows `rows` (device_id, bucket, field, min, sum, max, last, last_ts, n). */
export function pivotRows(rows: string, w: Wide): string {
  const cols = picked(w)
    .map(({ p, i }) => {
      const f = `FILTER (WHERE field = '${p}')`;
      return `min(min) ${f} AS mn${i}, sum(sum) ${f} AS sm${i}, max(max) ${f} AS mx${i}, arg_max(last, last_ts) ${f} AS ls${i}, max(last_ts) ${f} AS lt${i}, sum(n) ${f} AS n${i}`;
    })
    .join(",\n        ");
  return `SELECT device_id, bucket, ${cols} FROM (${rows}) GROUP BY device_id, bucket`;
}

/**
 * Wide rows of a light rollup table that keeps `fields`, for `where` (SQL on device_id and bucket_h): a row per light
 * and bucket (foldLights keeps it so), every field picked (NULL where the table does not keep it). Null when it keeps
 * none of them.
 */
export function lightRollupWide(table: string, fields: readonly string[], w: Wide, where: string): string | null {
  const fieldsPicked = picked(w);
  if (!fieldsPicked.some(({ p }) => fields.includes(p))) return null;
  const cols = fieldsPicked.map(({ p, i }) => {
    if (!fields.includes(p))
      return `NULL::DOUBLE AS mn${i}, NULL::DOUBLE AS sm${i}, NULL::DOUBLE AS mx${i}, NULL::DOUBLE AS ls${i}, NULL::TIMESTAMP AS lt${i}, NULL::BIGINT AS n${i}`;
    const c = column(p).col;
    return `min_${c} AS mn${i}, sum_${c} AS sm${i}, max_${c} AS mx${i}, last_${c} AS ls${i}, make_timestamp_ms(bucket_h::BIGINT * 3600000 + last_ms) AS lt${i}, n::BIGINT AS n${i}`;
  });
  return `SELECT device_id, make_timestamp_ms(bucket_h::BIGINT * 3600000) AS bucket, ${cols.join(", ")} FROM ${table} WHERE ${where}`;
}

/**
 * Each field's statistics by device and bucket (device_id, bucket, then mn{i}, av{i}, mx{i}, ls{i}, n{i} as DOUBLE;
 * n{i} 0 where none) of the wide rows of `lights` (lightRollupWide: a row per light and bucket already, or null) and of
 * `others` (the other sources: grouped first). The light rollups are most of a long range's rows and are not grouped
 * again: joined with the others' few (a town's month hourly, 566,640 rows: grouping them all took twice as long as
 * reading them, docs/BENCHMARKS.md).
 */
export function wideMerged(lights: string | null, others: readonly string[], paths: readonly string[]): string {
  const ix = paths.map((_, i) => i);
  const grouped = `SELECT device_id, bucket, ${ix
    .map(
      (i) =>
        `min(mn${i}) AS mn${i}, sum(sm${i}) AS sm${i}, max(mx${i}) AS mx${i}, arg_max(ls${i}, lt${i}) AS ls${i}, max(lt${i}) AS lt${i}, sum(n${i}) AS n${i}`,
    )
    .join(",\n        ")} FROM (${others.join("\nUNION ALL BY NAME\n")}) GROUP BY device_id, bucket`;
  if (!lights)
    return `SELECT device_id, bucket, ${ix
      .map(
        (i) =>
          `mn${i}::DOUBLE AS mn${i}, (sm${i} / n${i})::DOUBLE AS av${i}, mx${i}::DOUBLE AS mx${i}, ls${i}::DOUBLE AS ls${i}, coalesce(n${i}, 0)::DOUBLE AS n${i}`,
      )
      .join(", ")} FROM (${grouped})`;
  // both: a light's bucket in the rollups and in another source (late readings, the open hour's) combined field by field
  const n = (i: number) => `(coalesce(l.n${i}, 0) + coalesce(o.n${i}, 0))`;
  return `SELECT coalesce(l.device_id, o.device_id) AS device_id, coalesce(l.bucket, o.bucket) AS bucket, ${ix
    .map(
      (i) => `least(l.mn${i}, o.mn${i})::DOUBLE AS mn${i}, ((coalesce(l.sm${i}, 0) + coalesce(o.sm${i}, 0)) / nullif(${n(i)}, 0))::DOUBLE AS av${i},
        greatest(l.mx${i}, o.mx${i})::DOUBLE AS mx${i},
        (CASE WHEN o.lt${i} IS NOT NULL AND (l.lt${i} IS NULL OR o.lt${i} > l.lt${i}) THEN o.ls${i} ELSE l.ls${i} END)::DOUBLE AS ls${i}, ${n(i)}::DOUBLE AS n${i}`,
    )
    .join(",\n      ")}
    FROM (${lights}) l FULL OUTER JOIN (${grouped}) o ON l.device_id = o.device_id AND l.bucket = o.bucket`;
}
