import { setMaxListeners } from "node:events";
import { WINTER_DIMMING } from "../devices/index.js";
import { startFleet } from "../simulators/fleet.js";
import { STATION } from "../simulators/station.js";
import { generatePassword } from "../src/access/accounts.js";
import type { Role } from "../src/access/roles.js";
import { createApp } from "../src/app.js";
import { chinaTime } from "../src/platform/clock.js";
import { loadConfig } from "../src/platform/config.js";
import { t } from "../src/platform/i18n.js";
import { createLogger } from "../src/platform/log.js";

/**
 * `npm run demo`: the service on its embedded defaults plus simulated devices, in one process.
 * Prints where to look, an admin key made for this demo run and an account per role, each limited as that role would be
 * in the district: the operator to the blending station, the technician to the demo lights' towns. In the language of
 * AGRILUME_LANG (Chinese unless `en`).
 */
const env = { AGRILUME_DATA_DIR: "./data/demo", AGRILUME_LOG_LEVEL: "warn", ...process.env };
const result = loadConfig(env);
if (!result.ok) {
  process.stderr.write(`${t("zh", "config.invalid")}\n${result.errors.map((e) => `  ${e}`).join("\n")}\n`);
  process.exit(1);
}
const config = result.config;
const lang = config.lang;
const app = await createApp(config, { log: createLogger(config.log.level) });
const started = await app.start();
// (named to be read in the console's header: what it is and when it was made, China time)
const { key } = await app.apiKeys.create({ name: `${t(lang, "demo.keyName")} ${chinaTime(Date.now())}`, role: "admin" });
const mqttUrl = started.mqttUrl?.replace("0.0.0.0", "localhost") ?? "";
const controller = new AbortController();
setMaxListeners(1000, controller.signal); // one listener per simulated device

const lightsArg = process.argv.indexOf("--lights");
const lights = lightsArg > 0 ? Number(process.argv[lightsArg + 1]) : 12;
const fleet = await startFleet({
  apiUrl: started.httpUrl,
  mqttUrl,
  key,
  lights,
  lightIntervalMs: 10_000,
  signal: controller.signal,
  onProgress: (done, total) => process.stdout.write(`\r  ${done}/${total}`),
  historyNights: 30,
  onHistory: (sent, total) => process.stdout.write(`\r  ${t(lang, "demo.history")}: ${Math.min(100, Math.round((sent / total) * 100))} %   `),
});
process.stdout.write("\n");
if (fleet.historySent > 0) {
  // The nightly records for the past nights, now rather than at the next scheduled pass.
  await app.writer.waitFor(app.wal.lastSeq());
  await app.runNightly();
}

/**
 * An account per role for the console (its password fresh each run, already changed: a demo signs in at once), each
 * with the scope it would have in the district: the operator its station only, the technician its towns only (set again
 * on every run: an account an earlier demo made unlimited is limited now).
 */
const towns = [...new Set(app.registry.list({ family: "streetlight" }).map((d) => d.town ?? ""))].filter((x) => x !== "").sort();
const scopes: Record<Role, { towns: string[] | null; stations: string[] | null }> = {
  admin: { towns: null, stations: null },
  operator: { towns: null, stations: [STATION.id] },
  technician: { towns, stations: null },
  finance: { towns: null, stations: null },
  metrics: { towns: null, stations: null },
};
const accounts: { name: string; role: Exclude<Role, "metrics">; password: string; scope: string }[] = [];
for (const role of ["admin", "operator", "technician", "finance"] as const) {
  const name = `demo-${role}`;
  const scope = scopes[role];
  const known = app.accounts.list().find((u) => u.name === name);
  const id = known
    ? (await app.accounts.update(known.id, { role, towns: scope.towns, stations: scope.stations }, null)).id
    : (
        await app.accounts.create({
          name,
          role,
          password: generatePassword(),
          towns: scope.towns ?? undefined,
          stations: scope.stations ?? undefined,
        })
      ).id;
  const once = generatePassword();
  const password = generatePassword();
  await app.accounts.resetPassword(id, once);
  await app.accounts.changePassword(id, once, password, null);
  const where = scope.stations ? scope.stations.map((s) => (s === STATION.id ? STATION.name : s)) : (scope.towns ?? [t(lang, "demo.everywhere")]);
  accounts.push({ name, role, password, scope: where.join(lang === "zh" ? "、" : ", ") });
}
/**
 * A small campaign: the winter dimming schedule (DOMAIN.md §2: 100 % from dusk, 50 % after 4 h, 100 % the last hour)
 * to the first light's village, sent in waves; the v1 lights among them never answer, so it shows every count.
 */
const first = app.registry.get(fleet.lights[0] ?? "");
const campaign = first
  ? await fetch(`${started.httpUrl}/api/v1/control/campaigns`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({
        name: t(lang, "demo.campaignName"),
        target: { town: first.town, ...(first.village ? { village: first.village } : {}) },
        command: {
          name: "profile",
          profile: WINTER_DIMMING,
        },
      }),
    }).then(async (r) => (r.ok ? ((await r.json()) as { id: string }).id : null))
  : null;
/** What is open now, said as it is (the history's faulty lights have usually raised their alerts already). */
const open = await fetch(`${started.httpUrl}/api/v1/alerts?state=open`, { headers: { authorization: `Bearer ${key}` } });
const openAlerts = open.ok ? ((await open.json()) as { alerts: unknown[] }).alerts.length : null;

const out = (s = "") => process.stdout.write(`${s}\n`);
out(t(lang, "start.ready"));
if (started.consoleUrl) out(`  ${t(lang, "start.console")}: ${started.consoleUrl}`);
out(`  ${t(lang, "start.api")}:  ${started.httpUrl}/api/v1`);
out(`  ${t(lang, "start.docs")}: ${started.httpUrl}/docs`);
out(`  ${t(lang, "start.mqtt")}: ${mqttUrl}`);
out(`  ${t(lang, "demo.adminKey")}: ${key}`);
out(`  ${t(lang, "demo.accounts")}:`);
for (const a of accounts) {
  const who = `${t(lang, `role.${a.role}`)}${lang === "zh" ? `（${t(lang, "demo.scope")}：${a.scope}）` : ` (${t(lang, "demo.scope")}: ${a.scope})`}`;
  out(`    ${a.name.padEnd(16)} ${a.password}  ${who}`);
}
out(
  `  ${t(lang, "demo.devices")} ${t(lang, "demo.lights")} ${fleet.lights.length} (${fleet.lights[0]} …), ${t(lang, "demo.blender")} 1 (${fleet.blender})`,
);
out();
out(`${t(lang, "demo.try")}`);
out(`  curl -H 'Authorization: Bearer ${key}' '${started.httpUrl}/api/v1/devices?online=true'`);
out(`  curl -H 'Authorization: Bearer ${key}' ${started.httpUrl}/api/v1/devices/${fleet.lights[0]}`);
out(`  curl -H 'Authorization: Bearer ${key}' ${started.httpUrl}/api/v1/orders/${fleet.orderId}`);
out(`  curl -N '${started.httpUrl}/api/v1/orders/${fleet.orderId}/stream?key=${key}'`);
out(`  curl -H 'Authorization: Bearer ${key}' '${started.httpUrl}/api/v1/streetlights/summary'`);
out(
  `  curl -H 'Authorization: Bearer ${key}' '${started.httpUrl}/api/v1/alerts?state=open'   # ${t(lang, "demo.alertsOpen")}${lang === "zh" ? "：" : ": "}${openAlerts ?? "?"}`,
);
if (openAlerts === 0) out(`    # ${t(lang, "demo.alertsLater")}`);
if (campaign) out(`  curl -H 'Authorization: Bearer ${key}' ${started.httpUrl}/api/v1/control/campaigns/${campaign}   # ${t(lang, "demo.campaign")}`);
out(`  curl -H 'Authorization: Bearer ${key}' ${started.httpUrl}/metrics`);
out();
out(t(lang, "demo.stop"));

const stop = () => {
  controller.abort();
  void app.stop().then(
    () => {
      out(t(lang, "stop.done"));
      process.exit(0);
    },
    (e: unknown) => {
      process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exit(1);
    },
  );
};
process.once("SIGINT", stop);
process.once("SIGTERM", stop);
