import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectDevice, publish, reading, registerLight, startTestApp, type TestApp, waitUntil } from "../harness/helpers.js";
import { INFLUXD, type Influx, serviceAvailable, startInflux } from "../harness/services.js";

const run = serviceAvailable("InfluxDB", INFLUXD, "apt-get install influxdb");

describe.skipIf(!run)("the service on InfluxDB, through an InfluxDB outage", () => {
  let influx: Influx;
  let t: TestApp;
  beforeAll(async () => {
    influx = await startInflux();
    t = await startTestApp({ AGRILUME_STORE: "influx", AGRILUME_INFLUX_URL: influx.url, AGRILUME_INFLUX_DATABASE: "outage" });
  });
  afterAll(async () => {
    await t.stop();
    await influx.stop();
    influx.remove();
  });

  it("sets up retention policies and the hourly rollup", async () => {
    const q = async (s: string) =>
      (
        (await (await fetch(`${influx.url}/query?db=outage&q=${encodeURIComponent(s)}`)).json()) as {
          results: { series?: { values: unknown[][] }[] }[];
        }
      ).results[0]?.series?.[0]?.values ?? [];
    expect((await q("SHOW RETENTION POLICIES")).map((v) => [v[0], v[1], v[4]])).toEqual(
      expect.arrayContaining([
        ["raw", "1440h0m0s", true],
        ["rollup", "17472h0m0s", false],
      ]),
    );
    expect(JSON.stringify(await q("SHOW CONTINUOUS QUERIES"))).toContain("agrilume_hourly");
  });

  it("keeps acknowledging while InfluxDB is down, spools to disk, and writes every reading exactly once when it is back", async () => {
    const creds = await registerLight(t, "OUT-1");
    const client = await connectDevice(t, creds);
    const t0 = Date.now() - 3600_000;
    const send = (from: number, n: number) =>
      Promise.all(
        Array.from({ length: n }, (_, i) => publish(client, "streetlight/OUT-1/telemetry", JSON.stringify(reading(t0 + (from + i) * 1000)))),
      );
    await send(0, 200);
    await t.app.writer.waitFor(t.app.wal.lastSeq());

    await influx.kill(); // in the middle of the run
    await send(200, 300); // every one of these is acknowledged: it is in the write-ahead log
    const metrics = async () => (await (await t.api("/metrics")).text()).split("\n");
    await waitUntil(async () => (await metrics()).some((l) => /^agrilume_store_write_errors_total [1-9]/.test(l)), "failed writes counted", 20_000);
    await waitUntil(async () => (await metrics()).some((l) => /^agrilume_spool_records [1-9]/.test(l)), "the spool counted", 20_000);
    expect((await t.api("/ready")).status).toBe(503);
    // a person asking for the light's readings meanwhile is told the store is away and to try again, not "internal error"
    for (const path of ["/api/v1/devices/OUT-1/telemetry", "/api/v1/devices/OUT-1/telemetry?every=hour"]) {
      const res = await t.api(path, { headers: { "accept-language": "zh" } });
      const text = await res.clone().text();
      expect(res.status, text).toBe(503);
      expect(res.headers.get("retry-after")).toBe("5");
      const body = (await res.json()) as { error: { code: string; message: string; params: { cause: string } } };
      expect(body.error.code).toBe("store_unavailable");
      expect(["ECONNREFUSED", "no_host"]).toContain(body.error.params.cause); // (the client marks the host down after its first refusal)
      expect(body.error.message).toContain("时序数据库（InfluxDB）暂时无法访问");
    }

    await influx.start();
    await send(500, 100);
    const count = () => t.app.telemetry.count({ deviceId: "OUT-1", measurement: "streetlight_telemetry" }).catch(() => -1); // -1: not answering yet
    await waitUntil(async () => (await count()) === 600, "all 600 readings in InfluxDB", 60_000);
    const rows = await t.app.telemetry.raw({ deviceId: "OUT-1", measurement: "streetlight_telemetry", from: t0, to: t0 + 600_000, limit: 10_000 });
    expect(new Set(rows.map((r) => r.ts)).size).toBe(600);
    await waitUntil(async () => (await metrics()).some((l) => l === "agrilume_spool_records 0"), "the spool drained", 20_000);
    client.end();
    // the service's own points for dashboards land in InfluxDB too (going offline is a condition change), in the
    // policy kept as long as the rollups
    const sql = `SELECT "condition", "online" FROM "rollup"."streetlight_condition" WHERE "device" = 'OUT-1'`;
    const points = async () =>
      (
        (await (await fetch(`${influx.url}/query?db=outage&q=${encodeURIComponent(sql)}`)).json()) as {
          results: { series?: { values: unknown[][] }[] }[];
        }
      ).results[0]?.series?.[0]?.values ?? [];
    await waitUntil(async () => (await points()).some((v) => v[1] === "offline"), "the light's offline point");
  });
});

describe.skipIf(!run)("the service starting while InfluxDB is down", () => {
  it("starts, acknowledges into the spool, and writes everything once InfluxDB answers", async () => {
    const influx = await startInflux();
    await influx.stop();
    const t = await startTestApp({ AGRILUME_STORE: "influx", AGRILUME_INFLUX_URL: influx.url, AGRILUME_INFLUX_DATABASE: "late" });
    try {
      expect((await t.api("/ready")).status).toBe(503);
      const creds = await registerLight(t, "LATE-1");
      const client = await connectDevice(t, creds);
      const t0 = Date.now() - 3600_000;
      await Promise.all(
        Array.from({ length: 100 }, (_, i) => publish(client, "streetlight/LATE-1/telemetry", JSON.stringify(reading(t0 + i * 1000)))),
      );
      await influx.start(); // the database, retention policies and rollup are set up now
      const count = () => t.app.telemetry.count({ deviceId: "LATE-1", measurement: "streetlight_telemetry" }).catch(() => -1);
      await waitUntil(async () => (await count()) === 100, "100 readings in InfluxDB", 60_000);
      await waitUntil(async () => (await t.api("/ready")).status === 200, "ready", 20_000);
      client.end();
    } finally {
      await t.stop();
      await influx.stop();
      influx.remove();
    }
  });
});
