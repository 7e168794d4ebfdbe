import { InfluxDB } from "influx";
import { ConstantBackoff } from "influx/lib/src/backoff/constant.js";
import { numericFields as fieldsOf } from "../../devices/index.js";
import { storeUnavailable } from "../platform/errors.js";
import type { Logger } from "../platform/log.js";
import type { AggQuery, AggRow, RawQuery, RawRow, StoredReading, TelemetryStore } from "./telemetry-store.js";

/**
 * The telemetry store on InfluxDB, through the v1 HTTP API (line protocol, InfluxQL): native in 1.x,
 * the compatibility API in 2.x and 3.x.
 *
 * Schema (cardinality): one measurement per family and message kind (`streetlight_telemetry`,
 * `blender_batch`…); tags are only what queries filter by — `device`, `family`, `town`, `village`,
 * `station` — so series = devices × measurements; every reading value is a field (`pv.w`,
 * `battery.soc`, `hopperKg.urea`, booleans as 0/1), plus `payload` (the message as JSON, for raw
 * reads) and `receivedAt`. A point is identified by its series and timestamp, so writing the same
 * reading again overwrites it: replays from the write-ahead log are idempotent.
 *
 * The store's checkpoint is a point in `agrilume_meta`, written after each batch's data, tagged with the writing
 * instance: each instance's write-ahead log numbers its records on its own, so where several instances share one
 * database each reads back only its own checkpoint (issue 18: with one shared checkpoint, an instance took another's
 * higher one for its own and skipped its spooled readings). A checkpoint written before instances were told apart
 * (untagged) is read when the instance has none of its own yet.
 */
export type InfluxOptions = {
  url: string;
  database: string;
  username?: string | undefined;
  password?: string | undefined;
  setup: boolean;
  rawRetention: string;
  rollupRetention: string;
  timeoutMs?: number;
  /** The instance whose checkpoint this store keeps (src/platform/instance.ts). */
  instance: string;
};

const META = "agrilume_meta";
const DATA = /^(streetlight|blender)_/;
const q = (name: string) => `"${name.replace(/"/g, '\\"')}"`;
const lit = (s: string) => `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
const ns = (ms: number) => `${Math.trunc(ms)}ms`;
/** A device id as an exact match inside an InfluxQL regular expression (/…/). */
const regexLiteral = (s: string) => s.replace(/[\\/^$.|?*+()[\]{}-]/g, "\\$&");
/** Line protocol's escapes: a measurement's commas and spaces; a tag key or value's or a field key's, and equals signs too; a
 * string field's quotes and backslashes. */
const MEASUREMENT_SPECIAL = /[, ]/g;
const KEY_SPECIAL = /[,= ]/g;
const QUOTED_SPECIAL = /["\\]/g;
const escapeKey = (s: string, special = KEY_SPECIAL) => (s.search(special) < 0 ? s : s.replace(special, "\\$&"));
/** True once `p` settles within `ms` (its rejection thrown), false if it has not by then (it is left to settle alone). */
async function settleWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([p.then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
const HOUR = 3600_000;
/** The hourly continuous query recomputes this many hours each hour (RESAMPLE FOR): readings up to an hour late. */
const RESAMPLE_HOURS = 2;
/** The hourly rollup of every field: `mean_<field>`, `min_<field>`, `max_<field>`, `count_<field>`. */
const ROLLUP_SELECT = "mean(*), min(*), max(*), count(*)";

export async function createInfluxTelemetryStore(
  opts: InfluxOptions,
  log: Logger,
  onDropped: (n: number) => void = () => undefined,
): Promise<TelemetryStore> {
  const u = new URL(opts.url);
  const influx = new InfluxDB({
    host: u.hostname,
    port: Number(u.port || (u.protocol === "https:" ? 443 : 80)),
    protocol: u.protocol === "https:" ? "https" : "http",
    database: opts.database,
    ...(opts.username !== undefined ? { username: opts.username } : {}),
    ...(opts.password !== undefined ? { password: opts.password } : {}),
    // Retries and their backoff are the store writer's; the client only waits half a second before trying a host again.
    pool: { requestTimeout: opts.timeoutMs ?? 30_000, maxRetries: 0, backoff: new ConstantBackoff({ delay: 500, jitter: 0.1 }) },
  });

  /** Database, retention policies and the hourly rollup (1.x). Done before the first operation, and tried again
   * on the next one if InfluxDB did not answer: the service starts and spools even while InfluxDB is down. */
  const setup = async () => {
    const dbs = await influx.getDatabaseNames();
    if (!dbs.includes(opts.database)) await influx.createDatabase(opts.database);
    const rps = (await influx.showRetentionPolicies(opts.database)).map((r) => r.name);
    const rp = async (name: string, duration: string, isDefault: boolean) => {
      if (rps.includes(name)) await influx.alterRetentionPolicy(name, { database: opts.database, duration, replication: 1, isDefault });
      else await influx.createRetentionPolicy(name, { database: opts.database, duration, replication: 1, isDefault });
    };
    await rp("raw", opts.rawRetention, true);
    await rp("rollup", opts.rollupRetention, false);
    // Hourly rollups of every reading field, kept for years; raw data expires with the "raw" policy. The query runs
    // each hour over the last two (RESAMPLE): readings of the hour before that, and older ones, are rolled up by the
    // write that brings them (rollUpLate). A query made before RESAMPLE was added is replaced.
    const cqs = await influx.showContinousQueries(opts.database);
    const cq = cqs.find((c) => c.name === "agrilume_hourly");
    if (cq && !/RESAMPLE/i.test(cq.query)) await influx.dropContinuousQuery("agrilume_hourly", opts.database);
    if (!cq || !/RESAMPLE/i.test(cq.query)) {
      await influx.createContinuousQuery(
        "agrilume_hourly",
        `SELECT ${ROLLUP_SELECT} INTO ${q(opts.database)}."rollup".:MEASUREMENT FROM ${q(opts.database)}."raw"./^(streetlight|blender)_/ GROUP BY time(1h), *`,
        opts.database,
        `RESAMPLE EVERY 1h FOR ${RESAMPLE_HOURS}h`,
      );
    }
  };

  /**
   * Readings of hours the continuous query will not run over again (before the last RESAMPLE_HOURS): their hours are
   * rolled up for the devices that sent them (the rollup of an hour is per series, so other devices' rows are written
   * again unchanged), one query per measurement, 200 devices and run of consecutive hours. Not on the write path: a
   * batch only marks its late hours (`markLate`), and one run at a time rolls up every hour marked since the last
   * (`settleRollups`). Run inside each write, a day-old batch of 5,000 readings cost 5 queries before its checkpoint and
   * the store took such readings at 1,126/s against 16,979/s of raw line protocol (npm run bench -- --only influx).
   * Marks not yet rolled up when the service stops or dies are lost: those hours' rollups miss the late readings (the
   * raw readings are kept, 60 days), said in docs/DATA.md.
   */
  const late = new Map<string, { hours: Set<number>; devices: Set<string> }>();
  let rolling: Promise<void> = Promise.resolve();
  let rollQueued = false;
  const markLate = (batch: StoredReading[]) => {
    if (!opts.setup) return; // retention policies and the continuous query are the operator's
    const horizon = Math.floor(Date.now() / HOUR) * HOUR - (RESAMPLE_HOURS - 1) * HOUR;
    for (const r of batch) {
      if (r.ts >= horizon || !DATA.test(r.measurement)) continue;
      let m = late.get(r.measurement);
      if (!m) {
        m = { hours: new Set(), devices: new Set() };
        late.set(r.measurement, m);
      }
      m.hours.add(Math.floor(r.ts / HOUR) * HOUR);
      m.devices.add(r.deviceId);
    }
    if (late.size > 0 && !rollQueued) {
      rollQueued = true;
      rolling = rolling.then(rollUpLate);
    }
  };
  const rollUpLate = async () => {
    rollQueued = false;
    const work = [...late];
    late.clear();
    for (const [measurement, { hours, devices }] of work) {
      try {
        await rollUp(measurement, hours, devices);
      } catch (e: unknown) {
        // InfluxDB away: marked again, rolled up after the next write that marks anything
        const m = late.get(measurement) ?? { hours: new Set<number>(), devices: new Set<string>() };
        for (const h of hours) m.hours.add(h);
        for (const d of devices) m.devices.add(d);
        late.set(measurement, m);
        log.warn({ err: e instanceof Error ? e.message : String(e), measurement }, "late readings' hourly rollups wait for InfluxDB");
      }
    }
  };
  const rollUp = async (measurement: string, hours: Set<number>, devices: Set<string>) => {
    const sorted = [...hours].sort((a, b) => a - b);
    const runs: [number, number][] = [];
    for (const h of sorted) {
      const last = runs[runs.length - 1];
      if (last && last[1] === h) last[1] = h + HOUR;
      else runs.push([h, h + HOUR]);
    }
    const ids = [...devices];
    for (let i = 0; i < ids.length; i += 200) {
      const match = ids
        .slice(i, i + 200)
        .map(regexLiteral)
        .join("|");
      for (const [from, to] of runs) {
        const query = influx.query(
          `SELECT ${ROLLUP_SELECT} INTO ${q(opts.database)}."rollup".:MEASUREMENT FROM ${q(opts.database)}."raw".${q(measurement)} WHERE "device" =~ /^(${match})$/ AND time >= ${ns(from)} AND time < ${ns(to)} GROUP BY time(1h), *`,
          { method: "POST" }, // a query that writes (INTO) is a POST
        );
        // A query whose InfluxDB was killed under it was seen never to settle: the next runs must not wait behind it.
        if (!(await settleWithin(query, opts.timeoutMs ?? 30_000))) throw new Error("a rollup query did not answer in time");
      }
    }
  };
  /** Settles when every late hour marked so far is rolled up (or put back, InfluxDB away). */
  const settleRollups = async (): Promise<void> => {
    while (rollQueued || late.size > 0) {
      if (!rollQueued) {
        rollQueued = true;
        rolling = rolling.then(rollUpLate);
      }
      const before = rolling;
      await before;
      if (late.size > 0 && rolling === before) break; // put back: InfluxDB away
    }
    await rolling;
  };
  let setupDone: Promise<void> | null = null;
  const ready = (): Promise<void> => {
    setupDone ??= (opts.setup ? setup() : Promise.resolve()).catch((e: unknown) => {
      setupDone = null;
      throw e;
    });
    return setupDone;
  };
  await ready().catch((e: unknown) =>
    log.warn({ err: e instanceof Error ? e.message : String(e), url: opts.url }, "InfluxDB does not answer yet; readings wait in the spool"),
  );

  /** One per measurement (the contract's fixed set), refreshed after a minute. */
  const fieldKeys = new Map<string, { at: number; keys: string[] }>();
  const numericFields = async (measurement: string): Promise<string[]> => {
    const cached = fieldKeys.get(measurement);
    if (cached && Date.now() - cached.at < 60_000) return cached.keys;
    const rows = await influx.query<{ fieldKey: string; fieldType: string }>(`SHOW FIELD KEYS FROM ${q(measurement)}`);
    const keys = rows.filter((r) => (r.fieldType === "float" || r.fieldType === "integer") && r.fieldKey !== "receivedAt").map((r) => r.fieldKey);
    fieldKeys.set(measurement, { at: Date.now(), keys });
    return keys;
  };
  const measurements = async (): Promise<string[]> => (await influx.getMeasurements()).filter((m) => DATA.test(m));
  const toRaw =
    (measurement: string) =>
    (r: { time: { getTime(): number }; payload: string; receivedAt: number }): RawRow => ({
      ts: r.time.getTime(),
      receivedAt: Number(r.receivedAt),
      measurement,
      payload: JSON.parse(r.payload) as Record<string, unknown>,
    });

  /**
   * A reading as a line of line protocol, made here rather than by the `influx` client: the client builds a point
   * object, a fields object, an array of sorted key/value pairs and a regex-escaped copy of each key for every reading,
   * and encodes the whole body twice (once for its length). A CPU profile of `npm run bench -- --only influx` showed
   * that path and the garbage it leaves (the collector's work grows with a large heap, as the service's is) costing the
   * store most of its gap to raw line protocol (0.76–0.89 of its rate: docs/BENCHMARKS.md). The line is what the client wrote: the
   * same tags (device, family, then the store tags that are not empty), every numeric field as a float (booleans 0/1),
   * `payload` as a string and `receivedAt`, the reading's time in ms.
   */
  const lineOf = (r: StoredReading): string => {
    const cut = r.measurement.indexOf("_");
    let line = `${escapeKey(r.measurement, MEASUREMENT_SPECIAL)},device=${escapeKey(r.deviceId)},family=${escapeKey(cut < 0 ? r.measurement : r.measurement.slice(0, cut))}`;
    if (r.tags.town) line += `,town=${escapeKey(r.tags.town)}`;
    if (r.tags.village) line += `,village=${escapeKey(r.tags.village)}`;
    if (r.tags.station) line += `,station=${escapeKey(r.tags.station)}`;
    const fields = fieldsOf(r.payload);
    let sep = " ";
    for (const k in fields) {
      line += `${sep}${escapeKey(k)}=${fields[k]}`;
      sep = ",";
    }
    return `${line}${sep}payload="${JSON.stringify(r.payload).replace(QUOTED_SPECIAL, "\\$&")}",receivedAt=${r.receivedAt} ${Math.trunc(r.ts)}`;
  };
  const writeUrl = new URL("/write", opts.url);
  writeUrl.searchParams.set("db", opts.database);
  writeUrl.searchParams.set("precision", "ms");
  const writeHeaders: Record<string, string> = { "content-type": "text/plain; charset=utf-8" };
  if (opts.username !== undefined) writeHeaders.authorization = `Basic ${Buffer.from(`${opts.username}:${opts.password ?? ""}`).toString("base64")}`;
  /** Line protocol to /write: 204, or an error whose message holds InfluxDB's answer (a partial write's `dropped=N`). */
  const writeLines = async (body: string) => {
    const res = await fetch(writeUrl, { method: "POST", headers: writeHeaders, body, signal: AbortSignal.timeout(opts.timeoutMs ?? 30_000) });
    if (res.status === 204) return;
    throw new Error(`InfluxDB write: ${res.status} ${res.statusText}: ${(await res.text()).slice(0, 500)}`);
  };

  const store: TelemetryStore = {
    kind: "influx",
    async write(batch: StoredReading[], checkpoint: number) {
      await ready();
      for (let i = 0; i < batch.length; i += 5000) {
        try {
          await writeLines(
            batch
              .slice(i, i + 5000)
              .map(lineOf)
              .join("\n"),
          );
        } catch (e: unknown) {
          // InfluxDB writes the rest of a batch and reports the points it dropped (beyond retention, type conflict):
          // retrying cannot bring those back, so they are counted, not retried.
          const msg = e instanceof Error ? e.message : String(e);
          if (!/partial write/.test(msg)) throw e;
          const dropped = Number(/dropped=(\d+)/.exec(msg)?.[1] ?? 0);
          onDropped(dropped);
          log.warn({ err: msg, dropped }, "InfluxDB dropped points of a batch");
        }
      }
      markLate(batch);
      await influx.writePoints([{ measurement: META, tags: { instance: opts.instance }, fields: { checkpoint }, timestamp: Date.now() }], {
        precision: "ms",
      });
    },
    async checkpoint() {
      await ready();
      const own = await influx.query<{ last: number }>(`SELECT last("checkpoint") FROM ${q(META)} WHERE "instance" = ${lit(opts.instance)}`);
      if (own[0]) return Number(own[0].last);
      // (an empty tag matches the points that have none: the one checkpoint of a single instance before its upgrade)
      const legacy = await influx.query<{ last: number }>(`SELECT last("checkpoint") FROM ${q(META)} WHERE "instance" = ''`);
      return legacy[0] ? Number(legacy[0].last) : 0;
    },
    async raw(rq: RawQuery) {
      await ready();
      const ms = rq.measurement ? [rq.measurement] : await measurements();
      const out: RawRow[] = [];
      for (const m of ms) {
        const rows = await influx.query<{ time: { getTime(): number }; payload: string; receivedAt: number }>(
          `SELECT "payload", "receivedAt" FROM ${q(m)} WHERE "device" = ${lit(rq.deviceId)} AND time >= ${ns(rq.from)} AND time < ${ns(rq.to)} ORDER BY time LIMIT ${Math.trunc(rq.limit)}`,
          { precision: "ms" },
        );
        out.push(...rows.map(toRaw(m)));
      }
      return out.sort((a, b) => a.ts - b.ts).slice(0, rq.limit);
    },
    async rawMany(rq) {
      await ready();
      const out = new Map<string, RawRow[]>();
      for (let i = 0; i < rq.deviceIds.length; i += 200) {
        const ids = rq.deviceIds.slice(i, i + 200);
        const res = await influx.query(
          `SELECT "payload", "receivedAt" FROM ${q(rq.measurement)} WHERE "device" =~ /^(${ids.map(regexLiteral).join("|")})$/ AND time >= ${ns(rq.from)} AND time < ${ns(rq.to)} GROUP BY "device"`,
          { precision: "ms" },
        );
        for (const g of res.groups()) {
          const id = String(g.tags.device);
          out.set(id, [
            ...(out.get(id) ?? []),
            ...(g.rows as unknown as { time: { getTime(): number }; payload: string; receivedAt: number }[]).map(toRaw(rq.measurement)),
          ]);
        }
      }
      return out;
    },
    async aggregate(aq: AggQuery): Promise<AggRow[]> {
      await ready();
      const all = await numericFields(aq.measurement);
      const fields = aq.fields?.length ? all.filter((f) => aq.fields?.includes(f)) : all;
      const out: AggRow[] = [];
      // a day is a China day: InfluxQL's offset moves the buckets' start from UTC midnight to China midnight
      const every = { minute: "1m", hour: "1h", day: "1d, -8h" }[aq.every];
      for (const f of fields) {
        const rows = await influx.query<{ time: { getTime(): number }; min: number; avg: number; max: number; last: number; count: number }>(
          `SELECT min(${q(f)}) AS "min", mean(${q(f)}) AS "avg", max(${q(f)}) AS "max", last(${q(f)}) AS "last", count(${q(f)}) AS "count" FROM ${q(aq.measurement)}
           WHERE "device" = ${lit(aq.deviceId)} AND time >= ${ns(aq.from)} AND time < ${ns(aq.to)} GROUP BY time(${every}) fill(none)`,
          { precision: "ms" },
        );
        for (const r of rows) out.push({ ts: r.time.getTime(), field: f, min: r.min, avg: r.avg, max: r.max, last: r.last, count: Number(r.count) });
      }
      return out.sort((a, b) => a.ts - b.ts || (a.field < b.field ? -1 : a.field > b.field ? 1 : 0));
    },
    async aggregateMany(aq) {
      // InfluxDB answers a device's fields a query each already; a device at a time (GROUP BY "device" would be one query a field)
      const out = new Map<string, AggRow[]>();
      for (const deviceId of aq.deviceIds) {
        const rows = await store.aggregate({ ...aq, deviceId });
        if (rows.length) out.set(deviceId, rows);
      }
      return out;
    },
    async eachAggregate(aq, visit) {
      for (const [deviceId, rows] of await store.aggregateMany(aq))
        for (const r of rows) visit(deviceId, r.ts, r.field, r.min, r.avg, r.max, r.last, r.count);
    },
    async latest(deviceId, measurement) {
      await ready();
      const rows = await influx.query<{ time: { getTime(): number }; payload: string; receivedAt: number }>(
        // (two selectors in one query would return time 0, so the newest row is read instead)
        `SELECT "payload", "receivedAt" FROM ${q(measurement)} WHERE "device" = ${lit(deviceId)} ORDER BY time DESC LIMIT 1`,
        { precision: "ms" },
      );
      return rows[0] ? toRaw(measurement)(rows[0]) : undefined;
    },
    async count(cq) {
      await ready();
      const ms = cq.measurement ? [cq.measurement] : await measurements();
      let n = 0;
      for (const m of ms) {
        const rows = await influx.query<{ count: number }>(
          `SELECT count("payload") FROM ${q(m)}${cq.deviceId ? ` WHERE "device" = ${lit(cq.deviceId)}` : ""}`,
        );
        n += rows.reduce((s, r) => s + Number(r.count), 0);
      }
      return n;
    },
    async writeDashboardPoints(points) {
      await ready();
      if (points.length === 0) return;
      await influx.writePoints(
        points.map((p) => ({
          measurement: p.measurement,
          tags: Object.fromEntries(Object.entries(p.tags).filter(([, v]) => v !== "")),
          fields: p.fields,
          timestamp: p.ts,
        })),
        // Derived points are few and evidence (nightly records, order progress, verified sums, condition changes): kept
        // as long as the rollups, in the same policy; dashboards read them there (docs/ARCHITECTURE.md, Dashboards).
        { precision: "ms", ...(opts.setup ? { retentionPolicy: "rollup" } : {}) },
      );
    },
    async ping() {
      const hosts = await influx.ping(5000);
      if (!hosts.some((h) => h.online)) throw new Error(`InfluxDB at ${opts.url} does not answer`);
    },
    settleRollups,
    async close() {
      // (a rollup under way is waited for a while, not for ever: what it leaves is said in docs/DATA.md)
      await settleWithin(rolling, 5000);
    },
  };
  return unavailableWhenUnreachable(store);
}

/** What a network that does not reach InfluxDB (or an InfluxDB that cannot serve) throws, by code or name. */
const UNREACHABLE = new Set(["ECONNREFUSED", "ECONNRESET", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EPIPE"]);
/** The methods that answer a request: what a person asked for cannot be had now (503, not 500); writes keep their errors (the log holds the readings). */
const READS = ["raw", "rawMany", "aggregate", "aggregateMany", "eachAggregate", "latest", "count"] as const;

function unavailableWhenUnreachable<S extends object>(store: S): S {
  const translate = (e: unknown): never => {
    const err = e as { code?: string; message?: string };
    if (err?.code && UNREACHABLE.has(err.code)) throw storeUnavailable(err.code);
    // the influx client's own: no host answers (ServiceNotAvailableError), or the server's 5xx (RequestError); their
    // names are only their classes' (the client sets no `name`), which it does not export
    const kind = (e as object | undefined)?.constructor?.name;
    if (kind === "ServiceNotAvailableError") throw storeUnavailable("no_host");
    if (kind === "RequestError" && /^A 5\d\d /.test(String(err.message))) throw storeUnavailable("server_error");
    throw e;
  };
  const methods = store as Record<string, unknown>;
  for (const name of READS) {
    const fn = methods[name];
    if (typeof fn === "function")
      methods[name] = (...args: unknown[]) => (fn as (...a: unknown[]) => Promise<unknown>).apply(store, args).catch(translate);
  }
  return store;
}
