import type { ChildProcess } from "node:child_process";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { tempDirPerTest } from "./dirs.js";
import { occupiedPort, serviceEnv, startFailing, startService } from "./process.js";

/**
 * The first start's one-time credentials (the admin key and the `admin` account's password) as an operator meets them:
 * the service run as its own process (tsx), its stdout read. A first start that fails must not make them unseen.
 */
const dir = tempDirPerTest();
const started: ChildProcess[] = [];
const bin = ["--import", "tsx", join("src", "bin.ts")];
/** The service's test settings without AGRILUME_ADMIN_KEY: the first start makes its own key. */
const firstEnv = (dataDir: string, more: Record<string, string> = {}) => {
  const env = serviceEnv(dataDir, more);
  delete env.AGRILUME_ADMIN_KEY;
  return env;
};

const busy = occupiedPort();
beforeAll(busy.hold);
afterAll(busy.release);
afterEach(() => {
  for (const c of started.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
});

describe("the first start's admin key and admin password", () => {
  it.each(["AGRILUME_MQTT_PORT", "AGRILUME_HTTP_PORT"])(
    "a first start that fails (%s in use) makes neither; the next start that succeeds prints both, and they work",
    async (setting) => {
      const data = dir();
      const failed = await startFailing(process.execPath, bin, {
        cwd: process.cwd(),
        env: firstEnv(data, { [setting]: String(busy.port()) }),
        started,
      });
      expect(failed.code).toBe(1);
      expect(failed.stderr).toContain("is already in use");
      expect(failed.stdout).not.toContain("An admin key was created");

      const s = await startService(process.execPath, bin, { cwd: process.cwd(), env: firstEnv(data), started, readyMs: 60_000 });
      try {
        const out = s.stdout();
        const key = /An admin key was created[^\n]*\n\s+(\S+)/.exec(out)?.[1];
        const password = /An admin account was created[^\n]*\n\s+admin \/ (\S+)/.exec(out)?.[1];
        expect(key, out).toBeDefined();
        expect(password, out).toBeDefined();
        const base = `http://127.0.0.1:${s.ports.http}/api/v1`;
        const keys = await fetch(`${base}/keys`, { headers: { authorization: `Bearer ${key}` } });
        expect(keys.status).toBe(200);
        // one key: the failed start left none behind
        expect(((await keys.json()) as { keys: { name: string }[] }).keys.map((k) => k.name)).toEqual(["first admin"]);
        const signIn = await fetch(`${base}/session`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ name: "admin", password }),
        });
        expect(signIn.status).toBe(200);
      } finally {
        expect(await s.stop(), `signal ${s.child.signalCode}; stderr: ${s.stderr()}`).toBe(0);
      }

      // shown once: a later start prints neither
      const again = await startService(process.execPath, bin, { cwd: process.cwd(), env: firstEnv(data), started, readyMs: 60_000 });
      expect(again.stdout()).not.toContain("An admin key was created");
      expect(again.stdout()).not.toContain("An admin account was created");
      expect(await again.stop(), `signal ${again.child.signalCode}; stderr: ${again.stderr()}`).toBe(0);
    },
    180_000,
  );
});
