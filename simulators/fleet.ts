import { ensureDevice } from "./api.js";
import { createSimClock } from "./clock.js";
import { startStation } from "./station.js";
import { type LightSpec, runStreetlight } from "./streetlight.js";

/**
 * A small fleet for the demo: lights along the 梳妆台村 road in 来苏镇 at ~52 m spacing
 * (DOMAIN.md §1) and one blending machine at the Qijiang station.
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
  const specs: LightSpec[] = Array.from({ length: opts.lights }, (_, i) => ({
    id: `YC-LS-${String(i + 1).padStart(4, "0")}`,
    // along a road heading east-north-east from 29.3512 N 105.9113 E; 52 m ≈ 0.00047° of latitude
    lat: 29.3512 + i * 0.00018,
    lon: 105.9113 + i * 0.00049,
    lampW: 30,
    panelWp: 120,
    batteryAh: 60,
  }));
  const lights: string[] = [];
  let done = 0;
  for (const s of specs) {
    const creds = await ensureDevice(opts.apiUrl, opts.key, {
      id: s.id,
      family: "streetlight",
      town: "来苏镇",
      village: "梳妆台村",
      lat: s.lat,
      lon: s.lon,
      lampW: s.lampW,
      panelWp: s.panelWp,
      batteryAh: s.batteryAh,
      projectId: "YC-2025-LS-017",
    });
    await runStreetlight(opts.mqttUrl, s, creds, opts.lightIntervalMs, opts.signal);
    lights.push(s.id);
    opts.onProgress?.(++done, specs.length + 1);
  }
  // The blending station runs in real time: 1 t batches on a 5-minute cycle, after 120 t of history.
  const station = await startStation({
    apiUrl: opts.apiUrl,
    mqttUrl: opts.mqttUrl,
    key: opts.key,
    clock: createSimClock(1),
    historyT: 120,
    signal: opts.signal,
  });
  opts.onProgress?.(++done, specs.length + 1);
  return { lights, blender: station.machines[0] ?? "", orderId: station.orderId };
}
