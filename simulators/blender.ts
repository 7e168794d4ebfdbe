import { topics } from "../devices/index.js";
import type { Credentials } from "./api.js";
import { connectDevice } from "./streetlight.js";

/**
 * A blending machine, first cut: 1 t batches of 15-15-15 from urea, MAP, KCl and filler
 * (DOMAIN.md §3 worked figures: 257 / 288.5 / 250 / 204.5 kg), each taking `batchMs`, 20 bags of
 * 50 kg, hoppers emptying as it goes and refilled when low.
 */
const RECIPE: Record<string, number> = { urea: 257, map: 288.5, kcl: 250, filler: 204.5 };

export async function runBlender(
  mqttUrl: string,
  creds: Credentials,
  opts: { orderId: string; batchMs: number; telemetryMs: number },
  signal: AbortSignal,
) {
  const client = await connectDevice(mqttUrl, "blender", creds, "sim-1.0");
  const hopperKg: Record<string, number> = { urea: 3000, map: 3000, kcl: 3000, filler: 3000 };
  let bagsTotal = 0;
  let batchNo = 0;
  let state: "idle" | "running" = "idle";
  let scaleKg = 0;
  const pub = (kind: "telemetry" | "batch", body: unknown) =>
    client.publish(topics.uplink("blender", creds.id, kind), JSON.stringify(body), { qos: 1 });

  const telemetry = setInterval(() => {
    pub("telemetry", {
      ts: Date.now(),
      state,
      hopperKg: roundAll(hopperKg),
      scaleKg: Math.round(scaleKg * 10) / 10,
      mixerA: state === "running" ? 18 + Math.random() * 4 : 0.2,
      bagsTotal,
    });
  }, opts.telemetryMs);

  const batch = () => {
    batchNo++;
    const batchId = `${opts.orderId}-B${String(batchNo).padStart(4, "0")}`;
    state = "running";
    pub("batch", { ts: Date.now(), event: "started", batchId, orderId: opts.orderId, targetKg: RECIPE });
    const actualKg: Record<string, number> = {};
    for (const [m, kg] of Object.entries(RECIPE)) {
      actualKg[m] = Math.round(kg * (1 + (Math.random() - 0.5) * 0.008) * 10) / 10; // ±0.4 %: the belt scale's claimed accuracy
      hopperKg[m] = Math.max(0, (hopperKg[m] ?? 0) - (actualKg[m] ?? 0));
      if ((hopperKg[m] ?? 0) < 600) hopperKg[m] = 3000; // refilled by the loader
    }
    scaleKg = 1000;
    setTimeout(() => {
      if (signal.aborted) return;
      bagsTotal += 20;
      scaleKg = 0;
      state = "idle";
      pub("batch", { ts: Date.now(), event: "completed", batchId, orderId: opts.orderId, actualKg, bags: 20 });
    }, opts.batchMs * 0.8);
  };
  batch();
  const batches = setInterval(batch, opts.batchMs);
  signal.addEventListener("abort", () => {
    clearInterval(telemetry);
    clearInterval(batches);
    client.end();
  });
  return client;
}

const roundAll = (o: Record<string, number>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Math.round(v * 10) / 10]));
