import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createServer } from "node:net";
import { serviceEnv as harnessEnv } from "../harness/services.js";

/** A command run to its end; throws with its output when it fails. */
export function run(command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): string {
  const res = spawnSync(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    encoding: "utf8",
    timeout: options.timeoutMs ?? 180_000,
  });
  if (res.status !== 0)
    throw new Error(`${command} ${args.join(" ")} in ${options.cwd}: exit ${res.status} ${res.error ?? ""}\n${res.stdout}\n${res.stderr}`);
  return res.stdout;
}

/** The service's own settings for a test (harness/services.ts), with English messages. */
export const serviceEnv = (dataDir: string, more: Record<string, string> = {}): NodeJS.ProcessEnv =>
  harnessEnv(dataDir, { AGRILUME_LANG: "en", ...more });

export type Running = {
  child: ChildProcess;
  /** The ports of the `AGRILUME_READY {...}` line. */
  ports: { http: number; mqtt?: number };
  stdout: () => string;
  stderr: () => string;
  /** The exit code (null after a signal). */
  exited: Promise<number | null>;
  /** SIGTERM, then the exit code. */
  stop: () => Promise<number | null>;
};

export type Ended = { code: number | null; stdout: string; stderr: string };

/**
 * Starts a process and waits for its `AGRILUME_READY` line (or, with `ready`, for output that matches it: then `ports`
 * is `{ http: 0 }`); resolves with it running, or rejects with its output when it exits first (or does not get ready
 * within `readyMs`). `started` collects every child, to be killed after a test.
 */
export function startService(
  command: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; readyMs?: number; started?: ChildProcess[]; ready?: RegExp },
): Promise<Running> {
  const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ["ignore", "pipe", "pipe"] });
  options.started?.push(child);
  let out = "";
  let err = "";
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  const running: Omit<Running, "ports"> = {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    stop: () => {
      child.kill("SIGTERM");
      return exited;
    },
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`not ready within ${options.readyMs ?? 30_000} ms:\n${out}\n${err}`));
    }, options.readyMs ?? 30_000);
    child.stdout?.on("data", () => {
      if (options.ready) {
        if (!options.ready.test(out)) return;
        clearTimeout(timer);
        return resolve({ ...running, ports: { http: 0 } });
      }
      const m = /AGRILUME_READY (\{.*\})/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve({ ...running, ports: JSON.parse(m[1]) as Running["ports"] });
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(Object.assign(new Error(`exited (${code}) before it was ready:\n${out}\n${err}`), { ended: { code, stdout: out, stderr: err } }));
    });
  });
}

/** A start that is expected to fail: its exit code and output (fails the test if it gets ready). */
export async function startFailing(
  command: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; started?: ChildProcess[] },
): Promise<Ended> {
  try {
    const r = await startService(command, args, options);
    await r.stop();
    throw new Error(`it started:\n${r.stdout()}`);
  } catch (e: unknown) {
    const ended = (e as { ended?: Ended }).ended;
    if (!ended) throw e;
    return ended;
  }
}

/**
 * A port something else already listens on (127.0.0.1), for starts that must refuse it; `port()` once `hold()` has
 * run (beforeAll), `release()` in afterAll.
 */
export function occupiedPort() {
  const server = createServer();
  let port = 0;
  return {
    port: () => port,
    hold: () =>
      new Promise<void>((r) =>
        server.listen(0, "127.0.0.1", () => {
          port = (server.address() as { port: number }).port;
          r();
        }),
      ),
    release: () => new Promise<void>((r) => server.close(() => r())),
  };
}
