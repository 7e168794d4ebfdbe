import type { ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, publish, reading, registerLight, startTestApp, type TestApp, tempDir, waitUntil } from "../harness/helpers.js";
import { firstStart, freePort, MOSQUITTO, serviceAvailable, spawnListening } from "../harness/services.js";

const run = serviceAvailable("Mosquitto", MOSQUITTO, "apt-get install mosquitto");
const shipped = readFileSync(new URL("../docs/brokers/mosquitto.conf", import.meta.url), "utf8");

/**
 * The Mosquitto configuration a site copies (docs/brokers/mosquitto.conf), loaded by Debian's mosquitto with only its
 * paths and port changed, and Agrilume writing its accounts for it and signalling it through its pid file.
 */
describe.skipIf(!run)("the shipped Mosquitto configuration", () => {
  const dir = tempDir("agrilume-shipped-mosquitto-");
  const files = { passwd: join(dir.path, "agrilume", "passwd"), acl: join(dir.path, "agrilume", "acl"), pid: join(dir.path, "run", "mosquitto.pid") };
  const service = { username: "agrilume-ingest", password: "service-password-0123456789" };
  let child: ChildProcess;
  let port: number;
  let stderr: () => string = () => "";
  let t: TestApp;

  beforeAll(async () => {
    mkdirSync(join(dir.path, "agrilume"));
    mkdirSync(join(dir.path, "run"));
    mkdirSync(join(dir.path, "lib"));
    // (before Agrilume's first write: Mosquitto needs the files to exist)
    writeFileSync(files.passwd, "", { mode: 0o600 });
    writeFileSync(files.acl, "");
    // (on a new port when another process took the free one before Mosquitto bound it)
    await firstStart(async () => {
      port = await freePort();
      const conf = shipped
        .replace(/^listener 1883$/m, `listener ${port} 127.0.0.1`)
        .replaceAll("/etc/mosquitto/agrilume/", `${dir.path}/agrilume/`)
        .replaceAll("/run/mosquitto/", `${dir.path}/run/`)
        .replaceAll("/var/lib/mosquitto/", `${dir.path}/lib/`)
        .replace(/^log_dest syslog$/m, "log_dest stderr");
      // every setting the substitution must change was found
      expect(conf).not.toMatch(/\n(listener 1883|password_file \/etc|acl_file \/etc|pid_file \/run|persistence_location \/var)/);
      const path = join(dir.path, "mosquitto.conf");
      writeFileSync(path, `${conf}\n${process.getuid?.() === 0 ? "user root\n" : ""}`);
      // (its error carries Mosquitto's words when it refuses the shipped configuration)
      const started = await spawnListening("mosquitto with the shipped configuration", MOSQUITTO as string, ["-c", path], {
        port,
        timeoutMs: 10_000,
        everyMs: 50,
      });
      child = started.child;
      stderr = started.stderr;
    });
    t = await startTestApp({
      AGRILUME_MQTT_URL: `mqtt://127.0.0.1:${port}`,
      AGRILUME_MQTT_CLIENT_ID: service.username,
      AGRILUME_MQTT_USERNAME: service.username,
      AGRILUME_MQTT_PASSWORD: service.password,
      AGRILUME_MOSQUITTO_PASSWORD_FILE: files.passwd,
      AGRILUME_MOSQUITTO_ACL_FILE: files.acl,
      AGRILUME_MOSQUITTO_PID_FILE: files.pid,
    });
  }, 60_000);
  afterAll(async () => {
    await t?.stop();
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    }
    dir.remove();
  });

  it("is loaded by Debian's mosquitto, which writes the pid file Agrilume signals", () => {
    expect(child.exitCode).toBeNull();
    expect(Number(readFileSync(files.pid, "utf8").trim())).toBe(child.pid);
    expect(stderr()).not.toMatch(/Error/);
  });

  it("lets the service subscribe and a registered device publish; what it publishes is stored", async () => {
    await waitUntil(() => t.app.external?.isReady(), "the service subscribed");
    const { id, secret } = await registerLight(t, "SHIP-1");
    const d = await waitUntil(
      () => connect(`mqtt://127.0.0.1:${port}`, { clientId: id, username: id, password: secret }).catch(() => false as const),
      "the broker to let the new device in",
    );
    await publish(d, `streetlight/${id}/telemetry`, JSON.stringify(reading(Date.now())));
    d.end(true);
    await waitUntil(async () => (await t.app.telemetry.count({ deviceId: id, measurement: "streetlight_telemetry" })) === 1, "the reading stored");
  });

  it("sizes the queue as its comment's arithmetic says", () => {
    // 18,105 lights every 300 s (DOMAIN.md §1, devices/streetlight.ts) for 12 hours, with room
    const perSecond = 18_105 / 300;
    expect(perSecond.toFixed(1)).toBe("60.4");
    expect((perSecond * 12 * 3600) / 1e6).toBeCloseTo(2.61, 2);
    const queued = Number(/^max_queued_messages (\d+)$/m.exec(shipped)?.[1]);
    expect(queued).toBeGreaterThanOrEqual(perSecond * 12 * 3600);
  });
});
