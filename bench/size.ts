import { statSync } from "node:fs";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { tempDir } from "../harness/helpers.js";
import { DISTRICT_LIGHTS, planDistrict } from "../simulators/district.js";
import { newPhysics, streetlightReading } from "../simulators/streetlight.js";
import { LIGHT_ROLLUPS } from "../src/storage/duckdb-fields.js";
import { chinaDayStart, DEFAULT_RETENTION } from "../src/storage/duckdb-retention.js";
import { createDuckDbTelemetryStore } from "../src/storage/duckdb-telemetry.js";
import type { StoredReading, TelemetryStore } from "../src/storage/telemetry-store.js";
import { round } from "./load.js";

const DAY = 86_400_000;
const STEP = 300_000; // a reading every 5 minutes
const PER_DAY = DAY / STEP;

/**
 * What a district's embedded store weighs (issue 19): `lights` of the district's plan report every 5 minutes for `days`
 * (the simulator's physics, time accelerated: readings are made as fast as the store takes them), through the store's
 * own `write` in batches of 5,000 as the store writer sends them. Measured: bytes on disk per raw reading; the time of a
 * month's aggregate of one light and of every light of a town (light by light, and in one query), from raw; the retention run that folds the month into
 * rollups, and the rollups' bytes per light-day; the same aggregates from the rollups. Projected from those, linearly
 * (the fleet is scaled down, and said so): a district-year of 18,105 lights with the default retention.
 */
export async function benchSize(opts: { lights: number; days: number; progress: (label: string, n: number, total: number) => void }) {
  const dir = tempDir("agrilume-bench-size-");
  const file = join(dir.path, "telemetry.duckdb");
  const bytes = () => statSync(file).size + (statSync(`${file}.wal`, { throwIfNoEntry: false })?.size ?? 0);
  try {
    let store: TelemetryStore = await createDuckDbTelemetryStore(dir.path);
    await store.close();
    const empty = bytes();
    store = await createDuckDbTelemetryStore(dir.path);
    const plan = planDistrict({ lights: opts.lights, faultCounts: {} });
    const physics = plan.map((l) => newPhysics(l));
    // the month ends at a China midnight 3 days ago, so that a retention run at "now" leaves it all in raw
    const end = chinaDayStart(Date.now()) - 3 * DAY;
    const start = end - opts.days * DAY;
    const steps = opts.days * PER_DAY;
    let seq = 0;
    let batch: StoredReading[] = [];
    let writeMs = 0;
    const flush = async () => {
      const s = performance.now();
      await store.write(batch, seq);
      writeMs += performance.now() - s;
      batch = [];
    };
    for (let k = 0; k < steps; k++) {
      const t = start + k * STEP;
      for (let i = 0; i < plan.length; i++) {
        const l = plan[i];
        const p = physics[i];
        if (!l || !p) continue;
        const ts = t + (i % 300) * 1000; // each light at its own second of the 5 minutes
        const payload = streetlightReading(l, p, ts, STEP / 1000) as unknown as Record<string, unknown>;
        batch.push({
          seq: ++seq,
          measurement: "streetlight_telemetry",
          deviceId: l.id,
          ts,
          receivedAt: ts + 120,
          tags: { town: l.town, village: l.village },
          payload,
        });
        if (batch.length === 5000) await flush();
      }
      if (k % PER_DAY === PER_DAY - 1) opts.progress("readings written (simulated days)", (k + 1) / PER_DAY, opts.days);
    }
    if (batch.length) await flush();
    const readings = seq;
    await store.close(); // a checkpoint: the write-ahead log of DuckDB is merged into the file
    const rawBytes = bytes() - empty;

    const town = plan[0]?.town ?? "";
    const townLights = plan.filter((l) => l.town === town).map((l) => l.id);
    const light = townLights[0] ?? "";
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
    const queries = async (label: string) => {
      const s = await createDuckDbTelemetryStore(dir.path);
      const q = (deviceId: string, every: "hour" | "day") =>
        s.aggregate({ deviceId, measurement: "streetlight_telemetry", from: start, to: end, every, fields: ["battery.soc", "load.w", "pv.w"] });
      await q(light, "day"); // warm
      const time = async (fn: () => Promise<unknown>) => {
        const t0 = performance.now();
        await fn();
        return performance.now() - t0;
      };
      const lightDay: number[] = [];
      const lightHour: number[] = [];
      for (let r = 0; r < 5; r++) {
        lightDay.push(await time(() => q(light, "day")));
        lightHour.push(await time(() => q(light, "hour")));
      }
      let buckets = 0;
      let townMs = 0;
      for (const [i, id] of townLights.entries()) {
        townMs += await time(async () => {
          buckets += (await q(id, "day")).length;
        });
        opts.progress(`a town's month, light by light (${label})`, i + 1, townLights.length);
      }
      // the same town in one query (aggregateMany), as a chart or report of a town asks: median of 3
      const townQuery = (every: "hour" | "day") =>
        s.aggregateMany({
          deviceIds: townLights,
          measurement: "streetlight_telemetry",
          from: start,
          to: end,
          every,
          fields: ["battery.soc", "load.w", "pv.w"],
        });
      const townDay: number[] = [];
      const townHour: number[] = [];
      let townOneBuckets = 0;
      for (let r = 0; r < 3; r++) {
        townDay.push(
          await time(async () => {
            townOneBuckets = [...(await townQuery("day")).values()].reduce((n, rows) => n + rows.length, 0);
          }),
        );
        townHour.push(await time(() => townQuery("hour")));
      }
      if (townOneBuckets !== buckets) throw new Error(`a town in one query gave ${townOneBuckets} buckets, light by light ${buckets}`);
      // every light of the run in one query (with `--lights 787`, an average town's 787 lights: 18,105 / 23)
      const allDay: number[] = [];
      for (let r = 0; r < 3; r++)
        allDay.push(
          await time(() =>
            s.aggregateMany({ deviceIds: plan.map((l) => l.id), measurement: "streetlight_telemetry", from: start, to: end, every: "day" }),
          ),
        );
      await s.close();
      return {
        lightMonthDailyMs: round(median(lightDay)),
        lightMonthHourlyMs: round(median(lightHour)),
        townMonthDailyMs: round(townMs),
        townBuckets: buckets,
        townOneQueryDailyMs: round(median(townDay)),
        townOneQueryHourlyMs: round(median(townHour)),
        allLightsOneQueryDailyAllFieldsMs: round(median(allDay)),
      };
    };
    const fromRaw = await queries("raw");

    // The retention run a district's store makes each hour, here for the whole month at once: as if 60 days had passed.
    opts.progress("retention run (folded into rollups)", 0, 1);
    store = await createDuckDbTelemetryStore(dir.path);
    const t0 = performance.now();
    const folded = await store.applyRetention?.(end + DEFAULT_RETENTION.rawMs + DAY);
    const foldMs = performance.now() - t0;
    await store.close();
    opts.progress("retention run (folded into rollups)", 1, 1);
    const fromRollups = await queries("rollups");

    // The rollups' own bytes: each copied into a file of its own (the store's file keeps the raw rows' freed blocks for reuse).
    const inst = await DuckDBInstance.create(file);
    const c = await inst.connect();
    const tableBytes = async (table: string) => {
      const path = join(dir.path, `${table}.duckdb`);
      await c.run(`ATTACH '${path}' AS copy; CREATE TABLE copy.${table} AS SELECT * FROM ${table} WHERE false; CHECKPOINT copy`);
      const before = statSync(path).size;
      await c.run(`INSERT INTO copy.${table} SELECT * FROM ${table}; CHECKPOINT copy; DETACH copy`);
      return statSync(path).size - before;
    };
    const rows = async (table: string) => Number((await c.runAndReadAll(`SELECT count(*) FROM ${table}`)).getRows()[0]?.[0] ?? 0);
    // both forms: a row per light and bucket (streetlight readings with every field), a row per field (any other)
    const both = async (tables: string[]) => {
      let r = 0;
      let b = 0;
      for (const t of tables) {
        r += await rows(t);
        b += await tableBytes(t);
      }
      return { rows: r, bytes: b };
    };
    const hourly = await both(["rollup_hourly", LIGHT_ROLLUPS.hourly.table]);
    const daily = await both(["rollup_daily", LIGHT_ROLLUPS.daily.table]);
    c.closeSync();
    inst.closeSync();

    const lightDays = opts.lights * opts.days;
    const perReading = rawBytes / readings;
    const perLightDay = { raw: perReading * PER_DAY, hourly: hourly.bytes / lightDays, daily: daily.bytes / lightDays };
    const district = (days: number) => DISTRICT_LIGHTS * days;
    const GB = 1e9;
    const rawDays = DEFAULT_RETENTION.rawMs / DAY + 1; // whole China days: up to one more
    const hourlyDays = DEFAULT_RETENTION.hourlyMs / DAY;
    const projection = {
      rawGB: round((district(rawDays) * perLightDay.raw) / GB),
      /** after the first year: 60 days raw, the rest of the year in hourly and daily rollups */
      yearOneGB: round((district(rawDays) * perLightDay.raw + district(365 - rawDays + 1) * (perLightDay.hourly + perLightDay.daily)) / GB),
      /** from the third year on: 60 days raw, 104 weeks hourly, and daily rollups growing by this much a year */
      steadyGB: round((district(rawDays) * perLightDay.raw + district(hourlyDays) * perLightDay.hourly + district(2 * 365) * perLightDay.daily) / GB),
      dailyPerYearGB: round((district(365) * perLightDay.daily) / GB),
    };
    return {
      lights: opts.lights,
      days: opts.days,
      readings,
      writeSeconds: round(writeMs / 1000),
      rawBytes,
      bytesPerReading: round(perReading),
      hourly: { ...hourly, bytesPerLightDay: round(perLightDay.hourly) },
      daily: { ...daily, bytesPerLightDay: round(perLightDay.daily) },
      retentionRun: { ...folded, seconds: round(foldMs / 1000), msPer100kReadings: round((foldMs / readings) * 100_000) },
      town: { name: town, lights: townLights.length },
      fromRaw,
      fromRollups,
      projection,
    };
  } finally {
    dir.remove();
  }
}

export function sizeRows(r: Awaited<ReturnType<typeof benchSize>>): [string, string, string][] {
  const perTown = (ms: number) => round((ms / r.town.lights) * Math.round(DISTRICT_LIGHTS / 23));
  return [
    [`readings written (${r.lights} lights × ${r.days} days, every 5 minutes)`, `${r.readings.toLocaleString()} in ${r.writeSeconds} s`, ""],
    ["raw: bytes on disk per reading", `${r.bytesPerReading} B`, ""],
    ["hourly rollup: bytes per light-day", `${r.hourly.bytesPerLightDay} B (${r.hourly.rows.toLocaleString()} rows)`, ""],
    ["daily rollup: bytes per light-day", `${r.daily.bytesPerLightDay} B (${r.daily.rows.toLocaleString()} rows)`, ""],
    [
      "retention run (fold into rollups, delete raw)",
      `${r.retentionRun.seconds} s, ${r.retentionRun.msPer100kReadings} ms per 100k readings, ${r.retentionRun.steps} steps`,
      "",
    ],
    ["district (18,105 lights): raw, 60 days", `${r.projection.rawGB} GB`, ""],
    ["district-year, retention on (projected; goal ≤ 20 GB)", `${r.projection.yearOneGB} GB`, r.projection.yearOneGB <= 20 ? "✓" : "✗"],
    [
      "district from year 3 (104 weeks hourly) + daily per year",
      `${r.projection.steadyGB} GB + ${r.projection.dailyPerYearGB} GB/year`,
      r.projection.steadyGB <= 20 ? "✓" : "✗",
    ],
    ["a light's month, daily aggregate: raw / rollups (median)", `${r.fromRaw.lightMonthDailyMs} / ${r.fromRollups.lightMonthDailyMs} ms`, ""],
    ["a light's month, hourly aggregate: raw / rollups (median)", `${r.fromRaw.lightMonthHourlyMs} / ${r.fromRollups.lightMonthHourlyMs} ms`, ""],
    [
      `a town's month (${r.town.lights} lights, one query each), daily: raw / rollups`,
      `${r.fromRaw.townMonthDailyMs} / ${r.fromRollups.townMonthDailyMs} ms`,
      r.fromRaw.townMonthDailyMs <= 1000 ? "✓" : "✗",
    ],
    [
      `a town's month in one query (aggregateMany), daily: raw / rollups (median)`,
      `${r.fromRaw.townOneQueryDailyMs} / ${r.fromRollups.townOneQueryDailyMs} ms`,
      r.fromRaw.townOneQueryDailyMs <= 1000 ? "✓" : "✗",
    ],
    [
      `a town's month in one query, hourly: raw / rollups (median)`,
      `${r.fromRaw.townOneQueryHourlyMs} / ${r.fromRollups.townOneQueryHourlyMs} ms`,
      r.fromRaw.townOneQueryHourlyMs <= 1000 ? "✓" : "✗",
    ],
    [
      `one query for a town of ${Math.round(DISTRICT_LIGHTS / 23)} lights, daily (linear in its lights)`,
      `${perTown(r.fromRaw.townOneQueryDailyMs)} / ${perTown(r.fromRollups.townOneQueryDailyMs)} ms`,
      perTown(r.fromRaw.townOneQueryDailyMs) <= 1000 ? "✓" : "✗",
    ],
    [
      `all ${r.lights} lights of the run in one query, daily, every field: raw / rollups (median; measured)`,
      `${r.fromRaw.allLightsOneQueryDailyAllFieldsMs} / ${r.fromRollups.allLightsOneQueryDailyAllFieldsMs} ms`,
      "",
    ],
    [
      `the same for a town of ${Math.round(DISTRICT_LIGHTS / 23)} lights (a district's average; linear)`,
      `${perTown(r.fromRaw.townMonthDailyMs)} / ${perTown(r.fromRollups.townMonthDailyMs)} ms`,
      perTown(r.fromRaw.townMonthDailyMs) <= 1000 ? "✓" : "✗",
    ],
  ];
}
