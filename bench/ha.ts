import { ADMIN_KEY, connect, publish, reading, tempDir } from "../harness/helpers.js";
import { MOSQUITTO_SERVICE, type ServiceProcess, startInflux, startMosquitto, startPostgres, startServiceProcess } from "../harness/services.js";
import { pctile, round } from "./load.js";

export type HaResult = {
  devices: number;
  readings: number;
  /** Readings a second through the active instance: from the first publish until it has taken them all (its log holds them). */
  rate: number;
  /** Per SIGKILL of the active instance: ms until the standby held the lease, and until it took a reading. */
  takeovers: { leaseMs: number; readingsMs: number }[];
  leaseMs: { median: number; max: number };
  readingsMs: { median: number; max: number };
};

/**
 * Two instances of the service (real processes) on active/standby ingest behind one Mosquitto, one PostgreSQL and one
 * InfluxDB, as docs/DEPLOYMENT.md's HA district: the throughput of the active instance, then `kills` times a SIGKILL of
 * whichever is active during a steady stream, and how long the other took to hold the lease and to take readings
 * again (the killed one is started again, as a standby, before the next round).
 */
export async function benchHa(opts: { readings: number; kills: number; say: (s: string) => void }): Promise<HaResult> {
  const [postgres, broker, influx] = await Promise.all([startPostgres(), startMosquitto(), startInflux()]);
  const dirs = { a: tempDir(), b: tempDir() };
  const procs: Partial<Record<"a" | "b", ServiceProcess>> = {};
  const devicesN = 50;
  try {
    const stateUrl = await postgres.createDatabase("bench_ha");
    const env = (name: "a" | "b") => ({
      AGRILUME_INSTANCE_ID: `bench-${name}`,
      AGRILUME_STATE_URL: stateUrl,
      AGRILUME_STORE: "influx",
      AGRILUME_INFLUX_URL: influx.url,
      AGRILUME_INFLUX_DATABASE: "bench_ha",
      AGRILUME_MQTT_URL: broker.url,
      AGRILUME_MQTT_CLIENT_ID: "agrilume-bench-ha",
      AGRILUME_MQTT_USERNAME: MOSQUITTO_SERVICE.username,
      AGRILUME_MQTT_PASSWORD: MOSQUITTO_SERVICE.password,
      AGRILUME_INGEST_FAILOVER: "lease",
    });
    const start = async (name: "a" | "b") => {
      procs[name] = await startServiceProcess(dirs[name].path, env(name));
      return procs[name];
    };
    const api = (p: ServiceProcess, path: string, init: RequestInit = {}) =>
      fetch(`http://127.0.0.1:${p.http}${path}`, { ...init, headers: { authorization: `Bearer ${ADMIN_KEY}`, ...init.headers } });
    const role = async (p: ServiceProcess | undefined) =>
      p ? ((await (await api(p, "/ready").catch(() => null))?.json().catch(() => null)) as { ingest?: string } | null)?.ingest : undefined;
    const accepted = async (p: ServiceProcess) =>
      Number(/^agrilume_messages_accepted_total\{[^}]*\} (\d+)/m.exec(await (await api(p, "/metrics")).text())?.[1] ?? 0);
    /** Polls every `everyMs` (20 ms: a takeover's moment; the throughput's end is polled less often, scraping costs the service). */
    const until = async (fn: () => Promise<boolean>, what: string, ms = 60_000, everyMs = 20) => {
      const deadline = Date.now() + ms;
      while (!(await fn())) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, everyMs));
      }
    };

    const a = await start("a");
    await until(async () => (await role(a)) === "active", "A active");
    const b = await start("b");
    await until(async () => (await role(b)) === "standby", "B standing by");
    const csv = ["id,family,town,lat,lon", ...Array.from({ length: devicesN }, (_, i) => `BH-${i + 1},streetlight,来苏镇,29.35,105.91`)].join("\n");
    const imported = (await (
      await api(a, "/api/v1/devices/import", { method: "POST", body: csv, headers: { "content-type": "text/csv" } })
    ).json()) as {
      devices: { id: string; secret: string }[];
    };
    broker.setUsers(Object.fromEntries(imported.devices.map((d) => [d.id, d.secret])));
    broker.reload();
    await new Promise((r) => setTimeout(r, 500));
    const clients = await Promise.all(imported.devices.map((d) => connect(broker.url, { clientId: d.id, username: d.id, password: d.secret })));

    // 1. Throughput through the active instance: every device ten in flight, until the instance has taken them all.
    opts.say(`  throughput: ${opts.readings.toLocaleString()} readings from ${devicesN} devices through the active instance\n`);
    const per = Math.ceil(opts.readings / devicesN);
    const t0 = Date.now() - 12 * 3_600_000;
    const base = await accepted(a);
    const began = performance.now();
    await Promise.all(
      clients.map(async (c, k) => {
        const id = imported.devices[k]?.id ?? "";
        for (let i = 0; i < per; i += 10)
          await Promise.all(
            Array.from({ length: Math.min(10, per - i) }, (_, j) =>
              publish(c, `streetlight/${id}/telemetry`, JSON.stringify(reading(t0 + (i + j) * 1000))),
            ),
          );
      }),
    );
    await until(async () => (await accepted(a)) - base >= per * devicesN, "the active instance to take every reading", 300_000, 250);
    const rate = round((per * devicesN) / ((performance.now() - began) / 1000));

    // 2. Takeovers: a steady stream (each device a reading every 100 ms), the active instance killed.
    const takeovers: HaResult["takeovers"] = [];
    let streaming = true;
    let next = t0 + per * 1000;
    const steady = Promise.all(
      clients.map(async (c, k) => {
        const id = imported.devices[k]?.id ?? "";
        while (streaming) {
          const ts = next++;
          await publish(c, `streetlight/${id}/telemetry`, JSON.stringify(reading(ts))).catch(() => undefined);
          await new Promise((r) => setTimeout(r, 100));
        }
      }),
    );
    for (let round_ = 0; round_ < opts.kills; round_++) {
      const activeName = (await role(procs.a)) === "active" ? "a" : "b";
      const standbyName = activeName === "a" ? "b" : "a";
      const active = procs[activeName] as ServiceProcess;
      const standby = procs[standbyName] as ServiceProcess;
      await new Promise((r) => setTimeout(r, 2000));
      const before = await accepted(standby);
      const killed = performance.now();
      active.child.kill("SIGKILL");
      await until(async () => (await role(standby)) === "active", "the standby to take the lease", 60_000);
      const leaseMs = Math.round(performance.now() - killed);
      await until(async () => (await accepted(standby)) > before, "the new active instance to take readings", 60_000);
      const readingsMs = Math.round(performance.now() - killed);
      takeovers.push({ leaseMs, readingsMs });
      opts.say(`  takeover ${round_ + 1}/${opts.kills}: lease in ${leaseMs} ms, readings in ${readingsMs} ms\n`);
      await active.exited;
      const back = await start(activeName);
      await until(async () => (await role(back)) === "standby", "the killed instance back as a standby");
    }
    streaming = false;
    await steady;
    for (const c of clients) c.end(true);
    const stat = (xs: number[]) => ({ median: pctile(xs, 0.5), max: Math.max(...xs) });
    return {
      devices: devicesN,
      readings: per * devicesN,
      rate,
      takeovers,
      leaseMs: stat(takeovers.map((t) => t.leaseMs)),
      readingsMs: stat(takeovers.map((t) => t.readingsMs)),
    };
  } finally {
    for (const p of Object.values(procs)) if (p && p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGKILL");
    await Promise.all([postgres.stop(), broker.stop(), influx.stop()]);
    postgres.remove();
    influx.remove();
    dirs.a.remove();
    dirs.b.remove();
  }
}
