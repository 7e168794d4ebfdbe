import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { createServer, connect as netConnect } from "node:net";
import { join } from "node:path";
import { ADMIN_KEY, REQUIRE_SERVICES, tempDir } from "./helpers.js";

/**
 * Real services from Debian's packages, started on free ports by the tests. When one is not
 * installed the tests that need it are skipped with a loud reason, unless
 * AGRILUME_REQUIRE_SERVICES=1 (set by .ci/run), which makes that a failure.
 */
export function findBinary(name: string, candidates: string[]): string | null {
  for (const c of candidates) {
    if (spawnSync(c, ["-h"], { stdio: "ignore" }).error === undefined) return c;
  }
  const which = spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" });
  return which.status === 0 ? which.stdout.trim() : null;
}

export function serviceAvailable(name: string, binary: string | null, install: string): boolean {
  if (binary) return true;
  const msg = `${name} is not installed, so the tests that need it cannot run. Install it with: ${install}`;
  if (REQUIRE_SERVICES) throw new Error(`AGRILUME_REQUIRE_SERVICES=1: ${msg}`);
  console.warn(`\n!!! SKIPPING: ${msg}\n`);
  return false;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === "object" && addr ? addr.port : 0));
    });
  });
}

export type Mosquitto = { url: string; port: number; stop: () => Promise<void> };

export const MOSQUITTO = findBinary("mosquitto", ["/usr/sbin/mosquitto", "mosquitto"]);

export async function startMosquitto(): Promise<Mosquitto> {
  if (!MOSQUITTO) throw new Error("mosquitto is not installed");
  const dir = tempDir("agrilume-mosquitto-");
  const port = await freePort();
  const conf = join(dir.path, "mosquitto.conf");
  // Anonymous on loopback for the test only; a site configures passwords and ACLs (PROTOCOL.md).
  writeFileSync(conf, [`listener ${port} 127.0.0.1`, "allow_anonymous true", "persistence false", "max_queued_messages 100000", ""].join("\n"));
  const child: ChildProcess = spawn(MOSQUITTO, ["-c", conf], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const deadline = Date.now() + 10_000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = netConnect(port, "127.0.0.1");
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (ok) break;
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`mosquitto did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    stop: async () => {
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
      dir.remove();
    },
  };
}

export const INFLUXD = findBinary("influxd", ["/usr/bin/influxd", "influxd"]);

export type Influx = {
  url: string;
  port: number;
  stop: () => Promise<void>;
  kill: () => Promise<void>;
  start: () => Promise<void>;
  remove: () => void;
};

/** A real InfluxDB 1.x (Debian's influxdb) on free ports with its own temporary directory; it can be stopped and started again. */
export async function startInflux(): Promise<Influx> {
  if (!INFLUXD) throw new Error("influxd is not installed");
  const dir = tempDir("agrilume-influx-");
  const [port, rpc] = [await freePort(), await freePort()];
  const conf = join(dir.path, "influxdb.conf");
  writeFileSync(
    conf,
    [
      "reporting-disabled = true",
      `bind-address = "127.0.0.1:${rpc}"`,
      "[meta]",
      `  dir = "${dir.path}/meta"`,
      "[data]",
      `  dir = "${dir.path}/data"`,
      `  wal-dir = "${dir.path}/wal"`,
      "  query-log-enabled = false",
      "[http]",
      `  bind-address = "127.0.0.1:${port}"`,
      "  log-enabled = false",
      "[monitor]",
      "  store-enabled = false",
      "[continuous_queries]",
      "  log-enabled = false",
      "[logging]",
      '  level = "error"',
      "",
    ].join("\n"),
  );
  let child: ChildProcess | null = null;
  const up = async () => {
    child = spawn(INFLUXD, ["-config", conf], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr?.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const deadline = Date.now() + 20_000;
    for (;;) {
      const ok = await fetch(`http://127.0.0.1:${port}/ping`).then(
        (r) => r.status === 204,
        () => false,
      );
      if (ok) return;
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`influxd did not start: ${stderr.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const down = async (signal: NodeJS.Signals) => {
    const c = child as ChildProcess | null;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once("exit", r));
    c.kill(signal);
    await exited;
    child = null;
  };
  await up();
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    start: up,
    stop: () => down("SIGTERM"),
    kill: () => down("SIGKILL"),
    remove: dir.remove,
  };
}

export type ServiceProcess = { child: ChildProcess; http: number; mqtt: number; exited: Promise<number | null> };

/** The service's own settings for a test: loopback, ports chosen by the OS, data in `dataDir`, the test admin key. */
export function serviceEnv(dataDir: string, more: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    AGRILUME_DATA_DIR: dataDir,
    AGRILUME_HTTP_HOST: "127.0.0.1",
    AGRILUME_HTTP_PORT: "0",
    AGRILUME_MQTT_HOST: "127.0.0.1",
    AGRILUME_MQTT_PORT: "0",
    AGRILUME_ADMIN_KEY: ADMIN_KEY,
    AGRILUME_LOG_LEVEL: "warn",
    ...more,
  };
}

/**
 * The real service as its own process, started from its entry file (through tsx), or with `compiled` from the build in
 * dist/ (`npm run build:service`), exactly as `npm start` runs it: tsx compiles every module in every thread, which
 * costs memory of its own (~100 MB of the process's idle size and ~50 MB a worker thread: docs/BENCHMARKS.md).
 */
export function startServiceProcess(dataDir: string, env: Record<string, string> = {}, opts: { compiled?: boolean } = {}): Promise<ServiceProcess> {
  const child = spawn(process.execPath, opts.compiled ? ["dist/src/bin.js"] : ["--import", "tsx", "src/bin.ts"], {
    env: serviceEnv(dataDir, env),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /AGRILUME_READY (\{.*\})/.exec(out);
      if (m?.[1]) {
        const ports = JSON.parse(m[1]) as { http: number; mqtt: number };
        resolve({ child, http: ports.http, mqtt: ports.mqtt, exited });
      }
    });
    void exited.then((code) => reject(new Error(`service exited (${code}) before it was ready:\n${stderr}`)), reject);
  });
}
