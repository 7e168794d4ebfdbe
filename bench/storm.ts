import mqtt from "mqtt";
import { topics } from "../devices/index.js";
import { reading, startTestApp } from "../harness/helpers.js";
import { planDistrict } from "../simulators/district.js";
import { round } from "./load.js";

/**
 * Every light connects (with its own credentials: a slow hash each, unless cached) and reports once, all at once. A
 * CONNECT refused as server unavailable (more slow checks waiting than the service takes at once: issue 16, V8) is
 * retried after a random 0.2–1 s, as a device does; how many were refused is reported.
 */
export async function duskStorm(lights: number, progress: (label: string, n: number, total: number) => void) {
  const app = await startTestApp({ AGRILUME_STORE_FLUSH_MS: "100" });
  const devices: { id: string; secret: string }[] = [];
  // Where DOMAIN.md's district puts them (as the district simulator does), each reporting its own position.
  const plan = planDistrict({ lights, faultCounts: {} });
  const gpsOf = new Map(plan.map((l) => [l.id, { lat: l.lat, lon: l.lon, accM: 3 }]));
  for (let i = 0; i < lights; i += 1000) {
    const csv = [
      "id,family,town,village,lat,lon",
      ...plan.slice(i, i + 1000).map((l) => `${l.id},streetlight,${l.town},${l.village},${l.lat},${l.lon}`),
    ].join("\n");
    const res = (await (await app.api("/api/v1/devices/import", { method: "POST", body: csv, headers: { "content-type": "text/csv" } })).json()) as {
      devices: { id: string; secret: string }[];
    };
    devices.push(...res.devices);
    progress("registered", devices.length, lights);
  }
  const url = app.started.mqttUrl ?? "";
  const start = performance.now();
  let acked = 0;
  let refused = 0;
  const connectRetrying = async (d: { id: string; secret: string }): Promise<mqtt.MqttClient> => {
    for (;;) {
      const c = mqtt.connect(url, { clientId: d.id, username: d.id, password: d.secret, reconnectPeriod: 0, connectTimeout: 60_000 });
      // a connection reset or refused is retried, as a device retries (it is counted); one later on a live client is ignored
      const ok = await new Promise<boolean>((resolve) => {
        c.once("connect", () => resolve(true));
        c.on("error", () => resolve(false));
        c.once("close", () => resolve(false));
      });
      if (ok) return c;
      c.end(true);
      refused++;
      await new Promise((r) => setTimeout(r, 200 + Math.random() * 800));
    }
  };
  let resent = 0;
  const clients = await Promise.all(
    devices.map(async (d) => {
      const payload = JSON.stringify(reading(Date.now() - 1000, { gps: gpsOf.get(d.id) }));
      // A device whose connection drops before its PUBACK connects again and sends the same reading (stored once).
      for (;;) {
        const c = await connectRetrying(d);
        const acknowledged = await Promise.race([
          c.publishAsync(topics.uplink("streetlight", d.id, "telemetry"), payload, { qos: 1 }).then(
            () => true,
            () => false,
          ),
          new Promise<boolean>((r) => {
            c.once("close", () => r(false));
            setTimeout(() => r(false), 30_000).unref();
          }),
        ]);
        if (acknowledged) {
          if (++acked % 100 === 0) progress("connected and reported", acked, lights);
          return c;
        }
        resent++;
        c.end(true);
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  await app.app.writer.waitFor(app.app.wal.lastSeq());
  const stored = await app.app.telemetry.count({ measurement: "streetlight_telemetry" });
  for (const c of clients) c.end(true);
  await app.stop();
  return {
    lights,
    seconds: round(seconds),
    connectPerSec: Math.round(lights / seconds),
    refusedConnects: refused,
    resent,
    acked,
    stored,
    lost: acked - stored,
  };
}
