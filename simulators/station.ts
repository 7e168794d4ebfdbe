import mqtt from "mqtt";
import { topics } from "../devices/index.js";
import { DEFAULT_HOURS, subtractWorkingTime } from "../src/blending/schedule.js";
import { type Credentials, ensureDevice } from "./api.js";
import { type BlenderOptions, type Planted, runBlender } from "./blender.js";
import type { SimClock } from "./clock.js";

/**
 * The Qijiang smart blending station (DOMAIN.md §1): a 300 t order of 15-15-15 soil-test formula
 * fertilizer with 120 t already made at 12 t/h (1 t batches on a 5-minute cycle), so progress
 * shows 40 % and the finish about two working days out; then the machine carries on live.
 */
export const STATION = { id: "qijiang", name: "綦江区供销社智能配肥站" };
const CUSTOMER = "三角镇农业合作社";

type Api = (path: string, init?: { method?: string; body?: unknown }) => Promise<{ status: number; body: unknown }>;

function apiClient(apiUrl: string, key: string): Api {
  return async (path, init = {}) => {
    const res = await fetch(`${apiUrl}${path}`, {
      method: init.method ?? "GET",
      headers: { authorization: `Bearer ${key}`, ...(init.body ? { "content-type": "application/json" } : {}) },
      ...(init.body ? { body: JSON.stringify(init.body) } : {}),
    });
    return { status: res.status, body: await res.json().catch(() => null) };
  };
}

export async function startStation(opts: {
  apiUrl: string;
  mqttUrl: string;
  key: string;
  clock: SimClock;
  machines?: number;
  cycleMs?: number;
  /** Tonnes already made before the run, published as history (the DOMAIN.md scenario: 120). */
  historyT?: number;
  signal: AbortSignal;
  random?: () => number;
  faults?: BlenderOptions["faults"];
}) {
  const api = apiClient(opts.apiUrl, opts.key);
  const cycleMs = opts.cycleMs ?? 5 * 60_000;
  const must = (r: { status: number; body: unknown }, what: string) => {
    if (r.status >= 300) throw new Error(`${what}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body as Record<string, unknown>;
  };
  must(await api("/api/v1/stations", { method: "POST", body: { ...STATION, workingHours: DEFAULT_HOURS } }), "station");
  const machines: Credentials[] = [];
  for (let i = 1; i <= (opts.machines ?? 1); i++) {
    machines.push(
      await ensureDevice(opts.apiUrl, opts.key, {
        id: `QJ-BL-${String(i).padStart(2, "0")}`,
        family: "blender",
        town: "綦江区",
        station: STATION.id,
        hopperMaterials: ["urea", "map", "kcl", "filler"],
      }),
    );
  }
  const formulas = must(await api("/api/v1/formulas"), "formulas").formulas as { id: string; name: string; grade: string }[];
  const formula =
    formulas.find((f) => f.name === "测土配方肥" && f.grade === "15-15-15") ??
    (must(await api("/api/v1/formulas", { method: "POST", body: { name: "测土配方肥", grade: "15-15-15" } }), "formula") as { id: string });

  const orders = must(await api(`/api/v1/orders?station=${STATION.id}`), "orders").orders as { id: string; customer: string; state: string }[];
  let order = orders.find((o) => o.customer === CUSTOMER && o.state !== "finished");
  const first = machines[0];
  if (!first) throw new Error("no machine");
  const fresh = !order;
  if (!order) {
    const due = new Date(opts.clock.now() + 3 * 86_400_000 + 8 * 3600_000).toISOString().slice(0, 10); // three days on, China date
    order = must(
      await api("/api/v1/orders", {
        method: "POST",
        body: { station: STATION.id, customer: CUSTOMER, crop: "水稻", formulaId: formula.id, targetT: 300, dueDate: due },
      }),
      "order",
    ) as { id: string; customer: string; state: string };
  }
  // The order runs on the first machine (its recipe retained, so the machine gets it when it connects below), and the
  // batches it made before today come from that machine: the service counts a batch only toward the order started on
  // the machine that reports it (PROTOCOL.md §4).
  must(await api(`/api/v1/orders/${order.id}/start`, { method: "POST", body: { machineId: first.id } }), "start order");
  if (fresh && opts.historyT) await publishHistory(opts.mqttUrl, first, order.id, opts.historyT, cycleMs, opts.clock.now());
  const running: Awaited<ReturnType<typeof runBlender>>[] = [];
  for (const m of machines)
    running.push(
      await runBlender(
        opts.mqttUrl,
        m,
        opts.clock,
        { cycleMs, ...(opts.random ? { random: opts.random } : {}), ...(opts.faults ? { faults: opts.faults } : {}) },
        opts.signal,
      ),
    );
  return {
    orderId: order.id,
    machines: machines.map((m) => m.id),
    planted: (): Planted[] => running.flatMap((r) => r.planted),
    progress: async () =>
      must(await api(`/api/v1/orders/${order.id}`), "progress") as {
        producedT: number;
        progressPct: number;
        rateTPerHour: number;
        eta: string | null;
        onSchedule: boolean | null;
      },
  };
}

/** Batches made before the run, one per cycle back from `until`, inside the station's working hours. */
async function publishHistory(mqttUrl: string, creds: Credentials, orderId: string, tonnes: number, cycleMs: number, until: number) {
  const client = await mqtt.connectAsync(mqttUrl, { clientId: creds.id, username: creds.id, password: creds.secret, clean: true });
  const target = { urea: 257.1, map: 288.5, kcl: 250, filler: 204.4 };
  const topic = topics.uplink("blender", creds.id, "batch");
  const sends: Promise<unknown>[] = [];
  for (let i = tonnes; i >= 1; i--) {
    const end = subtractWorkingTime(until, (i - 1) * cycleMs, DEFAULT_HOURS);
    const batchId = `${orderId}-H${String(tonnes - i + 1).padStart(4, "0")}`;
    const actualKg = Object.fromEntries(Object.entries(target).map(([c, kg]) => [c, Math.round(kg * (1 + (Math.random() - 0.5) * 0.006) * 10) / 10]));
    sends.push(
      client.publishAsync(topic, JSON.stringify({ ts: end - cycleMs + 10_000, event: "started", batchId, orderId, targetKg: target }), { qos: 1 }),
    );
    sends.push(client.publishAsync(topic, JSON.stringify({ ts: end, event: "completed", batchId, orderId, actualKg, bags: 20 }), { qos: 1 }));
  }
  await Promise.all(sends);
  await client.endAsync();
}
