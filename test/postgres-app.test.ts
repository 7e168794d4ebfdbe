import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectDevice, publish, registerLight, startTestApp, type TestApp, tempDir, waitUntil } from "../harness/helpers.js";
import { POSTGRES_BIN, type Postgres, serviceAvailable, startPostgres } from "../harness/services.js";
import { newPhysics, streetlightReading } from "../simulators/streetlight.js";
import { DEFAULT_PROFILE, localDate, nightOf } from "../src/streetlights/expectation.js";
import { serviceEnv } from "./process.js";

const run = serviceAvailable("PostgreSQL", POSTGRES_BIN, "apt-get install postgresql");

/** Issue 18: the whole service on PostgreSQL as its state store (AGRILUME_STATE_URL), through a restart. */
describe.skipIf(!run)("the service with its state in PostgreSQL", () => {
  let postgres: Postgres;
  const dir = tempDir();
  beforeAll(async () => {
    postgres = await startPostgres();
  });
  afterAll(async () => {
    await postgres.stop();
    postgres.remove();
    dir.remove();
  });

  it("registers devices, takes readings over MQTT, raises an alert, makes a key; after a restart it has them all", async () => {
    const url = await postgres.createDatabase("agrilume_app");
    const env = { AGRILUME_STATE_URL: url, AGRILUME_ALERT_GROUP_S: "1" };
    let t: TestApp = await startTestApp(env, dir.path);
    let alertId = "";
    let tech = "";
    try {
      const spec = { id: "PG-1", lat: 29.3512, lon: 105.9113, lampW: 30, panelWp: 120, batteryAh: 60, fault: "failed_lamp" as const };
      const creds = await registerLight(t, spec.id);
      await registerLight(t, "PG-2");
      const created = await t.api("/api/v1/keys", { method: "POST", body: JSON.stringify({ name: "王工", role: "technician", towns: ["来苏镇"] }) });
      expect(created.status).toBe(201);
      tech = ((await created.json()) as { key: string }).key;

      // last night, from an hour after dusk: the lamp draws nothing
      const client = await connectDevice(t, creds);
      const n = nightOf(localDate(Date.now() - 86_400_000), spec.lat, spec.lon, DEFAULT_PROFILE);
      const from = n.dusk + 3600_000;
      const physics = newPhysics(spec);
      for (let ts = from; ts <= from + 30 * 60_000; ts += 5 * 60_000)
        await publish(client, "streetlight/PG-1/telemetry", JSON.stringify(streetlightReading(spec, physics, ts, 300)));
      const alerts = async (tt: TestApp) =>
        (
          (await (await tt.api("/api/v1/alerts?state=open", { key: tech })).json()) as {
            alerts: { id: string; deviceId: string; type: string; state: string }[];
          }
        ).alerts;
      const [alert] = await waitUntil(async () => {
        const open = await alerts(t);
        return open.length > 0 && open;
      }, "the dark alert");
      expect(alert).toMatchObject({ deviceId: "PG-1", type: "dark", state: "firing" });
      alertId = alert?.id ?? "";
      const ack = await t.api(`/api/v1/alerts/${alertId}/ack`, { method: "POST", body: JSON.stringify({ comment: "在路上" }), key: tech });
      expect(ack.status).toBe(200);
      await t.app.writer.waitFor(t.app.wal.lastSeq());
      expect(await t.app.telemetry.count({ deviceId: "PG-1", measurement: "streetlight_telemetry" })).toBe(7);

      // It is all in PostgreSQL, and the data dir has no state database of its own.
      const pgRows = async (sql: string) => {
        const pg = await import("pg");
        const c = new pg.default.Client({ connectionString: url });
        await c.connect();
        try {
          return (await c.query(sql)).rows as Record<string, unknown>[];
        } finally {
          await c.end();
        }
      };
      expect((await pgRows("SELECT id FROM devices ORDER BY id")).map((r) => r.id)).toEqual(["PG-1", "PG-2"]);
      expect((await pgRows("SELECT name FROM api_keys WHERE revoked_at IS NULL ORDER BY created_at")).map((r) => r.name)).toContain("王工");
      // (the engine records an alert's change after answering: wait for the acknowledgement to be in)
      await waitUntil(
        async () => (await pgRows(`SELECT state FROM alerts WHERE id = '${alertId}'`))[0]?.state === "acknowledged",
        "the acknowledgement in PostgreSQL",
      );
      expect(existsSync(join(dir.path, "state.duckdb"))).toBe(false);
      // (the light's disconnection is a condition of its own: it resolves the dark alert and raises "offline")
      client.end();
    } finally {
      await t.app.stop();
    }

    t = await startTestApp(env, dir.path);
    try {
      expect((await t.api("/api/v1/devices/PG-1")).status).toBe(200);
      expect((await t.api("/api/v1/devices/PG-2")).status).toBe(200);
      // the key made before the restart still works, and the alert is there with its history
      const got = await t.api(`/api/v1/alerts/${alertId}`, { key: tech });
      expect(got.status).toBe(200);
      expect(await got.json()).toMatchObject({
        id: alertId,
        deviceId: "PG-1",
        type: "dark",
        history: [{ action: "fired" }, { action: "acknowledged", who: "王工" }],
      });
      expect(await t.app.telemetry.count({ deviceId: "PG-1", measurement: "streetlight_telemetry" })).toBe(7);
      expect((await t.api("/ready")).status).toBe(200);
    } finally {
      await t.app.stop();
    }
  });

  it("npm run backup with the state in PostgreSQL says the state is not in the backup, and how to back it up, without the password (found by a new user)", async () => {
    const url = new URL(await postgres.createDatabase("agrilume_backup"));
    url.password = "s3cret-pw"; // (the test's PostgreSQL trusts local connections, so any password works)
    expect(url.toString()).toContain(":s3cret-pw@");
    const data = tempDir();
    try {
      const t = await startTestApp({ AGRILUME_STATE_URL: url.toString() }, data.path);
      await t.stop();
      const res = spawnSync(process.execPath, ["--import", "tsx", join("src", "bin.ts"), "backup", join(data.path, "..", `${Date.now()}-bak`)], {
        env: serviceEnv(data.path, { AGRILUME_STATE_URL: url.toString() }),
        encoding: "utf8",
        timeout: 120_000,
      });
      expect(res.status, res.stderr).toBe(0);
      expect(res.stdout).toContain("PostgreSQL");
      expect(res.stdout).toContain("pg_dump");
      expect(res.stdout + res.stderr).not.toContain("s3cret-pw");
    } finally {
      data.remove();
    }
  });
});
