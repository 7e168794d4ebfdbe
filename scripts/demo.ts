import { setMaxListeners } from "node:events";
import { startFleet } from "../simulators/fleet.js";
import { createApp } from "../src/app.js";
import { loadConfig } from "../src/platform/config.js";
import { t } from "../src/platform/i18n.js";
import { createLogger } from "../src/platform/log.js";

/**
 * `npm run demo`: the service on its embedded defaults plus simulated devices, in one process.
 * Prints where to look and an admin key made for this demo run.
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
const { key } = await app.apiKeys.create({ name: `demo ${new Date().toISOString()}`, role: "admin" });
const roleKeys: Record<string, string> = {};
for (const role of ["operator", "technician", "finance"] as const) roleKeys[role] = (await app.apiKeys.create({ name: `demo ${role}`, role })).key;
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
  await app.streetlights.runNightly();
}

const out = (s = "") => process.stdout.write(`${s}\n`);
out(t(lang, "start.ready"));
if (started.consoleUrl) out(`  ${t(lang, "start.console")}: ${started.consoleUrl}`);
out(`  ${t(lang, "start.api")}:  ${started.httpUrl}/api/v1`);
out(`  ${t(lang, "start.docs")}: ${started.httpUrl}/docs`);
out(`  ${t(lang, "start.mqtt")}: ${mqttUrl}`);
out(`  ${t(lang, "demo.adminKey")}: ${key}`);
out(`  ${t(lang, "demo.roleKeys")}:`);
for (const [role, k] of Object.entries(roleKeys)) out(`    ${role.padEnd(10)} ${k}`);
out(`  ${t(lang, "demo.devices")} ${fleet.lights.length} × streetlight (${fleet.lights[0]} …), 1 × blender (${fleet.blender})`);
out();
out(`${t(lang, "demo.try")}`);
out(`  curl -H 'Authorization: Bearer ${key}' '${started.httpUrl}/api/v1/devices?online=true'`);
out(`  curl -H 'Authorization: Bearer ${key}' ${started.httpUrl}/api/v1/devices/${fleet.lights[0]}`);
out(`  curl -H 'Authorization: Bearer ${key}' ${started.httpUrl}/api/v1/orders/${fleet.orderId}`);
out(`  curl -N '${started.httpUrl}/api/v1/orders/${fleet.orderId}/stream?key=${key}'`);
out(`  curl -H 'Authorization: Bearer ${key}' '${started.httpUrl}/api/v1/streetlights/summary'`);
out(`  curl -H 'Authorization: Bearer ${key}' '${started.httpUrl}/api/v1/alerts?state=open'   # ${t(lang, "demo.alerts")}`);
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
