import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { chownSync, existsSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import pg from "pg";
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

/**
 * Whether process `pid` is the one listening on 127.0.0.1:`port` (Linux: the listening socket of /proc/net/tcp among
 * the process's open files). freePort's port is free only when asked: another test's server may take it before ours
 * binds, and would then answer our readiness probe while ours exits with "address already in use".
 */
export function listensOn(pid: number | undefined, port: number): boolean {
  if (pid === undefined) return false;
  const hex = `:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  const sockets = new Set<string>();
  for (const line of readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
    // sl local_address rem_address st … inode: a listener is state 0A
    const f = line.trim().split(/\s+/);
    if (f[1]?.endsWith(hex) && f[3] === "0A") sockets.add(`socket:[${f[9]}]`);
  }
  if (sockets.size === 0) return false;
  const fds = (() => {
    try {
      return readdirSync(`/proc/${pid}/fd`);
    } catch {
      return [];
    }
  })();
  return fds.some((fd) => {
    try {
      return sockets.has(readlinkSync(`/proc/${pid}/fd/${fd}`));
    } catch {
      return false;
    }
  });
}

/**
 * A service's first start on ports freePort gave: when another process took a port first ("address already in use"),
 * it is tried again on new ports (`repick`, or `up` itself picks them), three times in all. Restarts keep their ports
 * and do not come here.
 */
export async function firstStart(up: () => Promise<void>, repick: () => Promise<void> = async () => undefined): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await up();
    } catch (e) {
      if (attempt >= 3 || !/already in use/i.test(e instanceof Error ? e.message : String(e))) throw e;
      await repick();
    }
  }
}

/**
 * Starts a service's process and waits until it holds the listening socket of `port` and `answers` (its own protocol's
 * probe: a ping, a session), polling every `everyMs`; the error carries its stderr when it exits first or is not ready
 * within `timeoutMs`. Its stderr stays readable (`stderr()`), as a test of its log reads it.
 */
export async function spawnListening(
  name: string,
  command: string,
  args: readonly string[],
  opts: { port: number; answers?: () => Promise<boolean>; timeoutMs: number; everyMs: number; uid?: number; gid?: number },
): Promise<{ child: ChildProcess; stderr: () => string }> {
  const { port, answers, timeoutMs, everyMs, ...asUser } = opts;
  const c = spawn(command, args, { stdio: ["ignore", "ignore", "pipe"], ...asUser });
  let stderr = "";
  c.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (listensOn(c.pid, port) && (!answers || (await answers()))) return { child: c, stderr: () => stderr };
    if (c.exitCode !== null || Date.now() > deadline) throw new Error(`${name} did not start: ${stderr.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** The service's own account on a test Mosquitto (the ACL's `user agrilume-ingest` section, PROTOCOL.md §7). */
export const MOSQUITTO_SERVICE = { username: "agrilume-ingest", password: "service-secret-0123456789" };

/**
 * The ACL of PROTOCOL.md §7, as a site configures it: each device publishes only under its own id and reads only its
 * own commands; the service reads every device topic and the broker's drop counter, and writes commands, alerts and
 * station topics. test/docs.test.ts checks that PROTOCOL.md shows exactly this.
 */
export const MOSQUITTO_ACL = [
  "# each device publishes only under its own id, and reads only its own commands",
  "pattern write streetlight/%u/#",
  "pattern write blender/%u/#",
  "pattern read streetlight/%u/cmd/#",
  "pattern read blender/%u/cmd/#",
  "# the service: every device topic in, commands, alerts and station displays out, the broker's drop counter",
  "user agrilume-ingest",
  "topic read streetlight/#",
  "topic read blender/#",
  "topic write +/+/cmd/#",
  "topic write alerts/#",
  "topic write stations/#",
  "topic read $SYS/broker/publish/messages/dropped",
].join("\n");

export type Mosquitto = {
  url: string;
  port: number;
  /** Its `password_file`, `acl_file` and `pid_file` (for a service that writes the accounts itself: AGRILUME_MOSQUITTO_*). */
  files: { password: string; acl: string; pid: string };
  /** Sets (or replaces) users' passwords in the password file; takes effect on `reload` or a restart. */
  setUsers: (users: Record<string, string>) => void;
  /** Replaces the ACL file; takes effect on `reload` or a restart. */
  setAcl: (acl: string) => void;
  /** Replaces the extra configuration lines; takes effect on a restart. */
  setExtra: (lines: string[]) => void;
  /** SIGHUP: Mosquitto reads its password and ACL files again (connected clients stay). */
  reload: () => void;
  /** A clean restart on the same port: SIGTERM (Mosquitto saves its sessions to its persistence file), then start. */
  restart: (downMs?: number) => Promise<void>;
  stop: () => Promise<void>;
};

export const MOSQUITTO = findBinary("mosquitto", ["/usr/sbin/mosquitto", "mosquitto"]);
export const MOSQUITTO_PASSWD = findBinary("mosquitto_passwd", ["/usr/bin/mosquitto_passwd", "mosquitto_passwd"]);

/**
 * A real Mosquitto configured as a site runs it (PROTOCOL.md §7): no anonymous access, a password file in Mosquitto's
 * own hash format (made by Debian's mosquitto_passwd), the documented ACL, persistence (sessions and their queued
 * messages survive a clean restart) and `$SYS` published every `sysInterval` seconds. `users` are the devices' (and
 * any other) accounts besides the service's own, MOSQUITTO_SERVICE.
 */
export async function startMosquitto(
  opts: {
    users?: Record<string, string>;
    acl?: string;
    sysInterval?: number;
    maxQueued?: number;
    extra?: string[];
    /** The port to try first instead of a free one (a test of a port taken meanwhile). */
    port?: number;
  } = {},
): Promise<Mosquitto> {
  if (!MOSQUITTO) throw new Error("mosquitto is not installed");
  if (!MOSQUITTO_PASSWD) throw new Error("mosquitto_passwd is not installed (apt-get install mosquitto)");
  const passwd = MOSQUITTO_PASSWD;
  const dir = tempDir("agrilume-mosquitto-");
  let port = opts.port ?? (await freePort());
  const conf = join(dir.path, "mosquitto.conf");
  const passwordFile = join(dir.path, "passwd");
  const aclFile = join(dir.path, "acl");
  const pidFile = join(dir.path, "mosquitto.pid");
  const users = new Map<string, string>([[MOSQUITTO_SERVICE.username, MOSQUITTO_SERVICE.password], ...Object.entries(opts.users ?? {})]);
  const writeUsers = () => {
    // A plain "user:password" file, then hashed in place by mosquitto_passwd -U (one run for any number of users).
    writeFileSync(passwordFile, [...users].map(([u, p]) => `${u}:${p}\n`).join(""), { mode: 0o600 });
    const r = spawnSync(passwd, ["-U", passwordFile], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`mosquitto_passwd -U failed: ${r.stderr}`);
  };
  writeUsers();
  writeFileSync(aclFile, `${opts.acl ?? MOSQUITTO_ACL}\n`);
  let extra = opts.extra ?? [];
  const writeConf = () =>
    writeFileSync(
      conf,
      [
        `listener ${port} 127.0.0.1`,
        "allow_anonymous false",
        `password_file ${passwordFile}`,
        `acl_file ${aclFile}`,
        `pid_file ${pidFile}`,
        "persistence true",
        `persistence_location ${dir.path}/`,
        `max_queued_messages ${opts.maxQueued ?? 100_000}`,
        `sys_interval ${opts.sysInterval ?? 1}`,
        // Started as root (a container), Mosquitto would switch to the user "mosquitto", who cannot read this directory.
        ...(process.getuid?.() === 0 ? ["user root"] : []),
        ...extra,
        "",
      ].join("\n"),
    );
  writeConf();
  let child: ChildProcess | null = null;
  const up = async () => {
    child = (await spawnListening("mosquitto", MOSQUITTO, ["-c", conf], { port, timeoutMs: 10_000, everyMs: 50 })).child;
  };
  const down = async () => {
    const c = child as ChildProcess | null;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once("exit", r));
    c.kill("SIGTERM");
    await exited;
    child = null;
  };
  await firstStart(up, async () => {
    port = await freePort();
    writeConf();
  });
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    files: { password: passwordFile, acl: aclFile, pid: pidFile },
    setUsers: (more) => {
      for (const [u, p] of Object.entries(more)) users.set(u, p);
      writeUsers();
    },
    setAcl: (acl) => writeFileSync(aclFile, `${acl}\n`),
    setExtra: (lines) => {
      extra = lines;
      writeConf();
    },
    reload: () => {
      (child as ChildProcess | null)?.kill("SIGHUP");
    },
    restart: async (downMs = 0) => {
      await down();
      await new Promise((r) => setTimeout(r, downMs));
      await up();
    },
    stop: async () => {
      await down();
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
  let [port, rpc] = [await freePort(), await freePort()];
  const conf = join(dir.path, "influxdb.conf");
  const writeConf = () =>
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
  writeConf();
  let child: ChildProcess | null = null;
  const up = async () => {
    const answers = () =>
      fetch(`http://127.0.0.1:${port}/ping`).then(
        (r) => r.status === 204,
        () => false,
      );
    child = (await spawnListening("influxd", INFLUXD, ["-config", conf], { port, answers, timeoutMs: 20_000, everyMs: 100 })).child;
  };
  const down = async (signal: NodeJS.Signals) => {
    const c = child as ChildProcess | null;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once("exit", r));
    c.kill(signal);
    await exited;
    child = null;
  };
  await firstStart(up, async () => {
    [port, rpc] = [await freePort(), await freePort()];
    writeConf();
  });
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

/** Debian's PostgreSQL server binaries (`initdb`, `postgres`), the newest version installed, or null. */
export const POSTGRES_BIN = ((): string | null => {
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return null;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, "bin", "initdb")) && existsSync(join(root, v, "bin", "postgres")))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(root, versions[0], "bin") : null;
})();

export type Postgres = {
  port: number;
  /** A URL for `database` (the superuser `agrilume`, trusted on loopback). */
  url: (database?: string) => string;
  /** Creates an empty database and gives its URL. */
  createDatabase: (name: string) => Promise<string>;
  /** Runs one statement as the superuser on the `postgres` database (pg_terminate_backend, inspection). */
  query: <T = Record<string, unknown>>(sql: string, params?: unknown[]) => Promise<T[]>;
  stop: () => Promise<void>;
  kill: () => Promise<void>;
  start: () => Promise<void>;
  remove: () => void;
};

/**
 * A real PostgreSQL (Debian's postgresql) on a free port, its cluster made by `initdb` in a temporary directory, its
 * socket there too; loopback connections are trusted. Started as root (a container), the server runs as the
 * `postgres` user, as initdb and postgres refuse root. fsync is off: a test's cluster is thrown away.
 */
export async function startPostgres(): Promise<Postgres> {
  if (!POSTGRES_BIN) throw new Error("PostgreSQL is not installed");
  const bin = POSTGRES_BIN;
  const dir = tempDir("agrilume-postgres-");
  let port = await freePort();
  const data = join(dir.path, "data");
  const asUser: { uid?: number; gid?: number } = {};
  if (process.getuid?.() === 0) {
    const id = (flag: string) => Number(spawnSync("id", [flag, "postgres"], { encoding: "utf8" }).stdout.trim());
    asUser.uid = id("-u");
    asUser.gid = id("-g");
    if (!Number.isInteger(asUser.uid) || !Number.isInteger(asUser.gid))
      throw new Error("running as root, and there is no postgres user to run PostgreSQL as");
    chownSync(dir.path, asUser.uid, asUser.gid);
  }
  const init = spawnSync(join(bin, "initdb"), ["-D", data, "-U", "agrilume", "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"], {
    encoding: "utf8",
    ...asUser,
  });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr || init.error?.message}`);
  const url = (database = "postgres") => `postgres://agrilume@127.0.0.1:${port}/${database}`;
  let child: ChildProcess | null = null;
  const up = async () => {
    const answers = async () => {
      const client = new pg.Client({ connectionString: url() });
      const ok = await client.connect().then(
        () => true,
        () => false,
      );
      await client.end().catch(() => undefined);
      return ok;
    };
    const args = [
      "-D",
      data,
      "-p",
      String(port),
      "-k",
      dir.path,
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      "fsync=off",
      "-c",
      "full_page_writes=off",
    ];
    child = (await spawnListening("postgres", join(bin, "postgres"), args, { port, answers, timeoutMs: 20_000, everyMs: 100, ...asUser })).child;
  };
  const down = async (signal: NodeJS.Signals) => {
    const c = child as ChildProcess | null;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once("exit", r));
    c.kill(signal);
    await exited;
    child = null;
  };
  const query = async <T>(sql: string, params: unknown[] = []): Promise<T[]> => {
    const client = new pg.Client({ connectionString: url() });
    await client.connect();
    try {
      return (await client.query(sql, params)).rows as T[];
    } finally {
      await client.end();
    }
  };
  await firstStart(up, async () => {
    port = await freePort();
  });
  return {
    port,
    url,
    createDatabase: async (name) => {
      await query(`CREATE DATABASE "${name.replace(/"/g, "")}"`);
      return url(name);
    },
    query,
    // SIGINT: PostgreSQL's fast shutdown (SIGTERM waits for every client to disconnect)
    stop: () => down("SIGINT"),
    kill: () => down("SIGKILL"),
    start: up,
    remove: dir.remove,
  };
}
