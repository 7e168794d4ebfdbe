import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type mqtt from "mqtt";
import type { MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, connectDevice, publish, reading, registerLight, startTestApp, type TestApp, tempDir, waitUntil } from "../harness/helpers.js";
import { MOSQUITTO, MOSQUITTO_PASSWD, MOSQUITTO_SERVICE, type Mosquitto, serviceAvailable, startMosquitto } from "../harness/services.js";
import { loadConfig } from "../src/platform/config.js";
import { mosquittoHash, mosquittoHashAsync, verifyMosquittoHash } from "../src/registry/secrets.js";

const run = serviceAvailable("Mosquitto", MOSQUITTO, "apt-get install mosquitto");

/** A CONNECT's outcome: connected, or refused (CONNACK with an error) — never a hang. */
async function tryConnect(url: string, opts: mqtt.IClientOptions): Promise<MqttClient | "refused"> {
  try {
    return await connect(url, opts);
  } catch {
    return "refused";
  }
}

describe("Mosquitto's password hash", () => {
  it.skipIf(!MOSQUITTO_PASSWD)("is the one Debian's mosquitto_passwd writes and checks", () => {
    const dir = tempDir();
    try {
      const file = join(dir.path, "passwd");
      writeFileSync(file, "dev1:s3cret-one\n");
      expect(spawnSync(MOSQUITTO_PASSWD as string, ["-U", file]).status).toBe(0);
      const theirs = readFileSync(file, "utf8").trim().split(":")[1] as string;
      expect(theirs).toMatch(/^\$7\$101\$/);
      // theirs checked by ours, and ours made with their salt is byte for byte theirs
      expect(verifyMosquittoHash("s3cret-one", theirs)).toBe(true);
      expect(verifyMosquittoHash("s3cret-two", theirs)).toBe(false);
      const salt = Buffer.from(theirs.split("$")[3] as string, "base64");
      expect(mosquittoHash("s3cret-one", 101, salt)).toBe(theirs);
    } finally {
      dir.remove();
    }
  });

  it("is the same when made in the scrypt threads (a connect that learns a device's hash)", async () => {
    const hash = await mosquittoHashAsync("s3cret-one");
    expect(hash).toMatch(/^\$7\$101\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==$/);
    expect(verifyMosquittoHash("s3cret-one", hash)).toBe(true);
    expect(verifyMosquittoHash("s3cret-two", hash)).toBe(false);
    const salt = Buffer.from(hash.split("$")[3] as string, "base64");
    expect(mosquittoHash("s3cret-one", 101, salt)).toBe(hash);
    expect(await mosquittoHashAsync("s3cret-one")).not.toBe(hash); // a new salt each time
  });
});

/**
 * Agrilume writes a real Debian Mosquitto's password and ACL files from its registry and makes it read them again
 * (SIGHUP through the pid file), with `use_username_as_clientid true`, as PROTOCOL.md §7 and docs/brokers/ say.
 */
describe.skipIf(!run)("Mosquitto's accounts kept in step with the registry", () => {
  let broker: Mosquitto;
  let t: TestApp;
  let data: ReturnType<typeof tempDir>;
  const open: MqttClient[] = [];
  const device = async (id: string, secret: string, opts: mqtt.IClientOptions = {}) => {
    const c = await waitUntil(
      () =>
        tryConnect(broker.url, { clientId: id, username: id, password: secret, protocolVersion: 5, ...opts }).then((r) =>
          r === "refused" ? false : r,
        ),
      `the broker to let ${id} in`,
    );
    open.push(c);
    return c;
  };
  /** Waits until the broker refuses this CONNECT (a reload takes effect within moments). */
  const refusedSoon = (id: string, secret: string, opts: mqtt.IClientOptions = {}) =>
    waitUntil(async () => {
      const r = await tryConnect(broker.url, { clientId: id, username: id, password: secret, ...opts });
      if (r === "refused") return true;
      await r.endAsync();
      return false;
    }, `the broker to refuse ${id}`);

  /** The service behind this Mosquitto, writing its accounts. */
  const serviceEnv = () => ({
    AGRILUME_MQTT_URL: broker.url,
    AGRILUME_MQTT_CLIENT_ID: MOSQUITTO_SERVICE.username,
    AGRILUME_MQTT_USERNAME: MOSQUITTO_SERVICE.username,
    AGRILUME_MQTT_PASSWORD: MOSQUITTO_SERVICE.password,
    AGRILUME_MOSQUITTO_PASSWORD_FILE: broker.files.password,
    AGRILUME_MOSQUITTO_ACL_FILE: broker.files.acl,
    AGRILUME_MOSQUITTO_PID_FILE: broker.files.pid,
  });
  beforeAll(async () => {
    broker = await startMosquitto({ extra: ["use_username_as_clientid true"] });
    data = tempDir();
    t = await startTestApp(serviceEnv(), data.path);
  }, 60_000);
  afterAll(async () => {
    for (const c of open) c.end(true);
    await t?.stop();
    await broker?.stop();
    data?.remove();
  });

  it("writes the service's account and the generated ACL; the service subscribes through them", async () => {
    expect(t.app.external?.isReady()).toBe(true);
    const passwd = readFileSync(broker.files.password, "utf8");
    expect(passwd).toMatch(new RegExp(`^${MOSQUITTO_SERVICE.username}:\\$7\\$101\\$`, "m"));
    // the harness's plain mosquitto_passwd users are gone: the file is the registry's now
    expect(passwd.trim().split("\n")).toHaveLength(1);
  });

  it("lets a newly registered device in, and stores what it publishes", async () => {
    const { secret } = await registerLight(t, "MQ-NEW-1");
    const c = await device("MQ-NEW-1", secret);
    await publish(c, "streetlight/MQ-NEW-1/telemetry", JSON.stringify(reading(Date.now())));
    await waitUntil(
      async () => (await t.app.telemetry.count({ deviceId: "MQ-NEW-1", measurement: "streetlight_telemetry" })) === 1,
      "the reading to be stored",
    );
    expect(readFileSync(broker.files.acl, "utf8")).toContain(
      "user MQ-NEW-1\ntopic write streetlight/MQ-NEW-1/telemetry\ntopic write streetlight/MQ-NEW-1/status\ntopic write streetlight/MQ-NEW-1/ack\ntopic read streetlight/MQ-NEW-1/cmd/#\n",
    );
    // v1.1: its answer to a command, through Mosquitto's ACL to the service
    await publish(c, "streetlight/MQ-NEW-1/ack", JSON.stringify({ id: "C1", cmd: "profile", result: "rejected", reason: "unsupported" }));
    await waitUntil(
      async () => (await t.app.telemetry.count({ deviceId: "MQ-NEW-1", measurement: "streetlight_ack" })) === 1,
      "the answer to be recorded",
    );
  });

  it("refuses a disabled device within seconds, disconnects it, and lets it in again once enabled", async () => {
    const { secret } = await registerLight(t, "MQ-DIS-1");
    const c = await device("MQ-DIS-1", secret);
    const gone = new Promise<void>((resolve) => c.once("close", () => resolve()));
    expect((await t.api("/api/v1/devices/MQ-DIS-1/disable", { method: "POST" })).status).toBe(200);
    // Mosquitto 2.0 checks its connected clients again on reload: the disabled device's connection is closed (awaited
    // before any other CONNECT with this client id, which would take the session over and close it anyway)
    await gone;
    await refusedSoon("MQ-DIS-1", secret);
    expect((await t.api("/api/v1/devices/MQ-DIS-1/enable", { method: "POST" })).status).toBe(200);
    await device("MQ-DIS-1", secret);
  });

  it("takes the rotated secret and refuses the old one", async () => {
    const { secret: old } = await registerLight(t, "MQ-ROT-1");
    const before = await device("MQ-ROT-1", old);
    const gone = new Promise<void>((resolve) => before.once("close", () => resolve()));
    const res = await t.api("/api/v1/devices/MQ-ROT-1/secret", { method: "POST" });
    expect(res.status).toBe(200);
    const { secret: fresh } = (await res.json()) as { secret: string };
    // the connection made with the old secret is closed when the broker reads the new file (awaited before any other
    // CONNECT with this client id, which would take the session over and close it anyway)
    await gone;
    await refusedSoon("MQ-ROT-1", old);
    await device("MQ-ROT-1", fresh);
  });

  it("does not let one device's credentials take over another's client id, nor publish as it", async () => {
    const a = await registerLight(t, "MQ-A-1");
    const b = await registerLight(t, "MQ-B-1");
    const real = await device("MQ-A-1", a.secret);
    let kicked = false;
    real.on("close", () => {
      kicked = true;
    });
    // B's account asking for A's client id: the broker uses B's username as its client id instead
    const impostor = await device("MQ-B-1", b.secret, { clientId: "MQ-A-1" });
    // B publishing on A's topic: refused (MQTT 5: PUBACK "not authorised"), and nothing is stored for A
    const refused = await new Promise<Error | undefined>((resolve) =>
      impostor.publish("streetlight/MQ-A-1/telemetry", JSON.stringify(reading(Date.now())), { qos: 1 }, (err) => resolve(err ?? undefined)),
    );
    expect(refused?.message ?? "").toMatch(/not authori[sz]ed|135/i);
    // B on its own topic still works, and A is still connected after both (a takeover would have closed it at once)
    await publish(impostor, "streetlight/MQ-B-1/telemetry", JSON.stringify(reading(Date.now())));
    await waitUntil(async () => (await t.app.telemetry.count({ deviceId: "MQ-B-1", measurement: "streetlight_telemetry" })) === 1, "B's reading");
    await publish(real, "streetlight/MQ-A-1/telemetry", JSON.stringify(reading(Date.now())));
    await waitUntil(async () => (await t.app.telemetry.count({ deviceId: "MQ-A-1", measurement: "streetlight_telemetry" })) === 1, "A's reading");
    expect(kicked).toBe(false);
    expect(real.connected).toBe(true);
  });

  it("lets a device read only its own commands, and the service publish commands, alerts and station topics", async () => {
    const a = await registerLight(t, "MQ-CMD-1");
    const b = await registerLight(t, "MQ-CMD-2");
    const ca = await device("MQ-CMD-1", a.secret);
    const cb = await device("MQ-CMD-2", b.secret);
    // (Mosquitto 2.0 grants a subscription its ACL does not allow reading, and then delivers nothing on it)
    await ca.subscribeAsync(["streetlight/MQ-CMD-1/cmd/#", "streetlight/MQ-CMD-2/cmd/#"], { qos: 1 });
    const got: string[] = [];
    ca.on("message", (topic) => got.push(topic));
    // an observer under the service's own account (its topics under the generated ACL); a second client id of that
    // account would replace the service's connection (use_username_as_clientid), so the service itself publishes
    const svc = t.app.external;
    if (!svc) throw new Error("no external source");
    await svc.publish("streetlight/MQ-CMD-2/cmd/dim", Buffer.from("{}"), false);
    await svc.publish("streetlight/MQ-CMD-1/cmd/dim", Buffer.from("{}"), false);
    await svc.publish("alerts/来苏镇/dark", Buffer.from("{}"), false);
    await svc.publish("stations/S1/orders/o1/progress", Buffer.from("{}"), true);
    await waitUntil(() => got.includes("streetlight/MQ-CMD-1/cmd/dim"), "the command to reach its device");
    // (published first, on the same connection and so delivered in order: had it been allowed, it would be here)
    expect(got).toEqual(["streetlight/MQ-CMD-1/cmd/dim"]);
    // a device may not publish commands, alerts or station topics
    for (const topic of ["streetlight/MQ-CMD-1/cmd/dim", "alerts/来苏镇/dark", "stations/S1/orders/o1/progress"]) {
      const err = await new Promise<Error | undefined>((resolve) => cb.publish(topic, "{}", { qos: 1 }, (e) => resolve(e ?? undefined)));
      expect(err?.message ?? "", topic).toMatch(/not authori[sz]ed|135/i);
    }
    // the service's publishes were accepted by the broker (a refusal would have rejected the promises above), and the
    // retained station topic is there for a reader allowed to see it: the service's own account may not read it, so
    // check it through the ACL file instead
    expect(readFileSync(broker.files.acl, "utf8")).toMatch(/topic write alerts\/#\ntopic write stations\/#/);
  });

  it("gives a device registered before broker hashes were kept its line once it proves its secret", async () => {
    const { secret } = await registerLight(t, "MQ-OLD-1");
    // as a device from before this version: no broker hash
    const d = t.app.registry.get("MQ-OLD-1");
    if (!d) throw new Error("not registered");
    await t.app.state.devices.updateDevice({ ...d, brokerHash: null });
    // the registry in memory still has the hash; reload it from the store as a restart would
    await t.stop();
    t = await startTestApp(serviceEnv(), data.path);
    expect(t.app.registry.get("MQ-OLD-1")?.brokerHash).toBeNull();
    expect(readFileSync(broker.files.password, "utf8")).not.toContain("MQ-OLD-1:");
    await refusedSoon("MQ-OLD-1", secret);
    // the secret proved once (here through the registry, as the embedded broker or EMQX's HTTP authentication does)
    expect((await t.app.registry.authenticate("MQ-OLD-1", secret)).ok).toBe(true);
    await waitUntil(() => readFileSync(broker.files.password, "utf8").includes("MQ-OLD-1:"), "the learnt hash in the password file");
    await device("MQ-OLD-1", secret);
  });
});

describe("the brokers' settings", () => {
  const base = { AGRILUME_MQTT_URL: "mqtt://127.0.0.1:1883", AGRILUME_MQTT_USERNAME: "agrilume-ingest", AGRILUME_MQTT_PASSWORD: "pw-0123456789" };
  const errorsOf = (env: Record<string, string>) => {
    const r = loadConfig(env);
    return r.ok ? [] : r.errors;
  };
  it("refuse half a Mosquitto or EMQX setup, naming what is missing", () => {
    expect(errorsOf({ ...base, AGRILUME_MOSQUITTO_PASSWORD_FILE: "/x/passwd" }).join()).toMatch(/AGRILUME_MOSQUITTO_ACL_FILE/);
    expect(errorsOf({ AGRILUME_MOSQUITTO_PASSWORD_FILE: "/x/passwd", AGRILUME_MOSQUITTO_ACL_FILE: "/x/acl" }).join()).toMatch(
      /AGRILUME_MQTT_USERNAME/,
    );
    expect(errorsOf({ AGRILUME_MOSQUITTO_PID_FILE: "/x/pid" }).join()).toMatch(/只与 AGRILUME_MOSQUITTO_PASSWORD_FILE/);
    expect(errorsOf({ AGRILUME_EMQX_API_URL: "http://emqx:18083" }).join()).toMatch(/AGRILUME_EMQX_API_KEY/);
    expect(errorsOf({ AGRILUME_EMQX_AUTH_SECRET: "short" }).join()).toMatch(/AGRILUME_EMQX_AUTH_SECRET/);
    const ok = loadConfig({ ...base, AGRILUME_MOSQUITTO_PASSWORD_FILE: "/x/passwd", AGRILUME_MOSQUITTO_ACL_FILE: "/x/acl" });
    expect(ok.ok && ok.config.mqtt.mosquitto).toMatchObject({
      passwordFile: "/x/passwd",
      aclFile: "/x/acl",
      service: { username: "agrilume-ingest" },
    });
  });
});

describe("a device registered before broker hashes were kept", () => {
  it("gets its hash when it next connects to the embedded broker, kept across a restart", async () => {
    const data = tempDir();
    let t = await startTestApp({}, data.path);
    try {
      const { id, secret } = await registerLight(t, "OLD-EMB-1");
      const d = t.app.registry.get(id);
      if (!d) throw new Error("not registered");
      // as a device from before this version: its row without a broker hash, read so at the next start
      await t.app.state.devices.updateDevice({ ...d, brokerHash: null });
      await t.stop();
      t = await startTestApp({}, data.path);
      expect(t.app.registry.get(id)?.brokerHash).toBeNull();
      const c = await connectDevice(t, { id, secret });
      c.end(true);
      const learnt = await waitUntil(() => t.app.registry.get(id)?.brokerHash ?? false, "the hash learnt from the connect");
      expect(verifyMosquittoHash(secret, learnt)).toBe(true);
      await t.stop();
      t = await startTestApp({}, data.path);
      expect(t.app.registry.get(id)?.brokerHash).toBe(learnt);
    } finally {
      await t.stop();
      data.remove();
    }
  });
});
