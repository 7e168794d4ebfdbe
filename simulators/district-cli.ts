import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { createSimClock } from "./clock.js";
import { DISTRICT_LIGHTS, type PlannedLight, planDistrict, runDistrict } from "./district.js";
import { seeded } from "./random.js";

/**
 * npm run sim:district -- --key <admin key> [--lights 18105] [--speed 1] [--hours 14] [--interval-s 300]
 *   [--night] [--planted planted.json] [--api http://localhost:8080] [--mqtt mqtt://localhost:1883] [--seed 1]
 *   [--v1-share 0.1] (share of lights that are protocol v1 controllers, which never answer commands)
 * The Yongchuan district against a running service. --night replays the most recent night (dusk − 1 h to
 * dawn + 1 h) at --speed (e.g. 600: a night in about 90 s). Each light has its own connection and credentials.
 */
const { values } = parseArgs({
  options: {
    api: { type: "string", default: "http://localhost:8080" },
    mqtt: { type: "string", default: "mqtt://localhost:1883" },
    key: { type: "string", default: process.env.AGRILUME_ADMIN_KEY ?? "" },
    lights: { type: "string", default: String(DISTRICT_LIGHTS) },
    speed: { type: "string", default: "1" },
    hours: { type: "string", default: "14" },
    "interval-s": { type: "string", default: "300" },
    night: { type: "boolean", default: false },
    planted: { type: "string" },
    seed: { type: "string", default: "1" },
    "v1-share": { type: "string", default: "0.1" },
  },
});
if (!values.key) {
  process.stderr.write("需要管理员密钥 / an admin key is needed: --key <key> or AGRILUME_ADMIN_KEY\n");
  process.exit(2);
}
const out = (s: string) => process.stdout.write(s);
const plans = planDistrict({ lights: Number(values.lights), seed: Number(values.seed) });
const headers = { authorization: `Bearer ${values.key}` };

// Register what is new in chunks (each all-or-none), and issue new secrets for lights an earlier run registered.
const existing = new Set<string>();
for (let offset = 0; ; offset += 1000) {
  const page = (await (await fetch(`${values.api}/api/v1/devices?family=streetlight&limit=1000&offset=${offset}`, { headers })).json()) as {
    devices: { id: string }[];
  };
  for (const d of page.devices) existing.add(d.id);
  if (page.devices.length < 1000) break;
}
const secrets = new Map<string, string>();
const fresh = plans.filter((p) => !existing.has(p.id));
for (let i = 0; i < fresh.length; i += 1000) {
  const chunk = fresh.slice(i, i + 1000);
  const csv = [
    "id,family,town,village,lat,lon,lampW,panelWp,batteryAh,projectId",
    ...chunk.map((p) =>
      [p.id, "streetlight", p.town, p.village, p.lat.toFixed(6), p.lon.toFixed(6), p.lampW, p.panelWp, p.batteryAh, p.projectId].join(","),
    ),
  ].join("\n");
  const res = await fetch(`${values.api}/api/v1/devices/import`, { method: "POST", headers: { ...headers, "content-type": "text/csv" }, body: csv });
  if (res.status !== 201) throw new Error(`import failed: ${res.status} ${await res.text()}`);
  for (const d of ((await res.json()) as { devices: { id: string; secret: string }[] }).devices) secrets.set(d.id, d.secret);
  out(`\r登记 / registering ${Math.min(i + 1000, fresh.length)}/${fresh.length}   `);
}
let rotated = 0;
for (const p of plans.filter((x) => existing.has(x.id))) {
  const res = await fetch(`${values.api}/api/v1/devices/${p.id}/secret`, { method: "POST", headers });
  secrets.set(p.id, ((await res.json()) as { secret: string }).secret);
  if (++rotated % 100 === 0) out(`\r新密钥 / new secrets ${rotated}/${existing.size}   `);
}
out("\n");

const speed = Number(values.speed);
const interval = Number(values["interval-s"]) * 1000;
// Readings may not be ahead of the service's clock, so a fast run is placed in the past and ends now.
let until = speed > 1 ? Date.now() : Date.now() + Number(values.hours) * 3600_000;
let from = until - Number(values.hours) * 3600_000;
if (values.night) {
  const { DEFAULT_PROFILE, localDate, nightOf } = await import("../src/streetlights/expectation.js");
  const first = plans[0] as PlannedLight;
  let date = localDate(Date.now() - 86_400_000);
  if (nightOf(date, first.lat, first.lon, DEFAULT_PROFILE).dawn + 3600_000 > Date.now()) date = localDate(Date.now() - 2 * 86_400_000);
  const n = nightOf(date, first.lat, first.lon, DEFAULT_PROFILE);
  [from, until] = [n.dusk - 3600_000, n.dawn + 3600_000];
}
const clock = createSimClock(speed, 0, from);
const rnd = seeded(Number(values.seed) + 7);
const cloudyDay = new Map<string, number>();
const cloud = (t: number) => {
  const day = new Date(t + 8 * 3600_000).toISOString().slice(0, 10);
  if (!cloudyDay.has(day)) cloudyDay.set(day, rnd() < 0.3 ? 0.2 + rnd() * 0.3 : 1); // about one day in three is overcast
  return cloudyDay.get(day) ?? 1;
};
const controller = new AbortController();
process.once("SIGINT", () => controller.abort());
const planted = plans.filter((p) => p.fault).map((p) => ({ id: p.id, town: p.town, village: p.village, fault: p.fault }));
if (values.planted)
  writeFileSync(
    values.planted,
    `${JSON.stringify({ from: new Date(from).toISOString(), until: new Date(until).toISOString(), planted }, null, 2)}\n`,
  );
out(`${plans.length} 盏灯 / lights, ${planted.length} 个植入故障 / planted faults${values.planted ? ` → ${values.planted}` : ""}; ×${speed}\n`);
const run = await runDistrict({
  mqttUrl: values.mqtt,
  lights: plans.map((plan) => ({ plan, creds: { id: plan.id, secret: secrets.get(plan.id) ?? "" } })),
  clock,
  from,
  until,
  intervalMs: interval,
  cloud,
  signal: controller.signal,
  v1Share: Number(values["v1-share"]),
  onProgress: (t, sent) =>
    out(
      `\r  ${new Date(t + 8 * 3600_000).toISOString().slice(0, 16).replace("T", " ")} (UTC+8)  ${Math.round(((t - from) / (until - from)) * 100)} %  ${sent} 条 / messages   `,
    ),
});
out(`\n完成 / done: ${run.sent} 条 / messages\n`);
await run.close();
process.exit(0);
