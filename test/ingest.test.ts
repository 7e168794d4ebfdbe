import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  closed,
  connectDevice,
  publish,
  reading,
  registerLight,
  startStation,
  startTestApp,
  type TestApp,
  tempDir,
  waitUntil,
} from "../harness/helpers.js";
import { INFLUXD, serviceAvailable, startInflux } from "../harness/services.js";

describe("ingest end to end (embedded broker, embedded store, HTTP API)", () => {
  let t: TestApp;
  let a: { id: string; secret: string };
  let b: { id: string; secret: string };
  beforeAll(async () => {
    t = await startTestApp({ AGRILUME_REJECT_LIMIT: "15" });
    a = await registerLight(t, "YC-A");
    b = await registerLight(t, "YC-B");
  });
  afterAll(() => t.stop());

  const telemetry = async (id: string, query = "") => {
    const res = await t.api(`/api/v1/devices/${id}/telemetry?from=2000-01-01T00:00:00Z${query}`);
    return ((await res.json()) as { readings: Record<string, unknown>[] }).readings;
  };

  it("stores a reading at the device's own timestamp and shows it as the latest", async () => {
    const client = await connectDevice(t, a);
    const ts = Date.now() - 3600_000; // buffered for an hour, then sent
    await publish(client, "streetlight/YC-A/telemetry", JSON.stringify(reading(ts)));
    const rows = await waitUntil(async () => {
      const r = await telemetry("YC-A");
      return r.length > 0 && r;
    }, "the reading in the store");
    expect(rows[0]).toMatchObject({ ts: new Date(ts).toISOString(), battery: { soc: 78 }, load: { on: true, w: 29.6 } });
    const device = (await (await t.api("/api/v1/devices/YC-A")).json()) as Record<string, unknown>;
    expect(device).toMatchObject({ id: "YC-A", online: true, town: "来苏镇", latest: { ts: new Date(ts).toISOString() } });
    expect(device).not.toHaveProperty("secretHash");
    client.end();
  });

  it("aggregates per hour", async () => {
    const client = await connectDevice(t, a);
    const base = Date.now() - 2 * 3600_000;
    const hour = base - (base % 3600_000);
    for (const [i, soc] of [50, 60, 70].entries()) {
      await publish(client, "streetlight/YC-A/telemetry", JSON.stringify(reading(hour + i * 60_000, { battery: { v: 12.5, soc, tempC: 10 } })));
    }
    client.end();
    const res = await waitUntil(async () => {
      const r = await t.api(
        `/api/v1/devices/YC-A/telemetry?from=${new Date(hour).toISOString()}&to=${new Date(hour + 3600_000).toISOString()}&every=hour&fields=battery.soc`,
      );
      const body = (await r.json()) as { buckets: { field: string; min: number; avg: number; max: number; last: number; count: number }[] };
      return body.buckets.length > 0 && body.buckets[0]?.count === 3 && body;
    }, "three readings in the hour");
    expect(res.buckets).toEqual([{ ts: new Date(hour).toISOString(), field: "battery.soc", min: 50, avg: 60, max: 70, last: 70, count: 3 }]);
  });

  it("rejects bad input with a reason, keeps it for inspection, and stays up for everyone else", async () => {
    const bad = await connectDevice(t, b);
    const cases: [string, string | Buffer][] = [
      ["bad_json", "{not json"],
      ["invalid", JSON.stringify({ ...reading(Date.now()), battery: { v: "high", soc: 70, tempC: 1 } })],
      ["invalid", '{"ts":1763719500000,"pv":{"v":1e999,"a":0,"w":0}}'],
      ["invalid", JSON.stringify(reading(Date.now(), { pv: { v: 1e308, a: 0, w: 0 } }))],
      ["ts_future", JSON.stringify(reading(Date.now() + 3600_000))],
      ["too_large", Buffer.alloc(1024 * 1024, 0x20)],
      ["not_utf8", Buffer.from([0xc3, 0x28])],
    ];
    for (const [, payload] of cases) await publish(bad, "streetlight/YC-B/telemetry", payload);
    const good = await connectDevice(t, a);
    await publish(good, "streetlight/YC-A/telemetry", JSON.stringify(reading(Date.now() - 1000)));
    good.end();

    const body = await waitUntil(async () => {
      const r = (await (await t.api("/api/v1/devices/YC-B/rejects")).json()) as {
        counts: Record<string, number>;
        recent: { reason: string; payload: string; payloadBytes: number; detail: string }[];
      };
      return r.recent.length >= cases.length && r;
    }, "rejects recorded");
    expect(body.counts).toEqual({ bad_json: 1, invalid: 3, ts_future: 1, too_large: 1, not_utf8: 1 });
    const large = body.recent.find((r) => r.reason === "too_large");
    expect(large?.payloadBytes).toBe(1024 * 1024);
    expect(large?.payload.length).toBeLessThanOrEqual(4096);
    expect(body.recent.find((r) => r.reason === "bad_json")?.payload).toBe("{not json");
    expect(body.recent.find((r) => r.reason === "invalid")?.detail).toMatch(/pv\.v|battery\.v/);
    // why, as code and parameters, and in the reader's language (Chinese by default)
    type Rejects = { recent: { reason: string; detail: string; detailCode: string; detailParams: unknown }[] };
    const typed = (r: Rejects) => r.recent.find((x) => x.reason === "invalid" && JSON.stringify(x.detailParams).includes('"battery.v"'));
    const zh = (await (await t.api("/api/v1/devices/YC-B/rejects")).json()) as Rejects;
    expect(typed(zh)).toMatchObject({
      detail: "battery.v 应为数字",
      detailCode: "payload_invalid",
      detailParams: { problems: [{ code: "issue_type", params: { path: "battery.v", expected: "number" } }] },
    });
    expect(zh.recent.find((x) => x.reason === "ts_future")).toMatchObject({
      detail: "ts 比服务器时钟快 3600 秒（最多 300 秒）",
      detailCode: "ts_ahead",
      detailParams: { aheadS: 3600, limitS: 300 },
    });
    expect(zh.recent.find((x) => x.reason === "bad_json")?.detail).toMatch(/^消息不是有效的 JSON/);
    const en = (await (await t.api("/api/v1/devices/YC-B/rejects", { headers: { "accept-language": "en" } })).json()) as Rejects;
    expect(typed(en)?.detail).toBe("battery.v must be of type number");
    expect(en.recent.find((x) => x.reason === "ts_future")?.detail).toBe("ts is 3600 s ahead of the server clock (limit 300 s)");
    // a reject recorded before messages were data keeps its English detail, shown as written
    await t.app.state.db.run(
      "INSERT INTO rejects (seq, device_id, client_id, topic, reason, detail, payload, payload_encoding, payload_bytes, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      [1e12, "YC-A", "YC-A", "streetlight/YC-A/telemetry", "bad_json", "Unexpected end of JSON input", "{", "utf8", 1, new Date().toISOString()],
    );
    const kept = (await (await t.api("/api/v1/devices/YC-A/rejects")).json()) as Rejects;
    expect(kept.recent[0]).toMatchObject({ detail: "Unexpected end of JSON input", detailCode: "legacy_text" });
    expect(await telemetry("YC-B")).toEqual([]);
    const metrics = await (await t.api("/metrics")).text();
    expect(metrics).toMatch(/agrilume_messages_rejected_total\{family="streetlight",reason="too_large"\} 1/);
    expect((await t.api("/health")).status).toBe(200);
    bad.end();
  });

  it("disconnects a device that floods bad messages and refuses it for a while; others are not affected", async () => {
    const flood = await connectDevice(t, b);
    const good = await connectDevice(t, a);
    const sends: Promise<unknown>[] = [];
    for (let i = 0; i < 40; i++) sends.push(publish(flood, "streetlight/YC-B/telemetry", "garbage").catch(() => "dropped"));
    await Promise.all(sends);
    await closed(flood);
    await publish(good, "streetlight/YC-A/telemetry", JSON.stringify(reading(Date.now() - 500)));
    await expect(connectDevice(t, b)).rejects.toThrow(/unavailable|closed/i);
    flood.end(true);
    good.end();
    const metrics = await (await t.api("/metrics")).text();
    expect(metrics).toMatch(/agrilume_mqtt_refused_total\{reason="throttled"\} [1-9]/);
    expect(metrics).toMatch(/agrilume_mqtt_refused_total\{reason="banned"\} [1-9]/);
  });

  it("tracks presence from the connection and the status topic, and records transitions", async () => {
    const creds = await registerLight(t, "YC-P");
    const client = await connectDevice(t, creds);
    await waitUntil(async () => ((await (await t.api("/api/v1/devices/YC-P")).json()) as { online: boolean }).online, "online");
    await publish(client, "streetlight/YC-P/status", JSON.stringify({ online: false }));
    await waitUntil(async () => !((await (await t.api("/api/v1/devices/YC-P")).json()) as { online: boolean }).online, "offline by status");
    client.end();
    await t.app.presence.flush();
    const events = (await (await t.api("/api/v1/devices/YC-P/presence")).json()) as { events: { online: boolean; cause: string }[] };
    expect(events.events.map((e) => `${e.online}:${e.cause}`)).toEqual(["false:status_offline", "true:connected"]);
  });

  it("marks a silent device offline after 3 report intervals, even with its connection open", async () => {
    const creds = await registerLight(t, "YC-S");
    const client = await connectDevice(t, creds);
    await publish(client, "streetlight/YC-S/telemetry", JSON.stringify(reading(Date.now())));
    const seen = t.app.presence.get("YC-S")?.lastSeen ?? 0;
    t.app.presence.sweep(seen + 3 * 300_000 - 1);
    expect(t.app.presence.isOnline("YC-S")).toBe(true);
    t.app.presence.sweep(seen + 3 * 300_000 + 1);
    expect(t.app.presence.isOnline("YC-S")).toBe(false);
    expect(t.app.presence.get("YC-S")?.cause).toBe("silent");
    client.end();
  });

  it("accepts RFC 3339 timestamps and stores each (device, ts) once when a device resends", async () => {
    const creds = await registerLight(t, "YC-D");
    const client = await connectDevice(t, creds);
    // An hour ago, written in China time: "YYYY-MM-DDTHH:MM:SS+08:00".
    const instant = Math.floor((Date.now() - 3600_000) / 1000) * 1000;
    const ts = `${new Date(instant + 8 * 3600_000).toISOString().slice(0, 19)}+08:00`;
    const payload = JSON.stringify(reading(ts as unknown as number));
    await publish(client, "streetlight/YC-D/telemetry", payload);
    await publish(client, "streetlight/YC-D/telemetry", payload);
    client.end();
    await t.app.writer.waitFor(t.app.wal.lastSeq());
    expect(await t.app.telemetry.count({ deviceId: "YC-D", measurement: "streetlight_telemetry" })).toBe(1);
    expect((await telemetry("YC-D"))[0]?.ts).toBe(new Date(instant).toISOString());
  });
});

const influxInstalled = serviceAvailable("InfluxDB", INFLUXD, "apt-get install influxdb");

describe.skipIf(!influxInstalled)("the bounded spool (InfluxDB down, then back)", () => {
  it("stops acknowledging once the readings no store holds pass AGRILUME_SPOOL_MAX_MB, says so in /metrics, and acknowledges again once the store has caught up though the log's segment is still on disk", async () => {
    const limit = 1024 * 1024; // AGRILUME_SPOOL_MAX_MB=1, well below the 64 MB segment
    const influx = await startInflux();
    const t = await startTestApp({
      AGRILUME_STORE: "influx",
      AGRILUME_INFLUX_URL: influx.url,
      AGRILUME_INFLUX_DATABASE: "spool",
      AGRILUME_SPOOL_MAX_MB: "1",
    });
    try {
      const creds = await registerLight(t, "SPOOL-1");
      let client = await connectDevice(t, creds);
      const t0 = Date.now() - 3600_000;
      let sent = 0;
      let acked = 0;
      const send = (n: number) =>
        Promise.allSettled(
          Array.from({ length: n }, () =>
            publish(client, "streetlight/SPOOL-1/telemetry", JSON.stringify(reading(t0 + sent++ * 100))).then(() => acked++),
          ),
        );
      const metrics = async () => (await (await t.api("/metrics")).text()).split("\n");
      const gauge = async (name: string) => Number((await metrics()).find((l) => l.startsWith(`${name} `))?.split(" ")[1] ?? Number.NaN);
      const stored = () => t.app.telemetry.count({ deviceId: "SPOOL-1" }).catch(() => -1); // -1: InfluxDB not answering

      // the store up: readings are stored as they come, and nothing counts as spooled
      expect((await send(500)).every((r) => r.status === "fulfilled")).toBe(true);
      await t.app.writer.waitFor(t.app.wal.lastSeq());
      expect(t.app.wal.unstoredBytes()).toBe(0);
      const onDiskAtOutage = t.app.wal.bytes();
      expect(onDiskAtOutage).toBeGreaterThan(0);

      // (a) the store down: acknowledged until what it lacks passes the limit, then refused
      await influx.kill();
      let refused = false;
      for (let i = 0; i < 40 && !refused; i++) refused = (await send(500)).some((r) => r.status === "rejected");
      expect(refused).toBe(true);
      expect(t.app.wal.bytes()).toBeGreaterThan(1024 * 1024);
      expect(acked).toBeGreaterThan(1000);
      const unstored = t.app.wal.unstoredBytes();
      expect(unstored).toBeGreaterThan(limit);
      // not sooner: what was acknowledged while the store was down (all of it on disk since) passed the limit
      const spooled = t.app.wal.bytes() - onDiskAtOutage;
      expect(spooled).toBeGreaterThan(limit);
      expect(spooled).toBeLessThan(2 * limit);
      expect(unstored).toBeGreaterThanOrEqual(spooled);
      await closed(client);
      const refusals = async () => (await metrics()).find((l) => l.startsWith('agrilume_mqtt_refused_total{reason="spool_full"}')) ?? "";
      expect(await refusals()).toMatch(/agrilume_mqtt_refused_total\{reason="spool_full"\} [1-9]/);
      await waitUntil(async () => (await gauge("agrilume_spool_bytes")) > limit, "agrilume_spool_bytes past the limit", 20_000);

      // (b) the store back: it catches up, and readings are acknowledged again while the segment stays on disk
      await influx.start();
      await waitUntil(async () => (await stored()) >= acked, "every acknowledged reading in InfluxDB", 60_000);
      await t.app.writer.waitFor(t.app.wal.lastSeq());
      expect(t.app.wal.unstoredBytes()).toBe(0);
      const segments = readdirSync(join(t.dataDir, "wal"));
      expect(segments).toHaveLength(1);
      expect(statSync(join(t.dataDir, "wal", segments[0] ?? "")).size).toBeGreaterThan(limit);
      expect(t.app.wal.bytes()).toBeGreaterThan(limit);
      const refusedSoFar = await refusals();
      client = await connectDevice(t, creds);
      const ackedBefore = acked;
      expect((await send(500)).every((r) => r.status === "fulfilled")).toBe(true);
      expect(acked).toBe(ackedBefore + 500);
      expect(await refusals()).toBe(refusedSoFar);
      await waitUntil(async () => (await gauge("agrilume_wal_bytes")) > limit, "agrilume_wal_bytes: the segment on disk", 20_000);
      await waitUntil(async () => (await gauge("agrilume_spool_bytes")) < limit, "agrilume_spool_bytes back under the limit", 20_000);
      // what was acknowledged is all stored
      await t.app.writer.waitFor(t.app.wal.lastSeq());
      expect(await t.app.telemetry.count({ deviceId: "SPOOL-1" })).toBeGreaterThanOrEqual(acked);
      client.end(true);
    } finally {
      await t.stop();
      await influx.stop();
      influx.remove();
    }
  }, 180_000);
});

describe("the bounded spool across a restart", () => {
  it("after a restart, acknowledges at once though the log written before it holds more than the limit, every store holding all of it", async () => {
    const limit = 1024 * 1024;
    const dir = tempDir();
    // (a store batch gathers for 300 ms: the last three records below land in one)
    const env = { AGRILUME_SPOOL_MAX_MB: "1", AGRILUME_STORE_FLUSH_MS: "300" };
    let t: TestApp | undefined;
    try {
      t = await startTestApp(env, dir.path);
      const creds = await registerLight(t, "SPOOL-2");
      const { machine } = await startStation(t, { station: "spool", machineId: "SPOOL-BL", topics: ["blender/SPOOL-BL/cmd/#"] });
      let client = await connectDevice(t, creds);
      const t0 = Date.now() - 3600_000;
      let sent = 0;
      const send = (n: number) =>
        Promise.all(Array.from({ length: n }, () => publish(client, "streetlight/SPOOL-2/telemetry", JSON.stringify(reading(t0 + sent++ * 100)))));
      // more than the limit on disk, every batch stored before the next: the spool never fills
      while (t.app.wal.bytes() <= 1.5 * limit) {
        await send(500);
        await t.app.writer.waitFor(t.app.wal.lastSeq());
        expect(t.app.wal.unstoredBytes()).toBe(0);
      }
      // last, one store batch with a record for every store (a reading, a rejected message, a blender's batch event):
      // each store's checkpoint on disk is then the log's last record, and the next start has nothing to replay
      await Promise.all([
        send(1),
        publish(client, "streetlight/SPOOL-2/telemetry", "{not json"),
        publish(
          machine,
          "blender/SPOOL-BL/batch",
          JSON.stringify({ ts: t0, event: "started", batchId: "B-1", orderId: "O-1", targetKg: { urea: 1 } }),
        ),
      ]);
      await t.app.writer.waitFor(t.app.wal.lastSeq());
      const last = t.app.wal.lastSeq();
      client.end();
      machine.end();
      await t.app.stop();

      t = await startTestApp(env, dir.path);
      expect(t.app.writer.checkpoints()).toEqual({ telemetry: last, rejects: last, blending: last, control: last });
      expect(t.app.wal.unstoredBytes()).toBe(0);
      client = await connectDevice(t, creds);
      await send(200); // acknowledged, every one (a refusal closes the connection and rejects)
      await t.app.writer.waitFor(t.app.wal.lastSeq());
      expect(await t.app.telemetry.count({ deviceId: "SPOOL-2" })).toBe(sent);
      client.end();
    } finally {
      await t?.app.stop();
      dir.remove();
    }
  });
});
