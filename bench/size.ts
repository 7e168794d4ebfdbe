import { statSync } from "node:fs";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { ADMIN_KEY, tempDir } from "../harness/helpers.js";
import { startServiceProcess } from "../harness/services.js";
import { DISTRICT_LIGHTS, planDistrict } from "../simulators/district.js";
import { newPhysics, streetlightReading } from "../simulators/streetlight.js";
import { DAILY_FIELDS, HOURLY_FIELDS, LIGHT_ROLLUPS } from "../src/storage/duckdb-fields.js";
import { chinaDayStart, DEFAULT_RETENTION } from "../src/storage/duckdb-retention.js";
import { createDuckDbTelemetryStore } from "../src/storage/duckdb-telemetry.js";
import type { StoredReading, TelemetryStore } from "../src/storage/telemetry-store.js";
import { median, round } from "./load.js";

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
export async function benchSize(opts: {
  lights: number;
  days: number;
  /** readings a store write (5,000: the store writer's batch; more writes the month faster through the same `write`) */
  batch?: number;
  /** leave out the month's queries from raw and the town's lights a query each (minutes at 787 lights × 30 days) */
  skipRaw?: boolean;
  progress: (label: string, n: number, total: number) => void;
}) {
  const batchSize = opts.batch ?? 5000;
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
        if (batch.length === batchSize) await flush();
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
    const queries = async (label: string, slow = true) => {
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
      for (const [i, id] of (slow ? townLights : []).entries()) {
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
      if (slow && townOneBuckets !== buckets) throw new Error(`a town in one query gave ${townOneBuckets} buckets, light by light ${buckets}`);
      // every light of the run in one query (with `--lights 787`, an average town's 787 lights: 18,105 / 23), every field
      // the rollups keep (hourly five, daily nine: duckdb-fields.ts), daily and hourly, read row by row as the town's
      // route reads it (eachAggregate: no object a row)
      const kept = async (every: "hour" | "day") => {
        const ms: number[] = [];
        let rows = 0;
        for (let r = 0; r < 3; r++)
          ms.push(
            await time(async () => {
              rows = 0;
              await s.eachAggregate(
                {
                  deviceIds: plan.map((l) => l.id),
                  measurement: "streetlight_telemetry",
                  from: start,
                  to: end,
                  every,
                  fields: [...(every === "hour" ? HOURLY_FIELDS : DAILY_FIELDS)],
                },
                () => {
                  rows++;
                },
              );
            }),
          );
        return { ms: round(median(ms)), rows };
      };
      const allKeptDay = await kept("day");
      const allKeptHour = await kept("hour");
      const allDay: number[] = [];
      for (let r = 0; r < (slow ? 3 : 0); r++)
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
        allLightsKeptDaily: allKeptDay,
        allLightsKeptHourly: allKeptHour,
      };
    };
    const fromRaw = opts.skipRaw ? null : await queries("raw");

    // The live rollups (duckdb-retention.ts rollUp), as the service's job makes them every few minutes, here the month
    // at once: "now" is 5 minutes after the month's end, so its last hour is still open (raw), as a month up to now is.
    opts.progress("live rollups (the month's closed hours)", 0, 1);
    store = await createDuckDbTelemetryStore(dir.path);
    const r0 = performance.now();
    const live = await store.rollUp?.(end + 5 * 60_000);
    const liveMs = performance.now() - r0;
    await store.close();
    opts.progress("live rollups (the month's closed hours)", 1, 1);
    const fromLive = await queries("live rollups", !opts.skipRaw);
    const overHttp = await townOverHttp(dir.path, plan, start, end, opts.progress);

    // The retention run a district's store makes each hour, here for the whole month at once: as if 60 days had passed.
    opts.progress("retention run (folded into rollups)", 0, 1);
    store = await createDuckDbTelemetryStore(dir.path);
    const t0 = performance.now();
    const folded = await store.applyRetention?.(end + DEFAULT_RETENTION.rawMs + DAY);
    const foldMs = performance.now() - t0;
    await store.close();
    opts.progress("retention run (folded into rollups)", 1, 1);
    const fromRollups = await queries("rollups", !opts.skipRaw);

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
      liveRollups: { ...live, seconds: round(liveMs / 1000), msPer100kReadings: round((liveMs / readings) * 100_000) },
      retentionRun: { ...folded, seconds: round(foldMs / 1000), msPer100kReadings: round((foldMs / readings) * 100_000) },
      town: { name: town, lights: townLights.length },
      batch: batchSize,
      fromRaw,
      fromLive,
      fromRollups,
      overHttp,
      projection,
    };
  } finally {
    dir.remove();
  }
}

/** The bench's name for the town every light of the run is registered in, for the HTTP measure (an average town's 787 lights with `--lights 787`). */
const HTTP_TOWN = "平均镇";

/**
 * A town's month as a user asks for it: the real service (its own process, on the month's data directory, the live
 * rollups made), every light of the run registered in one town through the CSV import, then `GET
 * /api/v1/telemetry/aggregate` for the month, daily, timed from the request to the answer's last byte (gzipped, as
 * fetch accepts it): by default (the nine fields the daily rollups keep) and the three a chart draws; the first request
 * apart, then the median of five more.
 */
async function townOverHttp(
  dataDir: string,
  plan: readonly { id: string; village: string; lat: number; lon: number }[],
  from: number,
  to: number,
  progress: (label: string, n: number, total: number) => void,
) {
  progress("a town's month over HTTP (the service started)", 0, 1);
  const service = await startServiceProcess(dataDir, { AGRILUME_LOG_LEVEL: "error" });
  try {
    const base = `http://127.0.0.1:${service.http}/api/v1`;
    const headers = { authorization: `Bearer ${ADMIN_KEY}` };
    const csv = ["id,family,town,village,lat,lon", ...plan.map((l) => `${l.id},streetlight,${HTTP_TOWN},${l.village},${l.lat},${l.lon}`)].join("\n");
    const imported = await fetch(`${base}/devices/import`, { method: "POST", body: csv, headers: { ...headers, "content-type": "text/csv" } });
    if (imported.status !== 201) throw new Error(`the lights' import answered ${imported.status}: ${(await imported.text()).slice(0, 500)}`);
    // the service's first nightly pass runs 10 s after its start: let it go by
    await new Promise((r) => setTimeout(r, 15_000));
    const timed = async (fields?: string) => {
      const ms: number[] = [];
      let bytes = 0;
      let lights = 0;
      for (let r = 0; r < 6; r++) {
        const t0 = performance.now();
        const res = await fetch(
          `${base}/telemetry/aggregate?town=${encodeURIComponent(HTTP_TOWN)}&from=${new Date(from).toISOString()}&to=${new Date(to).toISOString()}&every=day${fields ? `&fields=${fields}` : ""}`,
          { headers },
        );
        const body = await res.text();
        ms.push(performance.now() - t0);
        if (res.status !== 200) throw new Error(`the town's aggregates answered ${res.status}: ${body.slice(0, 500)}`);
        bytes = body.length;
        const answer = JSON.parse(body) as { lights: { fields: Record<string, unknown> }[] };
        lights = answer.lights.filter((l) => Object.keys(l.fields).length > 0).length;
        progress("a town's month over HTTP", r + 1, 6);
      }
      // the first after the service's start (its code not yet compiled hot, the rollups not yet in DuckDB's cache), then the median of the next five
      return { firstMs: round(ms[0] ?? 0), ms: round(median(ms.slice(1))), bytes, lightsWithData: lights };
    };
    return { lights: plan.length, kept: await timed(), chart: await timed("battery.soc,load.w,pv.w") };
  } finally {
    service.child.kill("SIGTERM");
    await service.exited;
  }
}

type SizeResult = Awaited<ReturnType<typeof benchSize>>;
type Queries = SizeResult["fromLive"];
/** A measure from raw / the live rollups / after retention ("—": not measured: `--skip-raw`). */
const three = (r: SizeResult, get: (q: Queries) => number) =>
  [r.fromRaw, r.fromLive, r.fromRollups].map((q) => (q && get(q) > 0 ? `${get(q)}` : "—")).join(" / ") + " ms";

export function sizeRows(r: SizeResult): [string, string, string][] {
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
    [
      "live rollups of the month's closed hours (rollUp)",
      `${r.liveRollups.seconds} s, ${r.liveRollups.msPer100kReadings} ms per 100k readings, ${r.liveRollups.steps} steps`,
      "",
    ],
    // each query: from raw (before any rollup) / from the live rollups (raw still holds the month) / after retention
    ["(queries below: from raw / from the live rollups / after the retention run)", "", ""],
    ["a light's month, daily aggregate (median of 5)", three(r, (q) => q.lightMonthDailyMs), ""],
    ["a light's month, hourly aggregate (median of 5)", three(r, (q) => q.lightMonthHourlyMs), ""],
    [`a town's month (${r.town.lights} lights, a query each), daily`, three(r, (q) => q.townMonthDailyMs), ""],
    [`a town's month in one query (aggregateMany), daily, 3 fields (median of 3)`, three(r, (q) => q.townOneQueryDailyMs), ""],
    [`a town's month in one query, hourly, 3 fields (median of 3)`, three(r, (q) => q.townOneQueryHourlyMs), ""],
    [
      `all ${r.lights} lights of the run in one query (eachAggregate), daily, every field the rollups keep (median of 3)`,
      `${three(r, (q) => q.allLightsKeptDaily.ms)} (${r.fromLive.allLightsKeptDaily.rows.toLocaleString()} rows)`,
      r.fromLive.allLightsKeptDaily.ms <= 1000 ? "✓" : "✗",
    ],
    [
      `all ${r.lights} lights of the run in one query (eachAggregate), hourly, every field the rollups keep (median of 3)`,
      `${three(r, (q) => q.allLightsKeptHourly.ms)} (${r.fromLive.allLightsKeptHourly.rows.toLocaleString()} rows)`,
      r.fromLive.allLightsKeptHourly.ms <= 1000 ? "✓" : "✗",
    ],
    [
      `GET /telemetry/aggregate: a town of ${r.overHttp.lights} lights, ${r.days} days daily, the 9 default fields, request to last byte (median of 5 after the first; live rollups)`,
      `${r.overHttp.kept.ms} ms (the first ${r.overHttp.kept.firstMs} ms; ${(r.overHttp.kept.bytes / 1e6).toFixed(1)} MB, ${r.overHttp.kept.lightsWithData} lights with data)`,
      r.overHttp.kept.ms <= 1000 && r.overHttp.kept.lightsWithData === r.overHttp.lights ? "✓" : "✗",
    ],
    [
      `GET /telemetry/aggregate: the same, 3 fields (battery.soc, load.w, pv.w)`,
      `${r.overHttp.chart.ms} ms (the first ${r.overHttp.chart.firstMs} ms; ${(r.overHttp.chart.bytes / 1e6).toFixed(1)} MB)`,
      r.overHttp.chart.ms <= 1000 && r.overHttp.chart.lightsWithData === r.overHttp.lights ? "✓" : "✗",
    ],
    [
      `all ${r.lights} lights in one query, daily, every field (the 15: those not kept from raw)`,
      three(r, (q) => q.allLightsOneQueryDailyAllFieldsMs),
      "",
    ],
  ];
}
