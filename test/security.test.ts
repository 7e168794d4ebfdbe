import { connect as netConnect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_KEY, closed, connect, connectDevice, publish, reading, registerLight, startTestApp, type TestApp } from "../harness/helpers.js";

describe("device security", () => {
  let t: TestApp;
  let a: { id: string; secret: string };
  let b: { id: string; secret: string };
  beforeAll(async () => {
    t = await startTestApp();
    a = await registerLight(t, "SEC-A");
    b = await registerLight(t, "SEC-B");
  });
  afterAll(() => t.stop());
  const url = () => t.started.mqttUrl ?? "";

  it("refuses a wrong secret, an unknown device, no credentials and a borrowed client id at CONNACK", async () => {
    await expect(connect(url(), { clientId: "SEC-A", username: "SEC-A", password: "wrong-secret" })).rejects.toThrow(/Bad username or password/);
    await expect(connect(url(), { clientId: "NOPE", username: "NOPE", password: a.secret })).rejects.toThrow(/Bad username or password/);
    await expect(connect(url(), { clientId: "SEC-A" })).rejects.toThrow(/Bad username or password/);
    // B's credentials with A's client id would let B kick A off the broker
    await expect(connect(url(), { clientId: "SEC-A", username: "SEC-B", password: b.secret })).rejects.toThrow(/Identifier rejected/);
    const metrics = await (await t.api("/metrics")).text();
    expect(metrics).toMatch(/agrilume_mqtt_refused_total\{reason="bad_secret"\} 1/);
  });

  it("disconnects device A when it publishes on B's topics, and stores nothing for B", async () => {
    const client = await connectDevice(t, a);
    await expect(publish(client, "streetlight/SEC-B/telemetry", JSON.stringify(reading(Date.now())))).rejects.toThrow(/closed/);
    await closed(client);
    await t.app.writer.waitFor(t.app.wal.lastSeq());
    expect(await t.app.telemetry.count({ deviceId: "SEC-B" })).toBe(0);
    expect(((await (await t.api("/api/v1/devices/SEC-B/rejects")).json()) as { counts: object }).counts).toEqual({});
    // also under another family's prefix with its own id
    const again = await connectDevice(t, a);
    await expect(publish(again, "blender/SEC-A/telemetry", "{}")).rejects.toThrow(/closed/);
  });

  it("refuses a subscription to another device's commands, and grants its own", async () => {
    const client = await connectDevice(t, a);
    for (const refused of ["streetlight/SEC-B/cmd/#", "#", "streetlight/+/cmd/#", "streetlight/SEC-A/telemetry", "streetlight/SEC-A/cmd/+/x"]) {
      // SUBACK 0x80, which mqtt.js reports as an error
      await expect(client.subscribeAsync(refused, { qos: 1 })).rejects.toThrow(/Subscribe error/);
    }
    expect((await client.subscribeAsync("streetlight/SEC-A/cmd/#", { qos: 1 })).map((g) => g.qos)).toEqual([1]);
    expect(client.connected).toBe(true);
    const got = new Promise<string>((resolve) => client.once("message", (topic) => resolve(topic)));
    await t.app.broker?.publish("streetlight/SEC-A/cmd/ping", Buffer.from("{}"), false);
    expect(await got).toBe("streetlight/SEC-A/cmd/ping");
    client.end();
  });

  it("refuses a disabled device and an old secret after rotation", async () => {
    const c = await registerLight(t, "SEC-C");
    expect((await t.api("/api/v1/devices/SEC-C/disable", { method: "POST" })).status).toBe(200);
    await expect(connectDevice(t, c)).rejects.toThrow(/Not authorized/);
    await t.api("/api/v1/devices/SEC-C/enable", { method: "POST" });
    const live = await connectDevice(t, c);
    const rotated = (await (await t.api("/api/v1/devices/SEC-C/secret", { method: "POST" })).json()) as { secret: string };
    await closed(live); // rotation disconnects the device
    await expect(connectDevice(t, c)).rejects.toThrow(/Bad username or password/);
    (await connectDevice(t, { id: "SEC-C", secret: rotated.secret })).end();
  });

  it("closes a connection announcing a packet over the size limit before buffering it", async () => {
    const client = await connectDevice(t, a);
    // 3 MB > AGRILUME_MAX_PACKET_BYTES (2 MiB): the connection closes, the service stays up
    const res = publish(client, "streetlight/SEC-A/telemetry", Buffer.alloc(3 * 1024 * 1024, 0x20));
    await expect(res).rejects.toThrow(/closed/);
    expect((await t.api("/health")).status).toBe(200);
    const m = await (await t.api("/metrics")).text();
    expect(m).toMatch(/agrilume_mqtt_refused_total\{reason="packet_too_large"\} 1/);
  });

  it("a frozen client does not stall acknowledgements to others", async () => {
    const frozen = await connectDevice(t, b);
    await frozen.subscribeAsync("streetlight/SEC-B/cmd/#", { qos: 1 });
    // stop reading the socket, then fill its buffers with commands
    (frozen.stream as import("node:net").Socket).pause();
    const big = { blob: "x".repeat(60_000) };
    for (let i = 0; i < 200; i++)
      void t.app.broker?.publish("streetlight/SEC-B/cmd/fill", Buffer.from(JSON.stringify(big)), false).catch(() => undefined);
    const other = await connectDevice(t, a);
    for (let i = 0; i < 20; i++) await publish(other, "streetlight/SEC-A/telemetry", JSON.stringify(reading(Date.now() - 60_000 + i)));
    other.end();
    frozen.end(true);
  });

  it("a raw TCP client sending garbage is dropped without harm", async () => {
    const sock = netConnect(t.started.ports.mqtt ?? 0, "127.0.0.1");
    await new Promise<void>((resolve) => sock.once("connect", () => resolve()));
    sock.write(Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x7f, 1, 2, 3]));
    await new Promise<void>((resolve) => sock.once("close", () => resolve()));
    expect((await t.api("/health")).status).toBe(200);
  });
});

describe("API keys and roles", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
    await registerLight(t, "R-1", { town: "来苏镇" });
    await registerLight(t, "R-2", { town: "朱沱镇" });
  });
  afterAll(() => t.stop());

  const keyFor = async (body: Record<string, unknown>) => {
    const res = await t.api("/api/v1/keys", { method: "POST", body: JSON.stringify(body) });
    expect(res.status).toBe(201);
    return ((await res.json()) as { key: string }).key;
  };

  it("answers 401 with a JSON problem without a key or with a wrong one", async () => {
    for (const key of [null, "agl_wrong"]) {
      const res = await t.api("/api/v1/devices", { key });
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ error: { code: "unauthorized", message: expect.stringContaining("Authorization") } });
    }
    expect((await t.api("/metrics", { key: null })).status).toBe(401);
  });

  it("answers 403 for a role the route does not allow", async () => {
    const tech = await keyFor({ name: "王工", role: "technician" });
    const res = await t.api("/api/v1/devices", {
      key: tech,
      method: "POST",
      body: JSON.stringify({ id: "X", family: "streetlight", town: "t", lat: 1, lon: 1 }),
    });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ error: { code: "forbidden" } });
    expect((await t.api("/api/v1/keys", { key: tech })).status).toBe(403);
    expect((await t.api("/metrics", { key: tech })).status).toBe(403);
    const finance = await keyFor({ name: "财政局", role: "finance" });
    expect((await t.api("/api/v1/devices/R-1/rejects", { key: finance })).status).toBe(403);
    expect((await t.api("/api/v1/devices", { key: finance })).status).toBe(200);
  });

  it("a key limited to towns sees only those towns' devices", async () => {
    const tech = await keyFor({ name: "来苏 technician", role: "technician", towns: ["来苏镇"] });
    const list = (await (await t.api("/api/v1/devices", { key: tech })).json()) as { devices: { id: string }[] };
    expect(list.devices.map((d) => d.id)).toEqual(["R-1"]);
    expect((await t.api("/api/v1/devices/R-2", { key: tech })).status).toBe(404);
  });

  it("a revoked key stops working; keys are never listed in clear", async () => {
    const op = await keyFor({ name: "operator", role: "operator" });
    const keys = (await (await t.api("/api/v1/keys")).json()) as { keys: { id: string; name: string }[] };
    expect(JSON.stringify(keys)).not.toContain(op);
    expect(JSON.stringify(keys)).not.toContain(ADMIN_KEY);
    const id = keys.keys.find((k) => k.name === "operator")?.id;
    expect((await t.api(`/api/v1/keys/${id}`, { method: "DELETE" })).status).toBe(204);
    expect((await t.api("/api/v1/devices", { key: op })).status).toBe(401);
  });

  it("errors are JSON with a code and a message, in Chinese by default and English on request", async () => {
    const zh = await t.api("/api/v1/devices/NOPE");
    expect(zh.status).toBe(404);
    expect(await zh.json()).toEqual({ error: { code: "not_found", message: "未找到设备 NOPE", params: { what: "device", id: "NOPE" } } });
    const en = await t.api("/api/v1/devices/NOPE", { headers: { "accept-language": "en-US,en;q=0.9" } });
    expect(await en.json()).toEqual({ error: { code: "not_found", message: "Not found: device NOPE", params: { what: "device", id: "NOPE" } } });
    // where a client cannot set headers (EventSource), ?lang= chooses
    const asked = await t.api("/api/v1/devices/NOPE?lang=en");
    expect(((await asked.json()) as { error: { message: string } }).error.message).toBe("Not found: device NOPE");
    const bad = await t.api("/api/v1/devices", { method: "POST", body: "{" });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: "bad_request" } });
    const dup = await t.api("/api/v1/devices", {
      method: "POST",
      body: JSON.stringify({ id: "R-1", family: "streetlight", town: "来苏镇", lat: 29, lon: 105 }),
    });
    expect(dup.status).toBe(409);
    expect(await dup.json()).toMatchObject({ error: { code: "conflict" } });
  });

  it("serves OpenAPI, health and readiness without a key", async () => {
    const doc = (await (await t.api("/docs/json", { key: null })).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(["/api/v1/devices", "/api/v1/devices/{id}/telemetry", "/api/v1/devices/import"]));
    expect(await (await t.api("/ready", { key: null })).json()).toEqual({
      ready: true,
      checks: { telemetryStore: true, stateStore: true, broker: true, storeWriter: true },
    });
    expect((await t.api("/docs", { key: null })).status).toBe(200);
  });
});
