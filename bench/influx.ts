import { numericFields } from "../devices/index.js";
import { reading } from "../harness/helpers.js";
import type { Influx } from "../harness/services.js";
import { createLogger } from "../src/platform/log.js";
import { createInfluxTelemetryStore } from "../src/storage/influx-telemetry.js";
import type { StoredReading } from "../src/storage/telemetry-store.js";
import { round } from "./load.js";

/** The store's write path (batches of 5,000 StoredReadings, with its checkpoint) against raw line protocol of the same points. */
export async function benchInflux(influx: Influx, n: number, progress: (label: string, n: number, total: number) => void) {
  const store = await createInfluxTelemetryStore(
    { url: influx.url, database: "bench_store", setup: true, rawRetention: "60d", rollupRetention: "104w", instance: "bench" },
    createLogger("silent"),
  );
  const t0 = Date.now() - 86_400_000;
  const readings: StoredReading[] = Array.from({ length: n }, (_, i) => {
    const payload = reading(t0 + i * 10) as unknown as Record<string, unknown>;
    return {
      seq: i + 1,
      measurement: "streetlight_telemetry",
      deviceId: `L${i % 1000}`,
      ts: t0 + i * 10,
      receivedAt: t0 + i * 10,
      tags: { town: "来苏镇", village: "梳妆台村" },
      payload,
    };
  });
  const B = 5000;
  await fetch(`${influx.url}/query?q=${encodeURIComponent("CREATE DATABASE bench_raw")}`, { method: "POST" });
  const esc = (s: string) => s.replace(/[ ,=]/g, (c) => `\\${c}`);
  const line = (r: StoredReading) =>
    `${r.measurement},device=${r.deviceId},family=streetlight,town=${esc(r.tags.town ?? "")},village=${esc(r.tags.village ?? "")} ${Object.entries(
      numericFields(r.payload),
    )
      .map(([k, v]) => `${esc(k)}=${v}`)
      .join(",")},payload="${JSON.stringify(r.payload).replace(/"/g, '\\"')}",receivedAt=${r.receivedAt} ${r.ts}`;
  // The two paths batch by batch in turn, each timed on its own, so both meet the same influxd (run one after the
  // other, the first met a cold one: its first shards, WAL and cache) and the same load on the machine.
  let storeMs = 0;
  let rawMs = 0;
  for (let i = 0; i < n; i += B) {
    const batch = readings.slice(i, i + B);
    let start = performance.now();
    await store.write(batch, i + B);
    storeMs += performance.now() - start;
    start = performance.now();
    const res = await fetch(`${influx.url}/write?db=bench_raw&precision=ms`, { method: "POST", body: batch.map(line).join("\n") });
    if (res.status !== 204) throw new Error(`raw write: ${res.status} ${await res.text()}`);
    rawMs += performance.now() - start;
    progress("store path and raw line protocol, in turn", Math.min(i + B, n), n);
  }
  const storeRate = Math.round(n / (storeMs / 1000));
  const rawRate = Math.round(n / (rawMs / 1000));
  await influx.stop();
  influx.remove();
  return { points: n, storeRate, rawRate, ratio: round(storeRate / rawRate) };
}
