import { readFileSync } from "node:fs";
import { createApp } from "./app.js";
import { loadConfig } from "./platform/config.js";
import { t } from "./platform/i18n.js";
import { createLogger } from "./platform/log.js";

/** Loads the configuration and starts the service. Invalid configuration exits 1 before any port opens. */
export async function main(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const lang = env.AGRILUME_LANG === "en" ? "en" : "zh";
  let file: Record<string, unknown> = {};
  if (env.AGRILUME_CONFIG_FILE) {
    try {
      file = JSON.parse(readFileSync(env.AGRILUME_CONFIG_FILE, "utf8")) as Record<string, unknown>;
    } catch (e: unknown) {
      process.stderr.write(`${t(lang, "config.invalid")}\n  AGRILUME_CONFIG_FILE: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    }
  }
  const result = loadConfig(env, file);
  if (!result.ok) {
    process.stderr.write(`${t(lang, "config.invalid")}\n${result.errors.map((e) => `  ${e}`).join("\n")}\n`);
    process.exit(1);
  }
  const config = result.config;
  const log = createLogger(config.log.level);
  const app = await createApp(config, { log });
  const started = await app.start();

  const out = (s: string) => process.stdout.write(`${s}\n`);
  out(`${t(config.lang, "start.ready")}`);
  if (started.consoleUrl) out(`  ${t(config.lang, "start.console")}: ${started.consoleUrl}`);
  out(`  ${t(config.lang, "start.api")}:  ${started.httpUrl}/api/v1`);
  out(`  ${t(config.lang, "start.docs")}: ${started.httpUrl}/docs`);
  if (started.mqttUrl) out(`  ${t(config.lang, "start.mqtt")}: ${started.mqttUrl}`);
  if (started.createdAdminKey) out(`  ${t(config.lang, "start.adminKey")}\n    ${started.createdAdminKey}`);
  // One machine-readable line for scripts and tests (ports may be 0 = chosen by the OS).
  out(`AGRILUME_READY ${JSON.stringify({ ...started.ports, http: started.ports.http })}`);

  const shutdown = (signal: string) => {
    log.info({ signal }, "stopping");
    app.stop().then(
      () => {
        out(t(config.lang, "stop.done"));
        process.exit(0);
      },
      (e: unknown) => {
        log.error({ err: e }, "unclean stop");
        process.exit(1);
      },
    );
  };
  process.once("SIGTERM", () => shutdown("SIGTERM"));
  process.once("SIGINT", () => shutdown("SIGINT"));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  });
}
