import { DuckDBInstance } from "@duckdb/node-api";
import { tempDir } from "../harness/helpers.js";
import { createDuckDbTelemetryStore } from "../src/storage/duckdb-telemetry.js";
import type { StoredReading } from "../src/storage/telemetry-store.js";
import { median, round } from "./load.js";

/**
 * Late data on the embedded store (issue 19): a store holding `rows` readings (2,500 lights every 5 minutes, in time
 * order as ingest writes them), then batches of 5,000 live readings, alternately alone and with one reading 13 days
 * old. The store's write time for each, median of `rounds`; the goal is late ≤ 2 × live. The rows are put in with SQL
 * (a 10 M-row store through the write path would take minutes); the batches go through the store's own `write`.
 */
export async function benchLateBatch(opts: { rows: number; rounds: number; progress: (label: string, n: number, total: number) => void }) {
  const dir = tempDir("agrilume-bench-late-");
  const lights = 2500;
  const steps = Math.ceil(opts.rows / lights);
  const t0 = Date.now() - (steps + 1) * 300_000;
  try {
    await (await createDuckDbTelemetryStore(dir.path)).close(); // the schema, then the rows put in beside the store
    const inst = await DuckDBInstance.create(`${dir.path}/telemetry.duckdb`);
    const c = await inst.connect();
    const chunk = 200;
    for (let s = 0; s < steps; s += chunk) {
      await c.run(
        // the readings below, as the store keeps them: typed (src/storage/duckdb-fields.ts)
        `INSERT INTO readings (measurement, device_id, ts, received_at, seq, town, village, station, pv_w, battery_soc, typed, rest)
         SELECT 'streetlight_telemetry', 'L' || d, make_timestamp_ms(${t0} + s * 300000), make_timestamp_ms(${t0} + s * 300000 + 200),
           s * ${lights} + d, '来苏镇', '梳妆台村', NULL, 0, 78, true, '{"pv":{},"battery":{}}'
         FROM range(${s}, ${Math.min(steps, s + chunk)}) r(s), range(${lights}) q(d) ORDER BY s, d`,
      );
      opts.progress("stored readings", Math.min(steps, s + chunk) * lights, steps * lights);
    }
    c.closeSync();
    inst.closeSync();
    const store = await createDuckDbTelemetryStore(dir.path);
    let seq = steps * lights;
    let now = t0 + steps * 300_000;
    const reading = (id: string, ts: number): StoredReading => ({
      seq: ++seq,
      measurement: "streetlight_telemetry",
      deviceId: id,
      ts,
      receivedAt: ts + 200,
      tags: { town: "来苏镇", village: "梳妆台村" },
      payload: { ts, pv: { w: 0 }, battery: { soc: 78 } },
    });
    const live = () => {
      now += 300_000;
      // 5,000 readings over 10 s, each at its own millisecond, as lights report
      return Array.from({ length: 5000 }, (_, i) => reading(`L${i % lights}`, now + i * 2));
    };
    const time = async (batch: StoredReading[]) => {
      const s = performance.now();
      await store.write(batch, seq);
      return performance.now() - s;
    };
    const liveMs: number[] = [];
    const lateMs: number[] = [];
    await time(live()); // warm
    for (let k = 0; k < opts.rounds; k++) {
      liveMs.push(await time(live()));
      lateMs.push(await time([...live(), reading("L7", now - 13 * 86_400_000 + 1)]));
      opts.progress("batches timed", k + 1, opts.rounds);
    }
    await store.close();
    return { rows: steps * lights, liveMs: round(median(liveMs)), lateMs: round(median(lateMs)), ratio: round(median(lateMs) / median(liveMs)) };
  } finally {
    dir.remove();
  }
}
