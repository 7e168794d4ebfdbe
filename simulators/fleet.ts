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
  /** Nights of past readings (every report interval) sent before the live run, when the lights have none yet. */
  historyNights?: number;
  historyIntervalMs?: number;
  onHistory?: (sent: number, total: number) => void;
  /** Share of lights that are v1 controllers and never answer commands (runDistrict). */
  v1Share?: number;
}): Promise<{ lights: string[]; blender: string; orderId: string; historySent: number }> {
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
  await importClaims(opts.apiUrl, opts.key, plans);
  // Past nights first (so the nightly records, the light pages and the finance bureau's verification have
  // something to show), then live, on the same connections.
  const from = Date.now();
  const historyFrom = from - (opts.historyNights ?? 0) * 86_400_000;
  const withHistory = !!opts.historyNights && (await needsHistory(opts.apiUrl, opts.key, plans[0]?.id, historyFrom));
  let historySent = 0;
  let historyEnd: () => void = () => undefined;
  const historyDone = new Promise<void>((resolve) => {
    historyEnd = resolve;
    if (!withHistory) resolve();
    opts.signal.addEventListener("abort", () => resolve(), { once: true });
  });
  // The lights run until the signal stops them; a failure (the broker refused them, say) ends the history wait and is said.
  let failed: unknown = null;
  runDistrict({
    mqttUrl: opts.mqttUrl,
    lights,
    clock,
    from,
    until: Number.POSITIVE_INFINITY,
    intervalMs: opts.lightIntervalMs,
    lossAt: Number.POSITIVE_INFINITY,
    signal: opts.signal,
    v1Share: opts.v1Share ?? 0.1,
    ...(withHistory
      ? {
          history: {
            from: historyFrom,
            intervalMs: opts.historyIntervalMs ?? 300_000,
            onProgress: (sent: number, total: number) => {
              historySent = sent;
              opts.onHistory?.(sent, total);
              if (sent >= total) historyEnd();
            },
          },
        }
      : {}),
  }).catch((e: unknown) => {
    failed = e;
    historyEnd();
    if (!opts.signal.aborted) process.stderr.write(`district simulation stopped: ${e instanceof Error ? e.message : String(e)}\n`);
  });
  await historyDone;
  if (failed !== null && !opts.signal.aborted) throw failed;
  // The blending station runs in real time: 1 t batches on a 5-minute cycle, after 120 t of history.
  const station = await startStation({ apiUrl: opts.apiUrl, mqttUrl: opts.mqttUrl, key: opts.key, clock, historyT: 120, signal: opts.signal });
  opts.onProgress?.(++done, plans.length + 1);
  return { lights: plans.map((p) => p.id), blender: station.machines[0] ?? "", orderId: station.orderId, historySent };
}

/** Past nights are sent only when the lights have none yet (an earlier run with the same data sent them). */
async function needsHistory(apiUrl: string, key: string, id: string | undefined, from: number): Promise<boolean> {
  if (!id) return false;
  const res = await fetch(`${apiUrl}/api/v1/devices/${id}/telemetry?from=${new Date(from).toISOString()}&limit=1`, {
    headers: { authorization: `Bearer ${key}` },
  });
  return !(res.ok && ((await res.json()) as { readings: unknown[] }).readings.length > 0);
}

/** The bureau's claims list for the demo's lights (importing it again changes nothing). */
async function importClaims(apiUrl: string, key: string, plans: ReturnType<typeof planDistrict>): Promise<void> {
  const header = "项目编号,镇街,村,道路,年度,批准数量,补助标准,设备编号,经度,纬度,控制器序列号,IMEI,安装日期";
  const perProject = new Map<string, number>();
  for (const p of plans) perProject.set(p.projectId, (perProject.get(p.projectId) ?? 0) + 1);
  const rows = plans.map((p, i) =>
    [
      p.projectId,
      p.town,
      p.village,
      "",
      2025,
      perProject.get(p.projectId),
      2700,
      p.id,
      p.lon,
      p.lat,
      `SN-${p.id}`,
      860000000000000 + i,
      "2025-06-01",
    ].join(","),
  );
  const res = await fetch(`${apiUrl}/api/v1/projects/import`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "text/csv" },
    body: [header, ...rows].join("\n"),
  });
  if (!res.ok) throw new Error(`could not import the demo's claims: ${res.status} ${await res.text()}`);
}
