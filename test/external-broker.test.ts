import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, publish, reading, registerLight, startTestApp, type TestApp, tempDir, waitUntil } from "../harness/helpers.js";
import { MOSQUITTO, type Mosquitto, serviceAvailable, startMosquitto } from "../harness/services.js";

const run = serviceAvailable("Mosquitto", MOSQUITTO, "apt-get install mosquitto");

describe.skipIf(!run)("external broker mode against a real Mosquitto", () => {
  let broker: Mosquitto;
  let t: TestApp;
  const data = tempDir();
  let creds: { id: string; secret: string };
  const env = () => ({ AGRILUME_MQTT_URL: broker.url, AGRILUME_MQTT_CLIENT_ID: "agrilume-test" });

  beforeAll(async () => {
    broker = await startMosquitto();
    t = await startTestApp(env(), data.path);
    creds = await registerLight(t, "EXT-1");
  });
  afterAll(async () => {
    await t.stop();
    await broker.stop();
    data.remove();
  });

  const count = () =>
    t.app.writer.waitFor(t.app.wal.lastSeq()).then(() => t.app.telemetry.count({ deviceId: "EXT-1", measurement: "streetlight_telemetry" }));

  it("subscribes through an MQTT 5 shared subscription and stores what devices publish", async () => {
    expect(t.app.external?.filters).toContain("$share/agrilume/streetlight/+/telemetry");
    expect(await (await t.api("/ready")).json()).toMatchObject({ ready: true, checks: { broker: true } });
    const device = await connect(broker.url, { clientId: "EXT-1", username: creds.id, password: creds.secret });
    const t0 = Date.now() - 600_000;
    for (let i = 0; i < 50; i++) await publish(device, "streetlight/EXT-1/telemetry", JSON.stringify(reading(t0 + i * 1000)));
    await waitUntil(async () => (await count()) === 50, "50 readings stored");
    device.end();
  });

  it("records bad and unknown-device messages as rejects instead of storing them", async () => {
    const device = await connect(broker.url, { clientId: "EXT-raw" });
    await publish(device, "streetlight/EXT-1/telemetry", "{broken");
    await publish(device, "streetlight/GHOST/telemetry", JSON.stringify(reading(Date.now())));
    device.end();
    await waitUntil(async () => {
      const r = (await (await t.api("/api/v1/devices/EXT-1/rejects")).json()) as { counts: Record<string, number> };
      return r.counts.bad_json === 1;
    }, "bad_json reject");
    const ghost = (await (await t.api("/api/v1/rejects/unregistered")).json()) as { counts: Record<string, number>; recent: { topic: string }[] };
    expect(ghost.counts.unknown_device).toBe(1);
    expect(ghost.recent[0]?.topic).toBe("streetlight/GHOST/telemetry");
  });

  it("gets what was published while the service was down, from its persistent session", async () => {
    const before = await count();
    await t.app.stop();
    const device = await connect(broker.url, { clientId: "EXT-1", username: creds.id, password: creds.secret });
    const t0 = Date.now() - 300_000;
    for (let i = 0; i < 30; i++) await publish(device, "streetlight/EXT-1/telemetry", JSON.stringify(reading(t0 + i * 1000)));
    device.end();
    t = await startTestApp(env(), data.path);
    await waitUntil(async () => (await count()) === before + 30, "30 readings queued at the broker while down");
  });
});
