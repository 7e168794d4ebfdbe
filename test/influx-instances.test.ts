import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectDevice, publish, reading, registerLight, startTestApp, type TestApp, tempDir, waitUntil } from "../harness/helpers.js";
import { INFLUXD, type Influx, serviceAvailable, startInflux } from "../harness/services.js";
import { createLogger } from "../src/platform/log.js";
import { createInfluxTelemetryStore } from "../src/storage/influx-telemetry.js";

const run = serviceAvailable("InfluxDB", INFLUXD, "apt-get install influxdb");

/**
 * Issue 18: two instances writing to one InfluxDB each keep their own write-ahead log, whose sequence numbers are
 * their own; with one shared checkpoint, the instance with the lower numbers skipped its own spooled readings on a
 * restart and deleted them. Each instance's checkpoint is its own now (AGRILUME_INSTANCE_ID, else an id kept in
 * the data dir).
 */
describe.skipIf(!run)("two instances on one InfluxDB", () => {
  let influx: Influx;
  const dirs = [tempDir(), tempDir()];
  const env = (db: string) => ({ AGRILUME_STORE: "influx", AGRILUME_INFLUX_URL: influx.url, AGRILUME_INFLUX_DATABASE: db });
  beforeAll(async () => {
    influx = await startInflux();
  });
  afterAll(async () => {
    await influx.stop();
    influx.remove();
    for (const d of dirs) d.remove();
  });

  const send = async (t: TestApp, creds: { id: string; secret: string }, t0: number, from: number, n: number) => {
    const client = await connectDevice(t, creds);
    for (let i = from; i < from + n; i += 250)
      await Promise.all(
        Array.from({ length: Math.min(250, from + n - i) }, (_, k) =>
          publish(client, `streetlight/${creds.id}/telemetry`, JSON.stringify(reading(t0 + (i + k) * 1000))),
        ),
      );
    client.end();
  };

  it("each keeps its own checkpoint: spooled readings of one survive the other writing a higher one", async () => {
    const [dirA, dirB] = dirs.map((d) => d.path) as [string, string];
    let a = await startTestApp(env("shared"), dirA);
    const b = await startTestApp(env("shared"), dirB);
    try {
      // (each instance has its own registry until the state store is shared)
      const credsA = await registerLight(a, "INST-A");
      const credsB = await registerLight(b, "INST-B");
      const t0 = Date.now() - 6 * 3600_000;
      await send(a, credsA, t0, 0, 50);
      await send(b, credsB, t0, 0, 50);
      await a.app.writer.waitFor(a.app.wal.lastSeq());
      await b.app.writer.waitFor(b.app.wal.lastSeq());

      await influx.kill();
      // Acknowledged into each instance's log: B's sequence numbers run past A's.
      await send(a, credsA, t0, 50, 1950);
      await send(b, credsB, t0, 50, 3950);
      expect(b.app.wal.lastSeq()).toBeGreaterThan(a.app.wal.lastSeq());
      await a.app.stop(); // A goes away with its readings spooled

      await influx.start();
      const count = (t: TestApp, id: string) => t.app.telemetry.count({ deviceId: id, measurement: "streetlight_telemetry" }).catch(() => -1);
      await waitUntil(async () => (await count(b, "INST-B")) === 4000, "B's 4,000 readings in InfluxDB", 60_000);

      a = await startTestApp(env("shared"), dirA); // same data dir: the same instance
      // (with one shared checkpoint A took B's as its own and never wrote its 1,950 spooled readings)
      await waitUntil(async () => (await count(a, "INST-A")) === 2000, "A's 2,000 readings in InfluxDB after its restart", 30_000);
      const rows = await a.app.telemetry.raw({
        deviceId: "INST-A",
        measurement: "streetlight_telemetry",
        from: t0,
        to: t0 + 3_000_000,
        limit: 10_000,
      });
      expect(new Set(rows.map((r) => r.ts)).size).toBe(2000);
      // The instance ids were derived and kept in the data dirs, and differ.
      const ids = [dirA, dirB].map((d) => readFileSync(join(d, "instance-id"), "utf8").trim());
      expect(ids[0]).not.toBe(ids[1]);
      expect(a.app.instanceId).toBe(ids[0]);
    } finally {
      await a.app.stop();
      await b.app.stop();
    }
  }, 180_000);

  it("AGRILUME_INSTANCE_ID names the instance; its checkpoint is read back under that name", async () => {
    const d = tempDir();
    const t = await startTestApp({ ...env("named"), AGRILUME_INSTANCE_ID: "district-a-1" }, d.path);
    try {
      expect(t.app.instanceId).toBe("district-a-1");
      const creds = await registerLight(t, "INST-N");
      await send(t, creds, Date.now() - 3600_000, 0, 20);
      await t.app.writer.waitFor(t.app.wal.lastSeq());
      const sql = `SELECT last("checkpoint") FROM "agrilume_meta" GROUP BY "instance"`;
      const res = (await (await fetch(`${influx.url}/query?db=named&q=${encodeURIComponent(sql)}`)).json()) as {
        results: { series?: { tags: Record<string, string>; values: unknown[][] }[] }[];
      };
      const series = res.results[0]?.series ?? [];
      expect(series.map((s) => s.tags.instance)).toEqual(["district-a-1"]);
      expect(series[0]?.values[0]?.[1]).toBe(t.app.wal.lastSeq());
    } finally {
      await t.app.stop();
      d.remove();
    }
  });
  it("an instance with no checkpoint of its own yet takes the untagged one written before instances were told apart", async () => {
    const open = async (instance: string) =>
      createInfluxTelemetryStore(
        { url: influx.url, database: "upgrade", setup: true, rawRetention: "60d", rollupRetention: "104w", instance },
        createLogger("silent"),
      );
    const first = await open("one");
    expect(await first.checkpoint()).toBe(0);
    // the checkpoint as the single-instance version wrote it: no instance tag
    const res = await fetch(`${influx.url}/write?db=upgrade&precision=ms`, { method: "POST", body: `agrilume_meta checkpoint=1234 ${Date.now()}` });
    expect(res.status).toBe(204);
    expect(await first.checkpoint()).toBe(1234);
    await first.write([], 1300);
    expect(await first.checkpoint()).toBe(1300);
    expect(await (await open("two")).checkpoint()).toBe(1234);
  });
});
