import type { ChildProcess } from "node:child_process";
import type { MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_KEY, connect, publish, reading, startTestApp, type TestApp, tempDir, waitUntil } from "../harness/helpers.js";
import {
  INFLUXD,
  type Influx,
  MOSQUITTO,
  MOSQUITTO_ACL,
  MOSQUITTO_SERVICE,
  type Mosquitto,
  POSTGRES_BIN,
  type Postgres,
  serviceAvailable,
  startInflux,
  startMosquitto,
  startPostgres,
} from "../harness/services.js";
import { type Running, serviceEnv, startService } from "./process.js";

const run =
  serviceAvailable("PostgreSQL", POSTGRES_BIN, "apt-get install postgresql") &&
  serviceAvailable("Mosquitto", MOSQUITTO, "apt-get install mosquitto") &&
  serviceAvailable("InfluxDB", INFLUXD, "apt-get install influxdb");

type Instance = { name: string; dir: ReturnType<typeof tempDir>; p: Running };
type Ready = { status: number; ingest?: "active" | "standby"; checks?: Record<string, boolean> };

/**
 * Issue 18, item 3: active/standby ingest (AGRILUME_INGEST_FAILOVER=lease, docs/DEPLOYMENT.md). Two instances of the
 * real service, as processes, on one PostgreSQL, one Mosquitto configured as a site runs it (persistence, the ACL) and
 * one InfluxDB; each instance with its own data directory (its write-ahead log). The holder of the ingest lease takes
 * every reading through the one persistent session; when it is killed, the other takes the lease and the session.
 */
describe.skipIf(!run)("active/standby ingest: two instances, one broker session", () => {
  let postgres: Postgres;
  let broker: Mosquitto;
  let influx: Influx;
  let stateUrl: string;
  const started: ChildProcess[] = [];
  const instances: Record<"a" | "b", Instance> = {} as Record<"a" | "b", Instance>;
  let devices: { id: string; secret: string }[] = [];

  const env = (name: string) =>
    serviceEnv(instances[name as "a" | "b"]?.dir.path ?? "", {
      AGRILUME_INSTANCE_ID: `district-${name}`,
      AGRILUME_STATE_URL: stateUrl,
      AGRILUME_STORE: "influx",
      AGRILUME_INFLUX_URL: influx.url,
      AGRILUME_INFLUX_DATABASE: "district",
      AGRILUME_MQTT_URL: broker.url,
      AGRILUME_MQTT_CLIENT_ID: "agrilume-district",
      AGRILUME_MQTT_USERNAME: MOSQUITTO_SERVICE.username,
      AGRILUME_MQTT_PASSWORD: MOSQUITTO_SERVICE.password,
      AGRILUME_INGEST_FAILOVER: "lease",
      AGRILUME_LOG_LEVEL: "info",
    });
  const start = async (name: "a" | "b") => {
    instances[name] ??= { name, dir: tempDir(), p: undefined as unknown as Running };
    instances[name].p = await startService(process.execPath, ["--import", "tsx", "src/bin.ts"], {
      cwd: process.cwd(),
      env: env(name),
      started,
      readyMs: 60_000,
    });
    return instances[name];
  };
  const api = (i: Instance, path: string, init: RequestInit = {}) =>
    fetch(`http://127.0.0.1:${i.p.ports.http}${path}`, { ...init, headers: { authorization: `Bearer ${ADMIN_KEY}`, ...init.headers } });
  const ready = async (i: Instance): Promise<Ready> => {
    const res = await api(i, "/ready").catch(() => null);
    if (!res) return { status: 0 };
    return { status: res.status, ...((await res.json()) as Omit<Ready, "status">) };
  };
  const accepted = async (i: Instance) =>
    Number(/^agrilume_messages_accepted_total\{[^}]*\} (\d+)/m.exec(await (await api(i, "/metrics")).text())?.[1] ?? 0);
  /** The readings stored for a device since `from`, read through an instance's API (from the shared InfluxDB). */
  const stored = async (i: Instance, id: string, from: number) => {
    const res = await api(i, `/api/v1/devices/${id}/telemetry?from=${new Date(from - 1).toISOString()}&limit=10000`);
    return ((await res.json()) as { readings: { ts: string }[] }).readings;
  };

  /**
   * Each device publishes `perDevice` readings at QoS 1, ten in flight, from `t0` a second apart; `acked` counts the
   * broker's PUBACKs. (The broker acknowledges a device; the service's session holds the reading from then on.)
   */
  const stream = (ids: { id: string; secret: string }[], perDevice: number, t0: number) => {
    const count = { acked: 0 };
    const done = Promise.all(
      ids.map(async ({ id, secret }) => {
        const connected = () =>
          waitUntil(() => connect(broker.url, { clientId: id, username: id, password: secret }).catch(() => false as const), `${id} let in`);
        let d: MqttClient = await connected();
        // Ten at a time; a reading whose PUBACK did not come (the connection lost) is sent again, as a controller does.
        for (let from = 0; from < perDevice; from += 10) {
          let todo = Array.from({ length: Math.min(10, perDevice - from) }, (_, k) => from + k);
          while (todo.length > 0) {
            const c = d;
            const results = await Promise.allSettled(
              todo.map((i) => publish(c, `streetlight/${id}/telemetry`, JSON.stringify(reading(t0 + i * 1000)))),
            );
            count.acked += results.filter((r) => r.status === "fulfilled").length;
            todo = todo.filter((_, k) => results[k]?.status === "rejected");
            if (todo.length > 0) {
              c.end(true);
              d = await connected();
            }
          }
        }
        d.end();
      }),
    );
    return { count, done };
  };

  beforeAll(async () => {
    [postgres, broker, influx] = await Promise.all([startPostgres(), startMosquitto(), startInflux()]);
    stateUrl = await postgres.createDatabase("district");
    // A first, so that it is the active one; B starts once A has the lease.
    const a = await start("a");
    await waitUntil(async () => (await ready(a)).ingest === "active", "A to take the ingest lease", 30_000);
    const b = await start("b");
    await waitUntil(
      async () => {
        const r = await ready(b);
        return r.status === 200 && r.ingest === "standby";
      },
      "B ready as the standby",
      30_000,
    );
    const ids = Array.from({ length: 50 }, (_, i) => `HA-${i + 1}`);
    const csv = ["id,family,town,lat,lon", ...ids.map((id) => `${id},streetlight,来苏镇,29.35,105.91`)].join("\n");
    const res = await api(a, "/api/v1/devices/import", { method: "POST", body: csv, headers: { "content-type": "text/csv" } });
    devices = ((await res.json()) as { devices: { id: string; secret: string }[] }).devices;
    expect(devices).toHaveLength(50);
    broker.setUsers({ ...Object.fromEntries(devices.map((d) => [d.id, d.secret])), GHOST: "ghost-secret-0123" });
    broker.reload();
  }, 180_000);
  afterAll(async () => {
    // What the instances said about the lease (for a failure's diagnosis).
    for (const i of Object.values(instances))
      for (const line of `${i.p?.stdout() ?? ""}\n${i.p?.stderr() ?? ""}`.split("\n").filter((l) => /lease|standing by/.test(l)))
        console.log(`[failover] ${i.name}: ${line.slice(0, 300)}`);
    for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    await Promise.all([postgres?.stop(), broker?.stop(), influx?.stop()]);
    postgres?.remove();
    influx?.remove();
    for (const i of Object.values(instances)) i.dir.remove();
  });

  it("one instance is active, the other stands by; /ready says which, and both serve the API", async () => {
    const [a, b] = [instances.a, instances.b];
    expect(await ready(a)).toMatchObject({ status: 200, ingest: "active", checks: { broker: true } });
    expect(await ready(b)).toMatchObject({ status: 200, ingest: "standby", checks: { broker: true } });
    // The devices imported on A are B's too (a key made on A working on B: test/postgres-instances.test.ts).
    await waitUntil(async () => (await api(b, "/api/v1/devices/HA-50")).status === 200, "B to know the devices imported on A");
    // A key made on A, and how long B took to take it (measured, not asserted: the machine is shared).
    const made = await api(a, "/api/v1/keys", {
      method: "POST",
      body: JSON.stringify({ name: "王工", role: "technician", towns: ["来苏镇"] }),
      headers: { "content-type": "application/json" },
    });
    expect(made.status).toBe(201);
    const { key } = (await made.json()) as { key: string };
    const t0 = Date.now();
    await waitUntil(
      async () => (await api(b, "/api/v1/alerts", { headers: { authorization: `Bearer ${key}` } })).status === 200,
      "B to take A's key",
    );
    console.log(`[failover] a key made on A worked on B after ${Date.now() - t0} ms`);
  });

  it("SIGKILL of the active instance mid-stream: B takes over the session; stored = acknowledged, exactly once", async () => {
    const a = instances.a;
    const b = instances.b;
    const perDevice = 400;
    const t0 = Date.now() - 6 * 3_600_000;
    const s = stream(devices, perDevice, t0);
    await waitUntil(async () => (await accepted(a)) >= 4000, "A taking readings", 60_000);
    const before = await accepted(b);
    expect(before).toBe(0); // the standby took nothing
    const killedAt = Date.now();
    a.p.child.kill("SIGKILL");
    expect(await a.p.exited).toBe(null);
    await waitUntil(async () => (await ready(b)).ingest === "active", "B to take the ingest lease", 30_000);
    const leaseMs = Date.now() - killedAt;
    await waitUntil(async () => (await accepted(b)) > 0, "B taking readings", 30_000);
    const flowingMs = Date.now() - killedAt;
    console.log(`[failover] takeover after SIGKILL: lease taken by B in ${leaseMs} ms, B storing readings after ${flowingMs} ms`);
    await s.done;
    expect(s.count.acked).toBe(50 * perDevice);

    // Before A is back: everything the broker acknowledged is stored, but for what A had logged and acknowledged and
    // not yet written to InfluxDB (its own log's tail, which only A holds).
    const settled = async () => {
      let n = 0;
      for (const { id } of devices) n += new Set((await stored(b, id, t0)).map((r) => r.ts)).size;
      return n;
    };
    let storedBefore = -1;
    await waitUntil(
      async () => {
        const n = await settled();
        const same = n === storedBefore;
        storedBefore = n;
        return same;
      },
      "B's stores to settle",
      120_000,
    );
    // A back, as a standby: it writes its log's tail into the store, and says how many records it read back.
    const back = await start("a");
    const replayed = Number(/"replayed":(\d+)/.exec(back.p.stdout() + back.p.stderr())?.[1] ?? 0);
    console.log(`[failover] stored before A was back: ${storedBefore} of ${s.count.acked}; A read ${replayed} records back from its log`);
    expect((await ready(back)).ingest).toBe("standby");
    for (const { id } of devices) {
      const readings = await waitUntil(
        async () => {
          const r = await stored(b, id, t0);
          return r.length >= perDevice && r;
        },
        `${id}: every acknowledged reading stored`,
        60_000,
      );
      expect(readings).toHaveLength(perDevice);
      expect(new Set(readings.map((r) => r.ts)).size).toBe(perDevice);
    }
    // Nothing waited at the broker for A: back, it took no reading from the broker (what it added came from its own
    // log). With a shared subscription the broker would have kept A's share in A's session until now.
    expect(await accepted(back)).toBe(0);
  }, 600_000);

  it("PostgreSQL restarted mid-stream: ingest stops while the lease cannot be held, resumes after; nothing acknowledged is lost", async () => {
    const perDevice = 200;
    const t0 = Date.now() - 3 * 3_600_000;
    const active = (await ready(instances.b)).ingest === "active" ? instances.b : instances.a;
    const s = stream(devices, perDevice, t0);
    // An unregistered device too: its messages are rejects, recorded in the state store (through the log).
    const ghost = stream([{ id: "GHOST", secret: "ghost-secret-0123" }], 300, t0);
    const from = await accepted(active);
    await waitUntil(async () => (await accepted(active)) >= from + 2000, "the stream under way", 60_000);
    await postgres.stop();
    // While PostgreSQL is down nobody holds the lease: neither instance takes readings (the broker keeps them).
    await waitUntil(async () => (await ready(active)).ingest === "standby", "the active one to let go of the broker", 15_000);
    await new Promise((r) => setTimeout(r, 3000));
    await postgres.start();
    // One of the two takes the lease again; the other stands by.
    const roles = await waitUntil(
      async () => {
        const [ra, rb] = [await ready(instances.a), await ready(instances.b)];
        const both = [ra.ingest, rb.ingest].sort().join(",");
        return ra.status === 200 && rb.status === 200 && both === "active,standby" && { a: ra.ingest, b: rb.ingest };
      },
      "one active and one standby again, both ready",
      60_000,
    );
    console.log(`[failover] after PostgreSQL's restart: A ${roles.a}, B ${roles.b} (active before: ${active.name})`);
    await Promise.all([s.done, ghost.done]);
    expect(s.count.acked).toBe(50 * perDevice);
    expect(ghost.count.acked).toBe(300);
    const reader = roles.a === "active" ? instances.a : instances.b;
    for (const { id } of devices) {
      const readings = await waitUntil(
        async () => {
          const r = await stored(reader, id, t0);
          return r.length >= perDevice && r;
        },
        `${id}: every acknowledged reading stored`,
        60_000,
      );
      expect(readings).toHaveLength(perDevice);
      expect(new Set(readings.map((r) => r.ts)).size).toBe(perDevice);
    }
    // Every message of the unknown device is recorded as a reject in PostgreSQL, whichever instance took it (one that
    // an instance logged but could not acknowledge before it let go comes again, and may be counted twice).
    await waitUntil(
      async () => {
        let n = 0;
        for (const i of [instances.a, instances.b]) {
          const r = (await (await api(i, "/api/v1/rejects/unregistered")).json()) as { counts: Record<string, number> };
          n = Math.max(n, r.counts.unknown_device ?? 0);
        }
        return n >= 300;
      },
      "300 unknown_device rejects recorded",
      60_000,
    );
  }, 600_000);
});

/**
 * The lease and its fencing, in process: the instances' parts can be watched (the external source's connection, the
 * lease's PostgreSQL session) where the processes above can only be asked over HTTP.
 */
describe.skipIf(!run)("active/standby ingest: fencing and a standby's messages", () => {
  let postgres: Postgres;
  let broker: Mosquitto;
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    [postgres, broker] = await Promise.all([startPostgres(), startMosquitto()]);
    // A display's account that may read what the service publishes.
    broker.setUsers({ DISPLAY: "display-secret-0123" });
    broker.setAcl(`${MOSQUITTO_ACL}\nuser DISPLAY\ntopic read alerts/#\ntopic read stations/#`);
    broker.reload();
    const url = await postgres.createDatabase("fencing");
    const env = (name: string) => ({
      AGRILUME_INSTANCE_ID: name,
      AGRILUME_STATE_URL: url,
      AGRILUME_MQTT_URL: broker.url,
      AGRILUME_MQTT_CLIENT_ID: "agrilume-fencing",
      AGRILUME_MQTT_USERNAME: MOSQUITTO_SERVICE.username,
      AGRILUME_MQTT_PASSWORD: MOSQUITTO_SERVICE.password,
      AGRILUME_INGEST_FAILOVER: "lease",
    });
    a = await startTestApp(env("fence-a"));
    await waitUntil(() => a.app.failover?.role() === "active" && a.app.external?.isReady(), "A active and subscribed");
    b = await startTestApp(env("fence-b"));
    await waitUntil(() => b.app.failover?.lease() === "waiting", "B waiting for the lease");
  }, 120_000);
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await Promise.all([postgres?.stop(), broker?.stop()]);
    postgres?.remove();
  });

  it("subscribes plainly, not through a shared group, and only the holder is connected", () => {
    expect(a.app.external?.filters).toContain("streetlight/+/telemetry");
    expect(a.app.external?.filters.some((f) => f.startsWith("$share/"))).toBe(false);
    expect(b.app.failover?.role()).toBe("standby");
    expect(b.app.external?.isConnected()).toBe(false);
  });

  it("what a standby publishes reaches the broker through the active instance", async () => {
    const display = await waitUntil(
      () => connect(broker.url, { clientId: "DISPLAY", username: "DISPLAY", password: "display-secret-0123" }).catch(() => false as const),
      "the display let in",
    );
    const seen: string[] = [];
    display.on("message", (topic, payload) => seen.push(`${topic} ${payload.toString()}`));
    await display.subscribeAsync("stations/#", { qos: 1 });
    await b.app.failover?.publish("stations/S1/orders/O-1/progress", Buffer.from('{"pct":40}'), false);
    await waitUntil(() => seen.includes('stations/S1/orders/O-1/progress {"pct":40}'), "the standby's message delivered");
    display.end();
  });

  it("the holder's lease session terminated: it drops the broker at once, and the standby takes the lease and the session", async () => {
    const terminated = await postgres.query<{ ok: boolean }>(
      "SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = 'agrilume ingest lease fence-a'",
    );
    expect(terminated).toEqual([{ ok: true }]);
    await waitUntil(() => b.app.failover?.role() === "active" && b.app.external?.isReady(), "B active and subscribed");
    // A fenced itself: not connected, standing by (not fighting B for the client id).
    expect(a.app.failover?.role()).toBe("standby");
    expect(a.app.external?.isConnected()).toBe(false);
    await waitUntil(() => a.app.failover?.lease() === "waiting", "A waiting for the lease again");
    await new Promise((r) => setTimeout(r, 2000));
    expect(b.app.external?.isConnected()).toBe(true);
    expect(a.app.external?.isConnected()).toBe(false);
    expect((await (await a.api("/ready")).json()) as unknown).toMatchObject({ ready: true, ingest: "standby" });
    expect((await (await b.api("/ready")).json()) as unknown).toMatchObject({ ready: true, ingest: "active" });
  });

  it("a clean stop of the active instance hands the lease over", async () => {
    await b.stop();
    await waitUntil(() => a.app.failover?.role() === "active" && a.app.external?.isReady(), "A active again", 20_000);
  });
});
