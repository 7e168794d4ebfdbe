import { loadavg } from "node:os";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { Worker } from "node:worker_threads";
import type { MqttClient } from "mqtt";
import { topics } from "../devices/index.js";
import { ADMIN_KEY, reading, tempDir } from "../harness/helpers.js";
import { startServiceProcess } from "../harness/services.js";
import { hashSecret } from "../src/registry/secrets.js";
import { openStateStore } from "../src/state.js";
import { attack } from "./attacker.js";
import { connectAll, pctile, round } from "./load.js";
import { seedDistrict } from "./scale.js";

type Progress = (label: string, n: number, total: number) => void;

export type Phase = {
  name: string;
  seconds: number;
  sent: number;
  acked: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** The machine's 1-minute load average after the phase (other work on a shared machine moves every figure). */
  load: number;
  /** The longest this process's event loop was held during the phase (it times the PUBACKs). */
  generatorLagMaxMs?: number;
  /**
   * The service's own count (`agrilume_accept_seconds`, receipt to the write-ahead log's fsync, before the PUBACK) of
   * the readings it accepted during the phase, and how many of them took over 50 ms: what the service held up, apart from
   * what the network, the broker's send and this process's event loop added.
   */
  service?: { accepted: number; over50Ms: number; p99UpToMs: number | null };
  /**
   * The service's main-thread garbage collections during the phase (`agrilume_gc_pause_seconds`): how many, how many
   * took 10 ms or more and 25 ms or more, and their time in all. A collection holds every PUBACK due while it runs.
   */
  gc?: GcPauses;
  note?: string;
  /** When the phase began and ended, on the wall clock (ms since 1970): where it lies in a profile of the service. */
  from?: number;
  to?: number;
};

const LIGHTS = 18_105;
const NIGHTS = 30;
const SECRET = "bench-offthread-secret";

/**
 * PUBACK latency of a steady stream of QoS 1 readings while the service does long work, and while it is quiet, in one
 * run: a district's verification XLSX (18,105 lights × 30 nights), a 100,000-row claims import and a 100,000-row
 * device import (each file with one bad row at its end: every row is parsed and checked, nothing is stored), and many
 * devices connecting at once (a scrypt each); and the field-visit report of the district's claims (one in ten visited), as
 * JSON and as XLSX. The service runs in its own process, as `npm start` runs it: in the
 * benchmark's process a stall of the service's thread would stall the load generator too, which would then neither
 * send nor time anything during it.
 */
export async function benchOffThread(opts: { devices: number; rate: number; storm: number; quietS: number; progress: Progress }) {
  const { devices: n, rate, storm, progress } = opts;
  const dir = tempDir();
  const state = await openStateStore(dir.path);
  await seedDistrict(state, LIGHTS, NIGHTS);
  await seedVisits(state.db, LIGHTS);
  // The stream's devices and the storm's, all with one real secret (each still costs a scrypt on its first CONNECT).
  const hash = await hashSecret(SECRET);
  for (const [prefix, count] of [
    ["S", n],
    ["ST", storm],
  ] as const)
    await state.db.run(`INSERT INTO devices SELECT '${prefix}-' || lpad(i::VARCHAR, 6, '0'), 'streetlight', NULL, 'town-b', 'village-b', NULL,
      29.2 + (i % 100) * 0.0005, 105.8 + (i // 100) * 0.0005, '{}', '${hash}', false, now(), now(), NULL FROM range(${count}) t(i)`);
  await state.close();
  progress("seeded", LIGHTS, LIGHTS);

  // The import files, made before anything is timed (each under the API's 8 MiB body limit: hence the short ids).
  const b36 = (x: number) => x.toString(36);
  const claimsCsv = [
    "projectId,town,village,year,approvedLights,subsidyYuan,deviceId,lon,lat,controllerSerial,imei,installedAt",
    ...Array.from(
      { length: 100_000 },
      (_, i) =>
        `Q${b36(Math.floor(i / 100))},t${Math.floor(i / 25_000)},v${b36(Math.floor(i / 100))},2025,100,2700,C${b36(i)},${(106 + (i % 100) * 0.01).toFixed(2)},${(29 + Math.floor(i / 100) * 0.001).toFixed(3)},S${b36(i)},${860100000000000 + i},2025-06-01`,
    ),
  ];
  // the same file written (every row good), then refused for its last row (a short IMEI), parsed whole both times
  const claimsGoodBody = Buffer.from(claimsCsv.join("\n"));
  claimsCsv[claimsCsv.length - 1] = claimsCsv.at(-1)?.replace(/,\d{15},/, ",86010,") ?? "";
  const devicesCsv = [
    "id,family,town,village,lat,lon",
    ...Array.from({ length: 100_000 }, (_, i) => `D${b36(i)},streetlight,t${Math.floor(i / 25_000)},v${b36(Math.floor(i / 100))},29.35,105.93`),
  ];
  devicesCsv[devicesCsv.length - 1] = devicesCsv.at(-1)?.replace("29.35", "95") ?? ""; // a latitude out of range
  // The files as the bytes a client sends, made here: joining and encoding 12 MB inside a phase held this process's
  // event loop (which times the PUBACKs) 80–105 ms (join 53–79 ms, encode 27 ms, measured), and a real upload comes
  // from another machine.
  const claimsBody = Buffer.from(claimsCsv.join("\n"));
  const devicesBody = Buffer.from(devicesCsv.join("\n"));
  // (the 200,000 rows as strings, gone before anything is timed: a larger heap made this process's collections longer)
  claimsCsv.length = 0;
  devicesCsv.length = 0;
  (globalThis as { gc?: () => void }).gc?.();

  // AGRILUME_BENCH_PROFILE=DIR: the service's thread is profiled (bench/profile-preload.cjs), written to DIR at the end
  const profileDir = process.env.AGRILUME_BENCH_PROFILE;
  const profiling = profileDir
    ? { NODE_OPTIONS: `--require ${new URL("./profile-preload.cjs", import.meta.url).pathname}`, BENCH_PROFILE_DIR: profileDir }
    : {};
  const service = await startServiceProcess(dir.path, { AGRILUME_LOG_LEVEL: "error", ...profiling });
  const http = `http://127.0.0.1:${service.http}`;
  const url = `mqtt://127.0.0.1:${service.mqtt}`;
  const ids = Array.from({ length: n }, (_, i) => `S-${String(i).padStart(6, "0")}`);
  const clients = await connectAll(
    url,
    ids.map((id) => ({ id, secret: SECRET })),
    (k) => progress("stream devices connected", k, n),
  );
  const stream = startStream(clients, ids, rate);
  // Warm up, and let the service's first nightly pass (10 s after its start) go by before anything is measured.
  await sleep(15_000);

  const phases: Phase[] = [];
  // This process's own event-loop delay in each phase: it times the PUBACKs, so a large one says the generator, not
  // the service, held them up (as bench/flood.ts reports too).
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  const scrape = async () => {
    const text = Buffer.from((await call("/metrics")).body).toString();
    return { accepts: acceptBuckets(text), gc: gcTotals(text) };
  };
  const measure = async (name: string, work: () => Promise<string | undefined>) => {
    const before = await scrape();
    lag.reset();
    const t0 = performance.now();
    const note = await work();
    const t1 = performance.now();
    const generatorLagMaxMs = round(lag.max / 1e6);
    await sleep(1000); // what was sent during the phase is acknowledged
    const after = await scrape();
    const service = acceptsBetween(before.accepts, after.accepts);
    const gc = gcBetween(before.gc, after.gc);
    phases.push({
      ...stream.between(t0, t1, performance.now()),
      name,
      seconds: round((t1 - t0) / 1000),
      load: round(loadavg()[0] ?? 0),
      generatorLagMaxMs,
      service,
      gc,
      ...(note ? { note } : {}),
      from: Math.round(performance.timeOrigin + t0),
      to: Math.round(performance.timeOrigin + t1),
    });
    progress(`${name}`, phases.length, 7);
    await sleep(2000);
  };
  // The phases' requests go through a thread of their own (bench/http-worker.mjs): this thread times the PUBACKs.
  const client = httpClient(http);
  const call = (path: string, init: { method?: string; body?: Buffer; type?: string } = {}) =>
    client.request(path, { authorization: `Bearer ${ADMIN_KEY}`, ...(init.type ? { "content-type": init.type } : {}) }, init);

  await measure("quiet", async () => {
    await sleep(opts.quietS * 1000);
    return undefined;
  });
  await measure("verification XLSX", async () => {
    const res = await call(`/api/v1/verification/report.xlsx?nights=${NIGHTS}`);
    const bytes = res.body.byteLength;
    if (res.status !== 200) throw new Error(`report.xlsx: ${res.status}`);
    return `${LIGHTS.toLocaleString()} lights, ${Math.round(bytes / 1024)} KB`;
  });
  // (the JSON answer is read after the phase: parsing its 18,105 claims here held this process's event loop, which
  // times the PUBACKs, ~100 ms in one piece, as a browser parses it on another machine)
  let visitJson: ArrayBuffer | null = null;
  await measure("field-visit report + XLSX", async () => {
    const json = await call(`/api/v1/field-visits/report?nights=${NIGHTS}`);
    if (json.status !== 200) throw new Error(`field-visits/report: ${json.status}`);
    visitJson = json.body;
    const res = await call(`/api/v1/field-visits/report.xlsx?nights=${NIGHTS}`);
    const bytes = res.body.byteLength;
    if (res.status !== 200) throw new Error(`field-visits/report.xlsx: ${res.status}`);
    return `${LIGHTS.toLocaleString()} claims, ${VISITS.toLocaleString()} visits; JSON ${Math.round((visitJson?.byteLength ?? 0) / 1024)} KB then XLSX ${Math.round(bytes / 1024)} KB`;
  });
  const report = JSON.parse(Buffer.from(visitJson ?? new ArrayBuffer(0)).toString()) as { claims?: unknown[] };
  if (report.claims?.length !== LIGHTS) throw new Error(`field-visits/report: ${report.claims?.length} claims, expected ${LIGHTS}`);
  await measure("claims import, 100,000 rows written", async () => {
    const res = await call("/api/v1/projects/import", { method: "POST", body: claimsGoodBody, type: "text/csv" });
    const body = res.json() as { created?: number; projectsCreated?: number };
    if (res.status !== 200 || body.created !== 100_000) throw new Error(`claims import: ${res.status} ${JSON.stringify(body).slice(0, 300)}`);
    return `${body.created.toLocaleString()} claims, ${body.projectsCreated} projects written`;
  });
  await measure("claims import, 100,000 rows refused (the last)", async () => {
    const res = await call("/api/v1/projects/import", { method: "POST", body: claimsBody, type: "text/csv" });
    const body = res.json() as { error?: { details?: { rows?: unknown[] } } };
    if (res.status !== 422 || body.error?.details?.rows?.length !== 1) throw new Error(`claims import: ${res.status}, expected one bad row`);
    return "422, one bad row";
  });
  await measure("device import, 100,000 rows", async () => {
    const res = await call("/api/v1/devices/import", { method: "POST", body: devicesBody, type: "text/csv" });
    const body = res.json() as { error?: { details?: { rows?: unknown[] } } };
    if (res.status !== 422 || body.error?.details?.rows?.length !== 1) throw new Error(`device import: ${res.status}, expected one bad row`);
    return "422, one bad row";
  });
  // (the devices connect from a process of their own, as the flood's attacker does: 1,000 MQTT clients made in this
  // process held its event loop, and this process times the PUBACKs)
  let crowd: Awaited<ReturnType<typeof attack>> | null = null;
  await measure(`${storm.toLocaleString()} devices connect at once`, async () => {
    crowd = await attack("once", storm, 0, url, "ST-", SECRET);
    const failed = storm - (crowd.outcomes.connected ?? 0);
    return `${crowd.outcomes.connected ?? 0} connected in ${crowd.seconds} s${failed ? `, ${failed} failed` : ""}`;
  });
  lag.disable();
  await client.stop();
  stream.stop();
  for (const c of clients) c.end(true);
  await (crowd as Awaited<ReturnType<typeof attack>> | null)?.stop();
  if (profileDir) {
    const written = new Promise<void>((resolve) => {
      service.child.stderr?.on("data", (d: Buffer) => {
        if (d.toString().includes("AGRILUME_PROFILE_WRITTEN")) resolve();
      });
    });
    service.child.kill("SIGUSR2");
    await Promise.race([written, sleep(60_000)]);
  }
  // (not SIGTERM: a clean stop first writes the storm's thousands of presence events one statement each, for minutes here)
  service.child.kill("SIGKILL");
  await service.exited;
  dir.remove();
  return { devices: n, rate, lights: LIGHTS, nights: NIGHTS, errors: stream.errors(), phases };
}

/** The bureau's visit list recorded: one claim in ten visited (every tenth of those not found, one in seven with a photo). */
const VISITS = Math.ceil(LIGHTS / 10);
export async function seedVisits(db: Awaited<ReturnType<typeof openStateStore>>["db"], lights: number) {
  await db.run(`INSERT INTO field_visits SELECT v.id, v.device, v.town, v.at, json_object('id', v.id, 'deviceId', v.device, 'town', v.town,
      'village', 'village-' || (i // 100)::VARCHAR, 'inspector', '财政局 张科员', 'at', v.at, 'receivedAt', v.at, 'lat', 29.35, 'lon', 105.93,
      'accuracyM', 6, 'distanceM', 12, 'foundAtPole', i % 100 <> 0, 'poleNumber', 'P' || i::VARCHAR, 'controllerSerial', 'SN' || i::VARCHAR,
      'serialMatches', true, 'lit', i % 30 <> 0, 'statement', '每晚都亮', 'images',
      CASE WHEN i % 70 = 0 THEN json_array(json_object('id', v.id || '-p', 'visitId', v.id, 'kind', 'photo', 'mediaType', 'image/jpeg',
        'bytes', 180000, 'at', v.at, 'takenAt', NULL, 'gps', NULL)) ELSE json_array() END)
    FROM (SELECT i, 'V-' || i::VARCHAR AS id, 'YC-' || lpad(i::VARCHAR, 7, '0') AS device, 'town-' || (((i // 100) * 100) % 23)::VARCHAR AS town,
      epoch_ms(now())::BIGINT - 86400000 AS at FROM range(0, ${lights}, 10) t(i)) v`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** HTTP requests made in a thread of their own (bench/http-worker.mjs); a body given is moved there (empty here afterwards). */
function httpClient(base: string) {
  const worker = new Worker(new URL("./http-worker.mjs", import.meta.url));
  type Answer = { id: number; status?: number; body?: ArrayBuffer; error?: string };
  const waiting = new Map<number, (m: Answer) => void>();
  worker.on("message", (m: Answer) => {
    waiting.get(m.id)?.(m);
    waiting.delete(m.id);
  });
  let next = 1;
  return {
    async request(path: string, headers: Record<string, string>, init: { method?: string; body?: Buffer }) {
      const id = next++;
      // the body's own bytes moved to the thread (12 MB copied here would count against this thread's timing)
      const b = init.body;
      const own = b
        ? b.buffer instanceof ArrayBuffer && b.byteOffset === 0 && b.byteLength === b.buffer.byteLength
          ? b.buffer
          : new Uint8Array(b).buffer
        : undefined;
      const answer = await new Promise<Answer>((resolve) => {
        waiting.set(id, resolve);
        worker.postMessage({ id, url: `${base}${path}`, method: init.method, headers, body: own }, own ? [own] : []);
      });
      if (answer.error !== undefined || answer.status === undefined || !answer.body) throw new Error(`${path}: ${answer.error ?? "no answer"}`);
      const body = answer.body;
      return { status: answer.status, body, json: () => JSON.parse(Buffer.from(body).toString()) as unknown };
    },
    stop: () => worker.terminate(),
  };
}

/** The cumulative buckets of `agrilume_accept_seconds` in a /metrics text: upper bound in seconds → count. */
export function acceptBuckets(text: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const m of text.matchAll(/^agrilume_accept_seconds_bucket\{le="([^"]+)"\} (\d+)/gm))
    out.set(m[1] === "+Inf" ? Number.POSITIVE_INFINITY : Number(m[1]), Number(m[2]));
  return out;
}
type GcPauses = { count: number; over10Ms: number; over25Ms: number; totalMs: number };
/** The service's garbage collections so far, every kind together (`agrilume_gc_pause_seconds`). */
export function gcTotals(text: string): GcPauses {
  const sum = (re: RegExp) => [...text.matchAll(re)].reduce((n, m) => n + Number(m[1]), 0);
  const count = sum(/^agrilume_gc_pause_seconds_count\{[^}]*\} (\S+)/gm);
  return {
    count,
    over10Ms: count - sum(/^agrilume_gc_pause_seconds_bucket\{le="0\.01",[^}]*\} (\S+)/gm),
    over25Ms: count - sum(/^agrilume_gc_pause_seconds_bucket\{le="0\.025",[^}]*\} (\S+)/gm),
    totalMs: sum(/^agrilume_gc_pause_seconds_sum\{[^}]*\} (\S+)/gm) * 1000,
  };
}
const gcBetween = (a: GcPauses, b: GcPauses): GcPauses => ({
  count: b.count - a.count,
  over10Ms: b.over10Ms - a.over10Ms,
  over25Ms: b.over25Ms - a.over25Ms,
  totalMs: round(b.totalMs - a.totalMs),
});
/** What the service accepted between two readings of the buckets: how many, how many over 50 ms, and the bucket holding the 99th percentile. */
export function acceptsBetween(a: Map<number, number>, b: Map<number, number>) {
  const bounds = [...b.keys()].sort((x, y) => x - y);
  const within = (le: number) => (b.get(le) ?? 0) - (a.get(le) ?? 0);
  const accepted = within(Number.POSITIVE_INFINITY);
  const p99 = bounds.find((le) => within(le) >= accepted * 0.99);
  return {
    accepted,
    over50Ms: accepted - within(0.05),
    p99UpToMs: accepted === 0 || p99 === undefined || !Number.isFinite(p99) ? null : round(p99 * 1000),
  };
}

/**
 * Every device publishes at rate / devices, staggered, with at most 20 unacknowledged, until stopped (one 2 ms clock
 * sends what is due, as load.ts's paced pass does). Each reading's send time and its PUBACK's delay are kept, so any
 * window of time can be measured afterwards.
 */
export function startStream(clients: MqttClient[], ids: string[], rate: number) {
  const interval = 1000 / (rate / clients.length);
  const started = performance.now();
  const sentAt: number[] = [];
  const ackMs: number[] = [];
  let errors = 0;
  const devices = clients.map((c, d) => ({
    c,
    topic: topics.uplink("streetlight", ids[d] ?? "", "telemetry"),
    gps: { lat: 29.2 + (d % 100) * 0.0005, lon: 105.8 + Math.floor(d / 100) * 0.0005, accM: 3 },
    next: 0,
    inflight: 0,
    t0: started + (d / clients.length) * interval,
  }));
  let timer: NodeJS.Timeout | null = null;
  const tick = () => {
    const now = performance.now();
    for (const dev of devices) {
      while (dev.inflight < 20 && dev.t0 + dev.next * interval <= now) {
        dev.next++;
        dev.inflight++;
        const k = sentAt.length;
        sentAt.push(performance.now());
        ackMs.push(Number.NaN);
        dev.c.publishAsync(dev.topic, JSON.stringify(reading(Date.now(), { gps: dev.gps })), { qos: 1 }).then(
          () => {
            ackMs[k] = performance.now() - (sentAt[k] ?? 0);
            dev.inflight--;
          },
          () => {
            errors++;
            dev.inflight--;
          },
        );
      }
    }
    timer = setTimeout(tick, 2);
  };
  tick();
  return {
    stop: () => {
      if (timer) clearTimeout(timer);
    },
    errors: () => errors,
    /** The readings sent from t0 to t1: how many, how many acknowledged by `now`, and their PUBACK delays (one still
     * unacknowledged counts with its wait so far). */
    between(t0: number, t1: number, now: number) {
      const lat: number[] = [];
      let acked = 0;
      for (let k = 0; k < sentAt.length; k++) {
        const s = sentAt[k] ?? 0;
        if (s < t0 || s > t1) continue;
        const a = ackMs[k] ?? Number.NaN;
        if (Number.isNaN(a)) lat.push(now - s);
        else {
          lat.push(a);
          acked++;
        }
      }
      const max = lat.reduce((m, x) => Math.max(m, x), 0);
      return { sent: lat.length, acked, p50Ms: pctile(lat, 0.5), p99Ms: pctile(lat, 0.99), maxMs: round(max) };
    },
  };
}

/** The table's rows: PUBACK p99 in each phase against the 50 ms target. */
export function offThreadRows(r: Awaited<ReturnType<typeof benchOffThread>>): [string, string, string][] {
  return r.phases.map((p) => [
    `PUBACK p99, ${r.devices} devices at ${r.rate}/s: ${p.name} (target ≤ 50 ms)`,
    `${p.p99Ms} ms (p50 ${p.p50Ms}, max ${p.maxMs} ms; ${p.acked}/${p.sent} acked; ${p.seconds} s${p.note ? `; ${p.note}` : ""}; load ${p.load}; generator loop delay max ${p.generatorLagMaxMs} ms${p.service ? `; the service's accept: ${p.service.over50Ms} of ${p.service.accepted} over 50 ms, p99 ≤ ${p.service.p99UpToMs ?? "?"} ms` : ""}${p.gc ? `; its GC: ${p.gc.count} pauses, ${p.gc.over10Ms} ≥ 10 ms, ${p.gc.over25Ms} ≥ 25 ms, ${p.gc.totalMs} ms in all` : ""})`,
    p.p99Ms <= 50 ? "✓" : "✗",
  ]);
}
