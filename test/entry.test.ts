import type { ChildProcess } from "node:child_process";
import { cpSync, existsSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../harness/helpers.js";
import { occupiedPort, run, serviceEnv, startFailing, startService } from "./process.js";

/**
 * The service as it is started for real: built with `npm run build` in a copy of the project whose path has
 * Chinese characters and a space, then run as compiled JavaScript (the release directory and a `current`
 * symlink to it, as deployments do) and as TypeScript through tsx.
 */
const ROOT = resolve(".");
/** What `npm run build` reads. */
const SOURCES = ["package.json", "package-lock.json", "tsconfig.json", "tsconfig.build.json", "scripts", "web", "devices", "src"];

let tmp: ReturnType<typeof tempDir>;
/** `<tmp>/路灯 agrilume/`: the release directory and the `current` symlink to it. */
let base = "";
let release = "";
let current = "";
let dataDirs = 0;
/** A data directory of its own, also under the path with Chinese characters and a space. */
const dataDir = () => join(base, `数据 ${++dataDirs}`);
const started: ChildProcess[] = [];

beforeAll(() => {
  tmp = tempDir("agrilume-entry-");
  base = join(tmp.path, "路灯 agrilume");
  release = join(base, "release");
  current = join(base, "current");
  for (const s of SOURCES) cpSync(s, join(release, s), { recursive: true, filter: (src) => src !== join("web", "dist") });
  symlinkSync(join(ROOT, "node_modules"), join(release, "node_modules"));
  run("npm", ["run", "build"], { cwd: release });
  symlinkSync("release", current);
}, 240_000);

afterEach(() => {
  for (const c of started.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
});
afterAll(() => tmp?.remove());

const node = process.execPath;
/** `npm start`'s command, run by this Node. */
const startScript = () => {
  const [bin, ...args] = (JSON.parse(readFileSync(join(release, "package.json"), "utf8")) as { scripts: { start: string } }).scripts.start.split(" ");
  expect(bin).toBe("node");
  return args;
};

describe("the service started from a path with Chinese characters and a space", () => {
  it("npm run build compiled the service and the console there", () => {
    expect(existsSync(join(release, "dist", "src", "bin.js"))).toBe(true);
    expect(existsSync(join(release, "dist", "devices", "index.js"))).toBe(true);
    expect(existsSync(join(release, "dist", "web", "dist", "index.html"))).toBe(true);
  });

  it.each([
    { how: "compiled, npm start's command in the release directory", cwd: () => release, args: () => startScript(), console: true },
    {
      how: "compiled, through the symlink current -> release",
      cwd: () => current,
      args: () => [join(current, "dist", "src", "bin.js")],
      console: true,
    },
    {
      how: "TypeScript through tsx (npm run dev), through the symlink",
      cwd: () => current,
      args: () => ["--import", "tsx", join("src", "bin.ts")],
      console: false,
    },
  ])("$how: prints the ready line, answers /health, stops on SIGTERM with exit 0", async (c) => {
    const dir = dataDir();
    const s = await startService(node, c.args(), { cwd: c.cwd(), env: serviceEnv(dir), started });
    expect(s.stdout()).toContain("Agrilume is running");
    // the first start made the `admin` account and printed its one-time password, once
    expect(s.stdout()).toMatch(/An admin account was created[^\n]*\n\s+admin \/ \w{16}\n/);
    const health = await fetch(`http://127.0.0.1:${s.ports.http}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: "ok" });
    expect((await fetch(`http://127.0.0.1:${s.ports.http}/ready`)).status).toBe(200);
    // The compiled service finds the console the build put beside it (dist/web/dist); the copy has no web/dist for tsx.
    const page = await fetch(`http://127.0.0.1:${s.ports.http}/`);
    expect(page.status).toBe(c.console ? 200 : 503);
    if (c.console) expect(await page.text()).toMatch(/<script type="module" [^>]*src="\/assets\/index-[^"]+\.js"/);
    expect(await s.stop()).toBe(0);
    expect(s.stdout()).toContain("Stopped: all data written");
    // what it wrote (secrets' and passwords' hashes, claims, the log) is readable by its own user only
    const made = readdirSync(dir, { recursive: true, withFileTypes: true }).map((e) => join(e.parentPath, e.name));
    expect(made.length).toBeGreaterThan(2);
    for (const f of made) expect((statSync(f).mode & 0o077).toString(8), f).toBe("0");
  });
});

describe("a start that cannot proceed exits non-zero with a message saying why", () => {
  const bin = () => [join(current, "dist", "src", "bin.js")];
  const busy = occupiedPort();
  beforeAll(busy.hold);
  afterAll(busy.release);

  it.each(["AGRILUME_HTTP_PORT", "AGRILUME_MQTT_PORT"])("%s in use", async (setting) => {
    const end = await startFailing(node, bin(), { cwd: current, env: serviceEnv(dataDir(), { [setting]: String(busy.port()) }), started });
    expect(end.code).toBe(1);
    expect(end.stderr).toContain(`The service could not start: 127.0.0.1:${busy.port()} is already in use`);
    expect(end.stderr).toContain(`${setting}=${busy.port()}`);
    expect(end.stderr).not.toMatch(/\n\s+at /); // a message, not a stack
    expect(end.stdout).not.toContain("AGRILUME_READY");
  });

  it("a data directory that cannot be written", async () => {
    const file = join(tmp.path, "a file");
    writeFileSync(file, "");
    const end = await startFailing(node, bin(), { cwd: current, env: serviceEnv(join(file, "data"), { AGRILUME_LANG: "zh" }), started });
    expect(end.code).toBe(1);
    expect(end.stderr).toContain(`服务未能启动：数据目录 ${join(file, "data")} 无法写入（AGRILUME_DATA_DIR=${join(file, "data")}）`);
    expect(end.stderr).toContain("ENOTDIR");
    expect(end.stderr).not.toMatch(/\n\s+at /);
  });

  it("a data directory another process has open: its file, that process, and what to do", async () => {
    const dir = dataDir();
    const first = await startService(node, bin(), { cwd: current, env: serviceEnv(dir), started });
    const end = await startFailing(node, bin(), { cwd: current, env: serviceEnv(dir), started });
    expect(end.code).toBe(1);
    expect(end.stderr).toContain(
      `The service could not start: the database file ${join(dir, "state.duckdb")} is in use by another process (PID ${first.child.pid}`,
    );
    expect(end.stderr).toContain("give this instance its own AGRILUME_DATA_DIR");
    expect(end.stderr).not.toMatch(/\n\s+at /);
    expect(await first.stop()).toBe(0);
  });

  it("the PostgreSQL state store unreachable: where, by which setting, without its password", async () => {
    const closed = occupiedPort(); // a port nothing listens on: one that was just free
    await closed.hold();
    const port = closed.port();
    await closed.release();
    const url = `postgres://agrilume:s3cret-pw@127.0.0.1:${port}/agrilume`;
    const end = await startFailing(node, bin(), {
      cwd: current,
      env: serviceEnv(dataDir(), { AGRILUME_LANG: "zh", AGRILUME_STATE_URL: url }),
      started,
    });
    expect(end.code).toBe(1);
    expect(end.stderr).toContain(
      `服务未能启动：无法连接 PostgreSQL 状态库 127.0.0.1:${port}（AGRILUME_STATE_URL=postgres://agrilume:***@127.0.0.1:${port}/agrilume）`,
    );
    expect(end.stderr).toContain("ECONNREFUSED");
    expect(end.stderr).not.toContain("s3cret-pw");
    expect(end.stderr).not.toMatch(/\n\s+at /);
  });

  it("invalid configuration, before any file or port is opened", async () => {
    const dir = dataDir();
    const end = await startFailing(node, bin(), { cwd: current, env: serviceEnv(dir, { AGRILUME_STORE: "postgres" }), started });
    expect(end.code).toBe(1);
    expect(end.stderr).toContain("Invalid configuration; the service did not start:\n  AGRILUME_STORE must be one of: embedded, influx");
    expect(existsSync(dir)).toBe(false);
  });
});

describe("after the start, anything unhandled stops the service with exit 1 and a fatal log line", () => {
  // Loaded before the service: on SIGUSR2 it throws, or rejects a promise nobody handles, as a bug in the service would.
  let fault = "";
  beforeAll(() => {
    fault = join(tmp.path, "fault.mjs");
    writeFileSync(
      fault,
      `process.on("SIGUSR2", () => {
  if (process.env.FAULT === "reject") Promise.reject(new Error("boom: a rejection nobody handles"));
  else throw new Error("boom: an exception nobody catches");
});\n`,
    );
  });

  it.each([
    { fault: "throw", msg: "uncaught exception; the service stops", message: "boom: an exception nobody catches" },
    { fault: "reject", msg: "unhandled promise rejection; the service stops", message: "boom: a rejection nobody handles" },
  ])("$fault", async (c) => {
    const s = await startService(node, ["--import", pathToFileURL(fault).href, join(current, "dist", "src", "bin.js")], {
      cwd: current,
      env: { ...serviceEnv(dataDir()), FAULT: c.fault },
      started,
    });
    s.child.kill("SIGUSR2");
    expect(await s.exited).toBe(1);
    const fatal = s
      .stderr()
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { level: number; msg: string; err?: { message: string } })
      .filter((l) => l.level === 60);
    expect(fatal).toEqual([expect.objectContaining({ msg: c.msg, err: expect.objectContaining({ message: c.message }) })]);
  });
});
