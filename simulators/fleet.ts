import { ensureDevice } from "./api.js";
import { createSimClock } from "./clock.js";
import { planDistrict, runDistrict } from "./district.js";
import { startStation } from "./station.js";

/**
 * The demo's devices: lights on the 梳妆台村 road (DOMAIN.md §1) reporting every 10 s in real time,
 * one with a failed lamp and one with a relay stuck on, and the Qijiang blending station with its 300 t order.
 */
export async function startFleet(opts: {
  apiUrl: string;
  mqttUrl: string;
  key: string;
  lights: number;
  lightIntervalMs: number;
  signal: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}): Promise<{ lights: string[]; blender: string; orderId: string }> {
  // one lamp that fails at night and one relay stuck on by day: an alert appears whatever the hour (after the 10-minute latch)
  const plans = planDistrict({ lights: opts.lights, faultCounts: { failed_lamp: 1, stuck_relay: 1 } });
  const lights = [];
  let done = 0;
  for (const plan of plans) {
    const creds = await ensureDevice(opts.apiUrl, opts.key, {
      id: plan.id,
      family: "streetlight",
      town: plan.town,
      village: plan.village,
      lat: plan.lat,
      lon: plan.lon,
      lampW: plan.lampW,
      panelWp: plan.panelWp,
      batteryAh: plan.batteryAh,
      projectId: plan.projectId,
    });
    lights.push({ plan, creds });
    opts.onProgress?.(++done, plans.length + 1);
  }
  const clock = createSimClock(1);
  void runDistrict({
    mqttUrl: opts.mqttUrl,
    lights,
    clock,
    from: Date.now(),
    until: Number.POSITIVE_INFINITY,
    intervalMs: opts.lightIntervalMs,
    lossAt: Number.POSITIVE_INFINITY,
    signal: opts.signal,
  });
  // The blending station runs in real time: 1 t batches on a 5-minute cycle, after 120 t of history.
  const station = await startStation({ apiUrl: opts.apiUrl, mqttUrl: opts.mqttUrl, key: opts.key, clock, historyT: 120, signal: opts.signal });
  opts.onProgress?.(++done, plans.length + 1);
  return { lights: plans.map((p) => p.id), blender: station.machines[0] ?? "", orderId: station.orderId };
}
