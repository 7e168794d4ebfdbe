import { type BigText, bigText, type Db, jsonText, type Migration, readBigText } from "../storage/sql.js";
import { LIT_SHARE, type NightRecord } from "./nightly.js";

export type LightEnergy = {
  deviceId: string;
  nights: number;
  expectedMin: number;
  litMin: number;
  coveredMin: number;
  loadWh: number;
  pvWh: number;
  flatNights: number;
};
export type LightWindow = { deviceId: string; litNights: number; pvDays: number; lastTs: number | null; lat: number | null; lon: number | null };

export const STREETLIGHT_MIGRATION: Migration = {
  version: 3,
  name: "streetlights: nightly records",
  sql: `CREATE TABLE nights (device_id VARCHAR NOT NULL, date VARCHAR NOT NULL, classification VARCHAR NOT NULL, pv_wh DOUBLE, last_ts BIGINT,
    lat DOUBLE, lon DOUBLE, body JSON NOT NULL, PRIMARY KEY (device_id, date));`,
  postgres: `CREATE TABLE nights (device_id VARCHAR NOT NULL, date VARCHAR NOT NULL, classification VARCHAR NOT NULL, pv_wh DOUBLE PRECISION,
    last_ts BIGINT, lat DOUBLE PRECISION, lon DOUBLE PRECISION, body TEXT NOT NULL, PRIMARY KEY (device_id, date));`,
};

/** The light windows of `NightStore.summaryText`'s text. */
export function lightWindows(json: string): LightWindow[] {
  return (JSON.parse(json) as [string, number, number, number | null, number | null, number | null][]).map(
    ([deviceId, litNights, pvDays, lastTs, lat, lon]) => ({
      deviceId,
      litNights,
      pvDays,
      lastTs,
      lat,
      lon,
    }),
  );
}

/** Nightly records in the state store; what verification and dashboards read. */
export function nightStore(db: Db) {
  const field = (name: string) => jsonText(db.dialect, "body", name);
  /** The column's value at the night with the latest reading, among the nights that have both (PostgreSQL has no arg_max). */
  const lastOf = (column: "lat" | "lon") =>
    db.dialect === "postgres"
      ? `(array_agg(CASE WHEN ${column} IS NOT NULL AND last_ts IS NOT NULL THEN ${column} END ORDER BY (${column} IS NULL OR last_ts IS NULL), last_ts DESC))[1]`
      : `arg_max(${column}, last_ts) FILTER (WHERE ${column} IS NOT NULL)`;
  /**
   * `summary` as the database writes it, one JSON text of `[deviceId, litNights, pvDays, lastTs, lat, lon]` rows
   * (`lightWindows` reads it) for a worker thread: for a district, 18,105 rows made into objects and copied to the
   * thread held the service's thread, which sends every PUBACK (docs/BENCHMARKS.md).
   */
  const summaryText = (from: string, to: string, pvWh: number): Promise<BigText> => {
    // A night counts as lit when lit for 80 % of its window (DOMAIN.md), also when the lamp switched on and off
    // more than it should (cycling: a maintenance finding, not a failed installation).
    const windows = `SELECT device_id, count(CASE WHEN classification = 'lit'
                OR (classification = 'cycling' AND CAST(${field("litMin")} AS DOUBLE PRECISION) >= ${LIT_SHARE} * CAST(${field("coveredMin")} AS DOUBLE PRECISION)) THEN 1 END) AS lit,
              count(CASE WHEN pv_wh >= ? THEN 1 END) AS pv_days, max(last_ts) AS last_ts, ${lastOf("lat")} AS lat, ${lastOf("lon")} AS lon
       FROM nights WHERE date >= ? AND date <= ? GROUP BY device_id`;
    return bigText(
      db,
      db.dialect === "postgres"
        ? `SELECT json_agg(json_build_array(device_id, lit, pv_days, last_ts, lat, lon))::text AS json FROM (${windows}) w`
        : `SELECT '[' || string_agg(json_array(device_id, lit, pv_days, last_ts, lat, lon)::VARCHAR, ',') || ']' AS json FROM (${windows}) w`,
      [pvWh, from, to],
      "[]",
    );
  };
  return {
    async write(records: NightRecord[]) {
      if (records.length === 0) return;
      await db.tx(async (t) => {
        for (let i = 0; i < records.length; i += 200) {
          const chunk = records.slice(i, i + 200);
          await t.run(
            `INSERT INTO nights (device_id, date, classification, pv_wh, last_ts, lat, lon, body) VALUES ${chunk.map(() => "(?, ?, ?, ?, ?, ?, ?, ?)").join(", ")}
             ON CONFLICT (device_id, date) DO UPDATE SET classification = excluded.classification, pv_wh = excluded.pv_wh, last_ts = excluded.last_ts,
               lat = excluded.lat, lon = excluded.lon, body = excluded.body`,
            chunk.flatMap((r) => [
              r.deviceId,
              r.date,
              r.classification,
              r.pvWhDayBefore,
              r.lastTs ? Date.parse(r.lastTs) : null,
              r.gps?.lat ?? null,
              r.gps?.lon ?? null,
              JSON.stringify(r),
            ]),
          );
        }
      });
    },
    /** The records of these lights on one night (those recorded). */
    async on(date: string, deviceIds: readonly string[]): Promise<NightRecord[]> {
      const out: NightRecord[] = [];
      for (let i = 0; i < deviceIds.length; i += 500) {
        const ids = deviceIds.slice(i, i + 500);
        const rows = await db.all<{ body: string }>(`SELECT body FROM nights WHERE date = ? AND device_id IN (${ids.map(() => "?").join(", ")})`, [
          date,
          ...ids,
        ]);
        for (const r of rows) out.push(JSON.parse(r.body) as NightRecord);
      }
      return out;
    },
    async recordedOn(date: string): Promise<Set<string>> {
      const rows = await db.all<{ device_id: string }>("SELECT device_id FROM nights WHERE date = ?", [date]);
      return new Set(rows.map((r) => r.device_id));
    },
    async of(deviceId: string, from: string, to: string): Promise<NightRecord[]> {
      const rows = await db.all<{ body: string }>("SELECT body FROM nights WHERE device_id = ? AND date >= ? AND date <= ? ORDER BY date", [
        deviceId,
        from,
        to,
      ]);
      return rows.map((r) => JSON.parse(r.body) as NightRecord);
    },
    async latestDate(): Promise<string | null> {
      const rows = await db.all<{ d: string | null }>("SELECT max(date) AS d FROM nights");
      return rows[0]?.d ?? null;
    },
    /** Per light over a window of nights: nights lit (lit for 80 % of the window, cycling or not), days with PV above `pvWh`, the last reading and the last fix (what verification reads). */
    async summary(from: string, to: string, pvWh: number): Promise<LightWindow[]> {
      return lightWindows(readBigText(await summaryText(from, to, pvWh)));
    },
    summaryText,
    /**
     * Per light over the nights from `from` to `to`: nights recorded, minutes expected lit, lit and covered by data,
     * load and PV energy (Wh), and nights lost to a flat battery (`energy_limited`); for the energy report.
     */
    async energy(from: string, to: string): Promise<LightEnergy[]> {
      const num = (name: string) => `sum(CAST(${field(name)} AS DOUBLE PRECISION))`;
      const rows = await db.all<Record<string, number | bigint | string | null>>(
        `SELECT device_id, count(*) AS nights, ${num("expectedMin")} AS expected_min, ${num("litMin")} AS lit_min,
                ${num("coveredMin")} AS covered_min, ${num("loadWh")} AS load_wh, sum(pv_wh) AS pv_wh,
                count(CASE WHEN classification = 'energy_limited' THEN 1 END) AS flat
         FROM nights WHERE date >= ? AND date <= ? GROUP BY device_id`,
        [from, to],
      );
      const n = (v: number | bigint | string | null | undefined) => (v === null || v === undefined ? 0 : Number(v));
      return rows.map((r) => ({
        deviceId: String(r.device_id),
        nights: n(r.nights),
        expectedMin: n(r.expected_min),
        litMin: n(r.lit_min),
        coveredMin: n(r.covered_min),
        loadWh: n(r.load_wh),
        pvWh: n(r.pv_wh),
        flatNights: n(r.flat),
      }));
    },
    async classesOn(date: string): Promise<Map<string, string>> {
      const rows = await db.all<{ device_id: string; classification: string }>("SELECT device_id, classification FROM nights WHERE date = ?", [date]);
      return new Map(rows.map((r) => [r.device_id, r.classification]));
    },
    /**
     * The class of each light not lit on `date` (about one in twenty): what the digest and the field-work figures need.
     * A district's whole night (`classesOn`, 18,105 rows) made into objects on the service's thread held it 30–80 ms
     * a time, and the digest asked for it 4 times a town (docs/BENCHMARKS.md).
     */
    async unlitOn(date: string): Promise<Map<string, string>> {
      const rows = await db.all<{ device_id: string; classification: string }>(
        "SELECT device_id, classification FROM nights WHERE date = ? AND classification <> 'lit'",
        [date],
      );
      return new Map(rows.map((r) => [r.device_id, r.classification]));
    },
  };
}
export type NightStore = ReturnType<typeof nightStore>;
