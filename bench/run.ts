import { mkdirSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { createServer } from "node:net";
import os from "node:os";
import { parseArgs } from "node:util";
import { Aedes } from "aedes";
import mqtt, { type MqttClient } from "mqtt";
import { topics } from "../devices/index.js";
import { startTestApp } from "../harness/helpers.js";
import { INFLUXD, MOSQUITTO, MOSQUITTO_SERVICE, POSTGRES_BIN, startInflux, startMosquitto } from "../harness/services.js";
import { DISTRICT_LIGHTS, planDistrict } from "../simulators/district.js";
import { newPhysics, streetlightReading } from "../simulators/streetlight.js";
import { benchCampaign, campaignRows } from "./campaign.js";
import { benchFlood, floodRows } from "./flood.js";
import { benchImports, importRows } from "./imports.js";
import { benchLateBatch } from "./late.js";
import { connectAll, type LoadResult, pctile, round, runLoad } from "./load.js";
import { benchMap } from "./map.js";
import { benchOffThread, offThreadRows } from "./offthread.js";
import { benchRegistry, benchRegistryService, benchReports } from "./scale.js";
import { benchSize, sizeRows } from "./size.js";

/**
 * npm run bench [-- --quick] [-- --only ingest|external|offthread|flood|imports|late|influx|size|ha|campaign]: throughput, latency and memory of the real pipeline against baselines
 * measured in the same run (a bare aedes that only acknowledges; Mosquitto relaying to one
 * subscriber; raw line-protocol writes to the same InfluxDB). Prints a table and writes JSON.
 * `--only ingest` runs the ingest scenarios alone (the pipeline and its two baselines), for profiling; `--only external`
 * the embedded pipeline and the same load through Mosquitto to the external-broker source; `--only offthread`
 * the PUBACK latency of a steady stream while the service makes a report, imports files and takes a connect storm;
 * `--only flood` the PUBACK latency of normal devices during an unauthenticated CONNECT flood and one id's reconnect
 * storm, against quiet; `--only imports` the service's peak memory while it imports 100,000 claims, CSV and XLSX (with
 * `--compiled`, the service built in dist/ by `npm run build:service`, as `npm start` runs it, rather than through tsx);
 * `--only late` a store batch with one 13-day-old reading against a live batch, on a 10 M-row embedded store; `--only
 * influx` the InfluxDB store's write path against raw line protocol to the same influxd;
 * `--only size` a simulated district-month (100 lights, or `--lights N`; 30 days, or `--days N`) through the embedded store's write path: bytes per
 * reading, the rollups' bytes, a town's month of aggregates, and a district-year's size projected from them (`--batch N`
 * readings a store write, 5,000 by default: more writes the month faster through the same `write`; `--skip-raw`: leaves
 * out the month's queries from raw and the town's lights a query each, minutes at 787 lights × 30 days);
 * `--only ha` two instances on active/standby ingest (PostgreSQL, Mosquitto, InfluxDB): the active one's throughput and
 * the time a standby takes over after a SIGKILL (docs/DEPLOYMENT.md);
 * `--only campaign` a profile campaign to 18,105 lights (or `--lights N`), each on its own connection and answering, while
 * ingest runs at district load: time to reach all, and ingest's PUBACK p99 meanwhile.
 */
const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    only: { type: "string" },
    out: { type: "string" },
    compiled: { type: "boolean", default: false },
    lights: { type: "string" },
    days: { type: "string" },
    batch: { type: "string" },
    "skip-raw": { type: "boolean", default: false },
  },
});
const ONLY = ["ingest", "external", "offthread", "flood", "imports", "late", "influx", "size", "ha", "campaign", "map"];
if (values.only !== undefined && !ONLY.includes(values.only)) {
  process.stderr.write(`--only: the choices are ${ONLY.map((o) => `"${o}"`).join(", ")} (got "${values.only}")\n`);
  process.exit(2);
}
const ingestOnly = values.only === "ingest";
/** The embedded pipeline and the external-broker source through Mosquitto, alone: their ratio in one run. */
const externalOnly = values.only === "external";
const offThreadOnly = values.only === "offthread";
const quick = values.quick;
const started = Date.now();
const results: Record<string, unknown> = {};
const rows: [string, string, string][] = [];
const say = (s: string) => process.stdout.write(s);
const step = (name: string) => say(`\n▶ ${name}\n`);
const progress = (label: string, n: number, total: number) => say(`\r  ${label}: ${n}/${total} (${Math.round((n / total) * 100)} %)   `);
const machine = () => ({
  cpus: os.cpus().length,
  model: os.cpus()[0]?.model,
  memGB: Math.round(os.totalmem() / 1e9),
  node: process.version,
  platform: `${os.platform()} ${os.release()}`,
});
/** Prints the table and writes the results' JSON. */
const finish = (suffix: string) => {
  const w = Math.max(...rows.map((r) => r[0].length));
  say(`\n\n${"measure".padEnd(w)}  result\n${"-".repeat(w + 40)}\n${rows.map(([a, b, c]) => `${a.padEnd(w)}  ${b} ${c}`).join("\n")}\n`);
  const out = values.out ?? `bench-results/${new Date().toISOString().replace(/[:.]/g, "-")}${quick ? "-quick" : ""}${suffix}.json`;
  mkdirSync("bench-results", { recursive: true });
  writeFileSync(
    out,
    `${JSON.stringify({ quick, only: values.only ?? null, machine: machine(), seconds: round((Date.now() - started) / 1000), results }, null, 2)}\n`,
  );
  say(`\nresults: ${out} (${round((Date.now() - started) / 1000)} s)\n`);
};
const offThreadStep = async () => {
  step("PUBACK latency of a steady stream while the service makes a report, imports files, takes a connect storm");
  const r = await benchOffThread({ devices: 300, rate: 600, storm: quick ? 500 : 1000, quietS: 10, progress });
  results.offThread = r;
  rows.push(...offThreadRows(r));
};
const floodStep = async () => {
  step("PUBACK latency of normal devices during a CONNECT flood and one id's reconnect storm");
  const r = await benchFlood({ devices: 50, rate: 500, flood: 64, stormClients: 20, phaseS: quick ? 5 : 10, progress });
  results.flood = r;
  rows.push(...floodRows(r));
};
const importsStep = async () => {
  step("the service's memory while it imports 100,000 claims (CSV, XLSX)");
  const r = await benchImports({ rows: 100_000, progress, compiled: values.compiled });
  results.imports = r;
  rows.push(...importRows(r));
};
if (offThreadOnly) {
  await offThreadStep();
  finish("-offthread");
  process.exit(0);
}
const lateStep = async () => {
  step("late data: a store batch with one 13-day-old reading against a live batch (embedded store)");
  const r = await benchLateBatch({ rows: quick ? 2_000_000 : 10_000_000, rounds: quick ? 5 : 9, progress });
  results.lateBatch = r;
  rows.push(
    [`store batch of 5,000 live readings on ${r.rows.toLocaleString()} rows (median)`, `${r.liveMs} ms`, ""],
    ["the same with one reading 13 days late (target ≤ 2 × live)", `${r.lateMs} ms (ratio ${r.ratio})`, r.ratio <= 2 ? "✓" : "✗"],
  );
};
/** 5. InfluxDB: the store's write path against raw batched line protocol to the same server. */
const influxStep = async () => {
  if (!INFLUXD) {
    results.influx = "not installed (apt-get install influxdb)";
    return;
  }
  step("InfluxDB: store path against raw line-protocol writes");
  const { benchInflux } = await import("./influx.js");
  results.influx = await benchInflux(await startInflux(), quick ? 50_000 : 200_000, (label, n, t) => progress(label, n, t));
};
const influxRow = (): [string, string, string] => {
  const infl = results.influx as { storeRate?: number; rawRate?: number; ratio?: number } | string;
  return [
    "InfluxDB store ÷ raw line protocol (target ≥ 0.8)",
    typeof infl === "string" ? infl : `${infl.storeRate}/s ÷ ${infl.rawRate}/s = ${infl.ratio}`,
    typeof infl === "string" ? "" : target((infl.ratio ?? 0) >= 0.8),
  ];
};
const target = (ok: boolean) => (ok ? "✓" : "✗");
if (values.only === "influx") {
  await influxStep();
  rows.push(influxRow());
  finish("-influx");
  process.exit(0);
}
const sizeStep = async () => {
  const lights = values.lights !== undefined ? Number(values.lights) : quick ? 40 : 100;
  if (!Number.isInteger(lights) || lights < 1 || lights > 20_000) {
    process.stderr.write(`--lights: a whole number from 1 to 20000 (got "${values.lights}")\n`);
    process.exit(2);
  }
  const days = values.days !== undefined ? Number(values.days) : quick ? 7 : 30;
  if (!Number.isInteger(days) || days < 1 || days > 60) {
    process.stderr.write(`--days: a whole number from 1 to 60 (got "${values.days}")\n`);
    process.exit(2);
  }
  const batch = values.batch !== undefined ? Number(values.batch) : 5000;
  if (!Number.isInteger(batch) || batch < 1 || batch > 1_000_000) {
    process.stderr.write(`--batch: readings a store write, a whole number from 1 to 1000000 (got "${values.batch}")\n`);
    process.exit(2);
  }
  step(`size: a simulated district-month (${lights} lights × ${days} days, every 5 minutes) through the embedded store, ${batch} readings a write`);
  const r = await benchSize({ lights, days, batch, skipRaw: values["skip-raw"], progress });
  results.size = r;
  rows.push(...sizeRows(r));
};
/** 12. Two instances on active/standby ingest: the active one's throughput, and takeovers after a SIGKILL. */
const haStep = async () => {
  if (!(POSTGRES_BIN && MOSQUITTO && INFLUXD)) {
    results.ha = "not run: needs postgresql, mosquitto and influxdb (apt-get install postgresql mosquitto influxdb)";
    return;
  }
  step("two instances, active/standby ingest: throughput, and takeover after SIGKILL of the active one");
  const { benchHa } = await import("./ha.js");
  results.ha = await benchHa({ readings: quick ? 5_000 : 20_000, kills: quick ? 2 : 5, say });
};
const haRows = (): [string, string, string][] => {
  const r = results.ha as import("./ha.js").HaResult | string | undefined;
  if (r === undefined) return [];
  if (typeof r === "string") return [["two instances (active/standby ingest)", r, ""]];
  return [
    [`two instances (active/standby): ${r.readings.toLocaleString()} readings through the active one`, `${r.rate}/s`, ""],
    [
      `  takeover after SIGKILL (${r.takeovers.length}×): lease, readings again (median / max)`,
      `${r.leaseMs.median} / ${r.leaseMs.max} ms, ${r.readingsMs.median} / ${r.readingsMs.max} ms`,
      "",
    ],
  ];
};
if (values.only === "ha") {
  await haStep();
  rows.push(...haRows());
  finish("-ha");
  process.exit(0);
}
if (values.only === "map") {
  // (not in the full run: a browser of its own beside the service)
  const lights = values.lights !== undefined ? Number(values.lights) : DISTRICT_LIGHTS;
  if (!Number.isInteger(lights) || lights < 1 || lights > 100_000) {
    process.stderr.write(`--lights: a whole number from 1 to 100000 (got "${values.lights}")\n`);
    process.exit(2);
  }
  step(`the console's map with ${lights} lights in headless Chromium at 390 x 844: first drawing, then frames while panning and zooming`);
  const r = await benchMap({ lights, progress: (line) => say(`  ${line}\n`) });
  results.map = r;
  rows.push(
    ["console map (--only map)", "", ""],
    [`  ${r.lights} lights: first drawing after the map's answer`, `${r.firstDrawMs} ms (${r.drawn} marks)`, ""],
    [
      "  frame interval while a finger pans: median / p95 / max",
      `${r.pan.medianMs} / ${r.pan.p95Ms} / ${r.pan.maxMs} ms (${r.pan.frames} frames)`,
      "60 Hz = 16.7 ms",
    ],
    ["  … while the buttons zoom in and out", `${r.zoom.medianMs} / ${r.zoom.p95Ms} / ${r.zoom.maxMs} ms (${r.zoom.frames} frames)`, ""],
  );
  finish("-map");
  process.exit(0);
}
if (values.only === "campaign") {
  // (not in the full run: a district's lights each on their own connection is a machine's worth of load by itself)
  const lights = values.lights !== undefined ? Number(values.lights) : DISTRICT_LIGHTS;
  if (!Number.isInteger(lights) || lights < 1 || lights > 40_000) {
    process.stderr.write(`--lights: a whole number from 1 to 40000 (got "${values.lights}")\n`);
    process.exit(2);
  }
  step(`a profile campaign to ${lights} lights at 50 commands/s while ${Math.min(lights, 1000)} of them report at the district's 60.4 readings/s`);
  const r = await benchCampaign({ lights, ratePerS: 50, streamDevices: 1000, streamRate: 60.4, progress });
  results.campaign = r;
  rows.push(...campaignRows(r));
  finish("-campaign");
  process.exit(0);
}
if (values.only === "flood" || values.only === "imports" || values.only === "late" || values.only === "size") {
  await (values.only === "flood" ? floodStep() : values.only === "imports" ? importsStep() : values.only === "late" ? lateStep() : sizeStep());
  finish(`-${values.only}`);
  process.exit(0);
}

let peakRss = 0;
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
}, 200);

const DEVICES = quick ? 100 : 500;
const PER = quick ? 100 : 200;
const WINDOW = 20;
/** Readings per device of an unmeasured first pass against each target, so that every one is measured with its hot
 * path compiled, as a server that has been running is (it cost the short --quick run most: docs/BENCHMARKS.md). */
const WARM = 20;
const warmUp = (url: string, clients: MqttClient[]) =>
  runLoad({ url, devices, perDevice: WARM, window: WINDOW, payload: (id, i) => payload(id, i - 1000), topic }, clients, (n) =>
    progress("warming up", n, DEVICES * WARM),
  );
// The lights stand where DOMAIN.md's district puts them (the 梳妆台村 road first, 52 m apart; then villages of 100),
// as the district simulator places them, and report what the simulator's physics has each of them report at this
// minute, 10 ms apart (by day the lamp is off and the panel charges; by night the lamp is lit): readings with the lamp
// on whatever the hour, as before, made every light a day burner by day. Made before any run, so that the load
// generator, which shares the process with every target, costs them all alike and little.
const plan = planDistrict({ lights: DEVICES, faultCounts: {} });
const NOW = Date.now() - 60_000;
const prepared = new Map<string, Map<number, string>>();
const indices = [...Array.from({ length: WARM }, (_, j) => j - 1000), ...Array.from({ length: PER + PER / 2 }, (_, j) => j)];
for (const [k, l] of plan.entries()) {
  const physics = newPhysics(l);
  const byIndex = new Map<number, string>();
  for (const i of indices) {
    byIndex.set(i, JSON.stringify(streetlightReading(l, physics, NOW + i * 10, 0.01)));
  }
  prepared.set(l.id, byIndex);
  if (k % 50 === 49) progress("readings prepared", (k + 1) * byIndex.size, DEVICES * byIndex.size);
}
const payload = (device: string, i: number) => {
  const text = prepared.get(device)?.get(i);
  if (text === undefined) throw new Error(`no reading prepared for ${device} #${i}`);
  return text;
};
const topic = (id: string) => topics.uplink("streetlight", id, "telemetry");
const cpu0 = process.cpuUsage();
/** A value once it stops changing (the warm-up's last readings reaching the log). */
const waitSettled = async (read: () => number) => {
  for (let last = -1; ; ) {
    const v = read();
    if (v === last) return v;
    last = v;
    await new Promise((r) => setTimeout(r, 300));
  }
};

// 1. The embedded pipeline at full speed, then at half that rate for latency
step(`embedded pipeline: ${DEVICES} devices × ${PER} QoS 1 readings`);
const app = await startTestApp({ AGRILUME_STORE_FLUSH_MS: "100" });
const csv = ["id,family,town,village,lat,lon", ...plan.map((l) => `${l.id},streetlight,${l.town},${l.village},${l.lat},${l.lon}`)].join("\n");
const imported = (await (await app.api("/api/v1/devices/import", { method: "POST", body: csv, headers: { "content-type": "text/csv" } })).json()) as {
  devices: { id: string; secret: string }[];
};
const devices = imported.devices;
const queryable: number[] = [];
app.app.writer.observe((records) => {
  const now = Date.now();
  for (const r of records) if (r.kind === "reading") queryable.push(now - r.reading.receivedAt);
});
let clients = await connectAll(app.started.mqttUrl ?? "", devices, (n) => progress("connected", n, DEVICES));
const warm = await warmUp("", clients);
await app.app.writer.waitFor(app.app.wal.lastSeq());
const storedBefore = await app.app.telemetry.count({ measurement: "streetlight_telemetry" });
const full = await runLoad({ url: "", devices, perDevice: PER, window: WINDOW, payload, topic }, clients, (n) =>
  progress("acknowledged", n, DEVICES * PER),
);
await app.app.writer.waitFor(app.app.wal.lastSeq());
const stored = (await app.app.telemetry.count({ measurement: "streetlight_telemetry" })) - storedBefore;
queryable.length = 0;
const halfRate = Math.round(full.rate / 2);
const half = await runLoad(
  { url: "", devices, perDevice: Math.round(PER / 2), window: WINDOW, rate: halfRate, payload: (id, i) => payload(id, i + PER), topic },
  clients,
  (n) => progress(`at ${halfRate}/s`, n, (DEVICES * PER) / 2),
);
await app.app.writer.waitFor(app.app.wal.lastSeq());
const storedAll = await app.app.telemetry.count({ measurement: "streetlight_telemetry" });
results.embedded = {
  full,
  stored,
  lost: full.acked - stored,
  warmUp: { acked: warm.acked, stored: storedBefore, lost: warm.acked - storedBefore },
  half,
  queryableP50Ms: pctile(queryable, 0.5),
  queryableP99Ms: pctile(queryable, 0.99),
  storedAfterHalf: storedAll,
};
for (const c of clients) c.end(true);
await app.stop();

// 2. The same load through Mosquitto to the external-broker source (AGRILUME_MQTT_URL): the broker acknowledges the
// devices at once, so the measure is how fast the service takes the readings off it into its log (first publish →
// the log holding all of them), and whether every acknowledged reading is stored.
type ExternalResult = { published: LoadResult; ingested: number; seconds: number; rate: number; stored: number; lost: number };
let external: ExternalResult | null = null;
if (MOSQUITTO) {
  step(`external broker: ${DEVICES} devices × ${PER} QoS 1 readings through Mosquitto to the service`);
  const m = await startMosquitto({ maxQueued: 10_000_000 });
  const ext = await startTestApp({
    AGRILUME_STORE_FLUSH_MS: "100",
    AGRILUME_MQTT_URL: m.url,
    AGRILUME_MQTT_USERNAME: MOSQUITTO_SERVICE.username,
    AGRILUME_MQTT_PASSWORD: MOSQUITTO_SERVICE.password,
  });
  const extDevices = (
    (await (await ext.api("/api/v1/devices/import", { method: "POST", body: csv, headers: { "content-type": "text/csv" } })).json()) as {
      devices: { id: string; secret: string }[];
    }
  ).devices;
  m.setUsers(Object.fromEntries(extDevices.map((d) => [d.id, d.secret])));
  m.reload();
  await new Promise((r) => setTimeout(r, 500));
  clients = await connectAll(m.url, extDevices, (n) => progress("connected", n, DEVICES));
  await warmUp(m.url, clients);
  const seq0 = await waitSettled(ext.app.wal.lastSeq);
  await ext.app.writer.waitFor(seq0);
  const before = await ext.app.telemetry.count({ measurement: "streetlight_telemetry" });
  const t0 = performance.now();
  const published = await runLoad({ url: m.url, devices: extDevices, perDevice: PER, window: WINDOW, payload, topic }, clients, (n) =>
    progress("acknowledged by Mosquitto", n, DEVICES * PER),
  );
  const total = DEVICES * PER;
  const deadline = Date.now() + 300_000;
  while (ext.app.wal.lastSeq() - seq0 < total && Date.now() < deadline) {
    progress("in the service's log", ext.app.wal.lastSeq() - seq0, total);
    await new Promise((r) => setTimeout(r, 10));
  }
  const seconds = (performance.now() - t0) / 1000;
  const ingested = ext.app.wal.lastSeq() - seq0;
  await ext.app.writer.waitFor(ext.app.wal.lastSeq());
  const stored = (await ext.app.telemetry.count({ measurement: "streetlight_telemetry" })) - before;
  external = { published, ingested, seconds: round(seconds), rate: Math.round(ingested / seconds), stored, lost: published.acked - stored };
  for (const c of clients) c.end(true);
  await ext.stop();
  await m.stop();
  results.external = external;
} else results.external = "not installed (apt-get install mosquitto)";

// 3. Baseline: a bare aedes that only acknowledges (no auth, no validation, no durability)
let bareRes: LoadResult | null = null;
if (!externalOnly) {
  step("baseline: bare aedes");
  const bare = await Aedes.createBroker();
  const srv = createServer(bare.handle);
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  const bareUrl = `mqtt://127.0.0.1:${(srv.address() as AddressInfo).port}`;
  clients = await connectAll(
    bareUrl,
    devices.map((d) => ({ id: d.id })),
    (n) => progress("connected", n, DEVICES),
  );
  await warmUp(bareUrl, clients);
  bareRes = await runLoad({ url: bareUrl, devices, perDevice: PER, window: WINDOW, payload, topic }, clients, (n) =>
    progress("acknowledged", n, DEVICES * PER),
  );
  for (const c of clients) c.end(true);
  await new Promise<void>((r) => bare.close(() => r()));
  srv.close();
  results.bareAedes = bareRes;
}

// 4. Baseline: Mosquitto relaying to one subscriber (the service's account, a plain subscription)
let mosq: LoadResult | null = null;
if (MOSQUITTO && !externalOnly) {
  step("baseline: Mosquitto relaying to one subscriber");
  const m = await startMosquitto({ users: Object.fromEntries(devices.map((d) => [d.id, d.secret])) });
  const sub = await mqtt.connectAsync(m.url, { clientId: "bench-subscriber", ...MOSQUITTO_SERVICE, reconnectPeriod: 0 });
  let relayed = 0;
  sub.on("message", () => relayed++);
  await sub.subscribeAsync("streetlight/+/telemetry", { qos: 1 });
  clients = await connectAll(m.url, devices, (n) => progress("connected", n, DEVICES));
  await warmUp(m.url, clients);
  relayed = 0;
  mosq = await runLoad({ url: m.url, devices, perDevice: PER, window: WINDOW, payload, topic }, clients, (n) =>
    progress("acknowledged", n, DEVICES * PER),
  );
  for (const c of clients) c.end(true);
  sub.end(true);
  await m.stop();
  results.mosquitto = { ...mosq, relayed };
} else results.mosquitto = MOSQUITTO ? "not run (--only external)" : "not installed (apt-get install mosquitto)";

if (ingestOnly || externalOnly) results.influx = `not run (--only ${values.only})`;
else await influxStep();

if (!ingestOnly && !externalOnly) {
  // 6. The dusk storm: every light of a (scaled) district connects and reports within a short window
  step("dusk storm");
  results.duskStorm = await (await import("./storm.js")).duskStorm(quick ? 1000 : 5000, (label, n, t) => progress(label, n, t));

  // 7 and 8. Registry at scale; the verification report and order progress
  step("registry scale");
  results.registry = await benchRegistry(quick ? 200_000 : 1_000_000, (label, n, t) => progress(label, n, t));
  step("the service with that registry, its own process");
  results.registryService = await benchRegistryService(quick ? 200_000 : 1_000_000, (label, n, t) => progress(label, n, t));
  step("reports");
  results.reports = await benchReports((label, n, t) => progress(label, n, t));
  // 9. PUBACK latency while the service works, and while it is attacked; 10. memory of a district's claims import;
  // 11. late data on the embedded store
  await offThreadStep();
  await floodStep();
  await importsStep();
  await lateStep();
  await haStep();
}

clearInterval(sampler);
const cpu = process.cpuUsage(cpu0);
const emb = results.embedded as { full: LoadResult; lost: number; half: LoadResult; queryableP99Ms: number };
const reg = results.registry as { devices: number; heapMB: number; rssMB: number; sweepMs: number } | undefined;
const regSvc = results.registryService as { devices: number; readyS: number; rssMB: number; peakRssMB: number } | undefined;
const rep = results.reports as { verificationMs: number; lights: number; nights: number; progressP50Ms: number; progressP99Ms: number } | undefined;
const storm = results.duskStorm as { lights: number; seconds: number; connectPerSec: number; refusedConnects: number; lost: number } | undefined;
rows.push(
  ["embedded ingest (acked/s, zero loss)", `${emb.full.rate}/s, lost ${emb.lost}`, target(emb.lost === 0)],
  [
    "external broker: Mosquitto → service log (ingested/s, zero loss)",
    external ? `${external.rate}/s, lost ${external.lost} (Mosquitto acked devices at ${external.published.rate}/s)` : "n/a",
    external ? target(external.lost === 0) : "",
  ],
  [
    "external ÷ embedded (target ≥ 0.5)",
    external ? `${round(external.rate / emb.full.rate)}` : "n/a",
    external ? target(external.rate / emb.full.rate >= 0.5) : "",
  ],
  ["bare aedes (acked/s)", bareRes ? `${bareRes.rate}/s` : "n/a", ""],
  [
    "embedded ÷ bare aedes (target ≥ 0.5)",
    bareRes ? `${round(emb.full.rate / bareRes.rate)}` : "n/a",
    bareRes ? target(emb.full.rate / bareRes.rate >= 0.5) : "",
  ],
  ["Mosquitto relay (acked/s)", mosq ? `${mosq.rate}/s` : "n/a", ""],
  ["embedded ÷ Mosquitto", mosq ? `${round(emb.full.rate / mosq.rate)}` : "n/a", ""],
  [
    "p99 publish→queryable at half rate (target ≤ 1 s)",
    `${emb.queryableP99Ms} ms (PUBACK p99 ${emb.half.ackP99Ms} ms)`,
    target(emb.queryableP99Ms <= 1000),
  ],
  influxRow(),
);
if (storm && reg && regSvc && rep)
  rows.push(
    [
      `dusk storm: ${storm.lights} lights connect and report`,
      `${storm.seconds} s, ${storm.connectPerSec} connects/s, ${storm.refusedConnects} refused and retried, lost ${storm.lost}`,
      target(storm.lost === 0),
    ],
    [
      `registry: ${reg.devices.toLocaleString()} lights, all online (in this process)`,
      `heap +${reg.heapMB} MB; presence sweep ${reg.sweepMs} ms`,
      "",
    ],
    [
      `the service with ${regSvc.devices.toLocaleString()} lights registered (target ≤ 1.5 GB)`,
      `peak RSS ${regSvc.peakRssMB} MB (${regSvc.rssMB} MB after ${regSvc.readyS} s to ready + 20 s)`,
      target(regSvc.peakRssMB <= 1536),
    ],
    [`verification: ${rep.lights} lights × ${rep.nights} nights (target ≤ 2 s)`, `${rep.verificationMs} ms`, target(rep.verificationMs <= 2000)],
    ["order progress query p50 / p99", `${rep.progressP50Ms} / ${rep.progressP99Ms} ms`, ""],
  );
rows.push(...haRows());
rows.push(["peak RSS of this run, CPU", `${Math.round(peakRss / 1e6)} MB, user ${round(cpu.user / 1e6)} s, system ${round(cpu.system / 1e6)} s`, ""]);
finish(ingestOnly ? "-ingest" : externalOnly ? "-external" : "");
process.exit(0);
