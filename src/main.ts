import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { createApp } from "./app.js";
import { type Config, loadConfig } from "./platform/config.js";
import { type Lang, t } from "./platform/i18n.js";
import { createLogger } from "./platform/log.js";

/**
 * A start that cannot proceed, for a reason the operator can fix (invalid configuration, a data directory
 * that cannot be written, a port in use): its message says what and where, and is printed without a stack.
 */
export class StartError extends Error {
  override name = "StartError";
}

/** Why a start stopped: `what` names the directory or address, `settings` the settings that chose it (these belong in i18n.ts once it is free to edit). */
const WHY: Record<
  "dataDir" | "inUse" | "denied" | "noAddress" | "locked" | "corrupt" | "stateUnreachable" | "stateRefused",
  Record<Lang, (what: string, settings: string) => string>
> = {
  dataDir: {
    zh: (what, settings) => `服务未能启动：数据目录 ${what} 无法写入（${settings}）`,
    en: (what, settings) => `The service could not start: the data directory ${what} cannot be written (${settings})`,
  },
  inUse: {
    zh: (what, settings) => `服务未能启动：${what} 已被占用（${settings}）；请停止占用它的程序，或换一个端口`,
    en: (what, settings) => `The service could not start: ${what} is already in use (${settings}); stop what uses it, or choose another port`,
  },
  denied: {
    zh: (what, settings) => `服务未能启动：无权监听 ${what}（${settings}）；低于 1024 的端口需要权限`,
    en: (what, settings) => `The service could not start: not allowed to listen on ${what} (${settings}); ports below 1024 need privileges`,
  },
  noAddress: {
    zh: (what, settings) => `服务未能启动：本机没有地址 ${what}（${settings}）`,
    en: (what, settings) => `The service could not start: this machine has no address ${what} (${settings})`,
  },
  locked: {
    zh: (what, settings) =>
      `服务未能启动：数据库文件 ${what} 正被另一个进程使用（${settings}）；一个数据目录只能由一个 Agrilume 进程打开：请先停止那个进程，或给这个实例另设 AGRILUME_DATA_DIR（多个实例共用数据须用 PostgreSQL 状态库，见 docs/DEPLOYMENT.md）`,
    en: (what, settings) =>
      `The service could not start: the database file ${what} is in use by another process (${settings}); one data directory is opened by one Agrilume process: stop that process first, or give this instance its own AGRILUME_DATA_DIR (instances that share data need the PostgreSQL state store, docs/DEPLOYMENT.md)`,
  },
  corrupt: {
    zh: (what, settings) =>
      `服务未能启动：数据库文件 ${what} 已损坏，无法打开（${settings}）；请停止使用这个数据目录（保留它以备查），用最近一次完好的备份恢复到一个新的空数据目录（npm run restore，见 docs/DATA.md），再用 AGRILUME_DATA_DIR 指向它启动`,
    en: (what, settings) =>
      `The service could not start: the database file ${what} is damaged and cannot be opened (${settings}); keep this data directory aside, restore the newest good backup into a new, empty data directory (npm run restore, docs/DATA.md) and start with AGRILUME_DATA_DIR pointing there`,
  },
  stateUnreachable: {
    zh: (what, settings) => `服务未能启动：无法连接 PostgreSQL 状态库 ${what}（${settings}）；请确认数据库已启动、地址和端口正确、防火墙放行`,
    en: (what, settings) =>
      `The service could not start: cannot reach the PostgreSQL state store at ${what} (${settings}); check that the database runs and that the host, port and firewall are right`,
  },
  stateRefused: {
    zh: (what, settings) => `服务未能启动：PostgreSQL 状态库 ${what} 拒绝了连接（${settings}）；请检查用户名、密码和数据库名`,
    en: (what, settings) =>
      `The service could not start: the PostgreSQL state store at ${what} refused the connection (${settings}); check the user, password and database name`,
  },
};

/** Loads the configuration and starts the service. A start that cannot proceed rejects with a StartError before the service is ready. */
export async function main(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const lang = env.AGRILUME_LANG === "en" ? "en" : "zh";
  let file: Record<string, unknown> = {};
  if (env.AGRILUME_CONFIG_FILE) {
    try {
      file = JSON.parse(readFileSync(env.AGRILUME_CONFIG_FILE, "utf8")) as Record<string, unknown>;
    } catch (e: unknown) {
      throw new StartError(`${t(lang, "config.invalid")}\n  AGRILUME_CONFIG_FILE: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  const result = loadConfig(env, file);
  if (!result.ok) throw new StartError(`${t(lang, "config.invalid")}\n${result.errors.map((e) => `  ${e}`).join("\n")}`);
  const config = result.config;
  checkDataDir(config);
  const log = createLogger(config.log.level);
  const app = await createApp(config, { log }).catch((e: unknown) => {
    throw explainOpenError(e, config) ?? e;
  });
  const started = await app.start().catch((e: unknown) => {
    throw explainListenError(e, config) ?? e;
  });

  const out = (s: string) => process.stdout.write(`${s}\n`);
  // The signals' handlers before the ready line: a supervisor (or a test) that stops the service as soon as it reads
  // that line must find them installed (until then SIGTERM's default ends the process at once, exit code none).
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
  out(`${t(config.lang, "start.ready")}`);
  if (started.consoleUrl) out(`  ${t(config.lang, "start.console")}: ${started.consoleUrl}`);
  out(`  ${t(config.lang, "start.api")}:  ${started.httpUrl}/api/v1`);
  out(`  ${t(config.lang, "start.docs")}: ${started.httpUrl}/docs`);
  if (started.mqttUrl) out(`  ${t(config.lang, "start.mqtt")}: ${started.mqttUrl}`);
  if (started.createdAdminKey) out(`  ${t(config.lang, "start.adminKey")}\n    ${started.createdAdminKey}`);
  if (started.createdAdminPassword) out(`  ${t(config.lang, "start.adminPassword")}\n    admin / ${started.createdAdminPassword}`);
  // One machine-readable line for scripts and tests (ports may be 0 = chosen by the OS).
  out(`AGRILUME_READY ${JSON.stringify({ ...started.ports, http: started.ports.http })}`);
}

/** The data directory exists (or can be made) and a file can be written in it: checked before any store opens. */
function checkDataDir(config: Config): void {
  const dir = resolve(config.dataDir);
  try {
    mkdirSync(dir, { recursive: true });
    const probe = join(dir, `.agrilume-write-test-${process.pid}`);
    writeFileSync(probe, "");
    rmSync(probe);
  } catch (e: unknown) {
    const detail = e instanceof Error ? e.message : String(e);
    throw new StartError(`${WHY.dataDir[config.lang](dir, `AGRILUME_DATA_DIR=${config.dataDir}`)}\n  ${detail}`);
  }
}

/** A listener that could not open, named by the settings that chose its address; null for any other error. */
function explainListenError(e: unknown, config: Config): StartError | null {
  const err = e as NodeJS.ErrnoException & { port?: number; address?: string };
  const reason = ({ EADDRINUSE: "inUse", EACCES: "denied", EADDRNOTAVAIL: "noAddress" } as const)[err?.code ?? ""];
  if (err?.syscall !== "listen" || !reason) return null;
  const { http, mqtt } = config;
  const listeners = [
    ["AGRILUME_HTTP_HOST", http.host, "AGRILUME_HTTP_PORT", http.port],
    ["AGRILUME_MQTT_HOST", mqtt.host, "AGRILUME_MQTT_PORT", mqtt.external ? undefined : mqtt.port],
    ["AGRILUME_MQTT_HOST", mqtt.host, "AGRILUME_MQTT_WS_PORT", mqtt.wsPort],
    ["AGRILUME_MQTT_HOST", mqtt.host, "AGRILUME_MQTT_TLS_PORT", mqtt.tls?.port],
  ] as const;
  // By port (the configuration allows none twice); an address error may carry no port, then by address.
  const l = listeners.find(([, host, , port]) => port !== undefined && (err.port !== undefined ? port === err.port : host === err.address));
  const what = err.port !== undefined ? `${err.address}:${err.port}` : `${err.address}`;
  const settings = l ? `${l[0]}=${l[1]}, ${l[2]}=${l[3]}` : "AGRILUME_*_HOST, AGRILUME_*_PORT";
  return new StartError(`${WHY[reason][config.lang](what, settings)}\n  ${err.message}`);
}

/** The URL without its password, as it may be shown. */
function shownUrl(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = "***";
  return u.toString();
}

/**
 * A store that could not open for a reason the operator can fix: the data directory's database held by another
 * process (DuckDB's file lock), the PostgreSQL state store unreachable or refusing the login; null for any other error.
 */
export function explainOpenError(e: unknown, config: Config): StartError | null {
  const err = e as (Error & { code?: string; address?: string; port?: number; hostname?: string; file?: string }) | undefined;
  const message = err instanceof Error ? err.message : String(e);
  const lock = /Could not set lock on file "([^"]+)": Conflicting lock is held in (.+?) \(PID (\d+)\)/.exec(message);
  if (lock) {
    const [, file = "", program = "", pid = ""] = lock;
    return new StartError(`${WHY.locked[config.lang](file, `PID ${pid}: ${program}`)}\n  ${message}`);
  }
  // DuckDB's checksums or header refused the file: a damaged disk or copy, not something a restart mends
  if (/Corrupt database file|not a valid DuckDB database file/i.test(message)) {
    const file = err?.file ?? resolve(config.dataDir);
    return new StartError(`${WHY.corrupt[config.lang](file, `AGRILUME_DATA_DIR=${config.dataDir}`)}\n  ${message.split("\n")[0]}`);
  }
  if (!config.stateUrl) return null;
  const url = new URL(config.stateUrl);
  const settings = `AGRILUME_STATE_URL=${shownUrl(config.stateUrl)}`;
  const where = `${url.hostname}:${url.port || 5432}`;
  const network = ["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "ECONNRESET"];
  const aimedAtState =
    (err?.port !== undefined && String(err.port) === String(url.port || 5432)) || err?.hostname === url.hostname || /timeout/i.test(message);
  if (err?.code && network.includes(err.code) && aimedAtState)
    return new StartError(`${WHY.stateUnreachable[config.lang](where, settings)}\n  ${message}`);
  // PostgreSQL's own refusals: a wrong password or user (28P01, 28000), a database that does not exist (3D000).
  if (err?.code && ["28P01", "28000", "3D000"].includes(err.code))
    return new StartError(`${WHY.stateRefused[config.lang](where, settings)}\n  ${message}`);
  return null;
}
