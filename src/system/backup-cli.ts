import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { loadConfig } from "../platform/config.js";
import { createCatalogue, type Lang, type Message } from "../platform/i18n.js";
import { BackupError, backupDataDir, restoreDataDir } from "./backup.js";
import { SYSTEM_WORDS } from "./messages.js";

/**
 * `bin.js backup <dir>` and `bin.js restore <dir>` (npm run backup / npm run restore): the data directory is
 * AGRILUME_DATA_DIR (or the configuration file's), as for the service. Prints one line; exit 0, 1 (refused or
 * failed, with the reason) or 2 (usage).
 */
export async function backupCommand(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const lang: Lang = env.AGRILUME_LANG === "en" ? "en" : "zh";
  const text = createCatalogue({ system: SYSTEM_WORDS }).in(lang);
  const say = (m: Message, stream: NodeJS.WritableStream = process.stdout) => stream.write(`${text(m)}\n`);
  const [command, dir, ...rest] = args;
  if ((command !== "backup" && command !== "restore") || !dir || rest.length > 0) {
    say({ code: "backup_usage", params: { backup: "backup", restore: "restore", setting: "AGRILUME_DATA_DIR" } }, process.stderr);
    return 2;
  }
  const file = env.AGRILUME_CONFIG_FILE ? (JSON.parse(readFileSync(env.AGRILUME_CONFIG_FILE, "utf8")) as Record<string, unknown>) : {};
  const result = loadConfig(env, file);
  if (!result.ok) {
    process.stderr.write(`${result.errors.join("\n")}\n`);
    return 2;
  }
  const { config } = result;
  try {
    const started = Date.now();
    if (command === "backup") {
      const done = await backupDataDir(config.dataDir, dir, started);
      say({
        code: "backup_done",
        params: { dir: resolve(dir), files: done.files, mb: done.bytes / 1e6, seconds: (Date.now() - started) / 1000 },
      });
      if (config.store.kind === "influx")
        say({ code: "backup_influx_note", params: { store: "InfluxDB", url: config.store.influx.url, tool: "influxd backup -portable" } });
      if (config.stateUrl) {
        const url = new URL(config.stateUrl);
        url.password = ""; // (never printed)
        say({ code: "backup_state_note", params: { store: "PostgreSQL", url: url.toString(), tool: "pg_dump" } });
      }
    } else {
      const done = await restoreDataDir(dir, config.dataDir);
      say({ code: "restore_done", params: { dir: resolve(config.dataDir), files: done.files, createdAt: done.createdAt } });
    }
    return 0;
  } catch (e: unknown) {
    if (e instanceof BackupError) {
      say(e.m, process.stderr);
      return 1;
    }
    throw e;
  }
}
