import type { MqttClient } from "mqtt";
import { type OrderCommand, OrderCommandSchema, type RecipeCommand, RecipeCommandSchema, topics } from "../devices/index.js";
import type { Credentials } from "./api.js";
import type { SimClock } from "./clock.js";
import { connectDevice } from "./streetlight.js";

/**
 * A blending machine (DOMAIN.md §3): hoppers on load cells, a weigh scale, a mixer and a bagger.
 * It follows the recipe the service sends on cmd/recipe and reports telemetry every 10 s and every
 * batch event. A batch doses for about half the cycle, mixes for a quarter, bags for the rest.
 * Planted faults, at rates a station sees now and then: a dose out of tolerance (held, then
 * resumed by the operator), a hopper that runs empty mid-dose (held until the loader refills it),
 * and a mixer stall (running with the scale standing still). Every fault is written to `planted`.
 */
export type BlenderOptions = {
  cycleMs: number;
  hopperCapacityKg?: number;
  /** Probability per batch of each fault. */
  faults?: { outOfTolerance?: number; hopperEmpty?: number; stall?: number };
  random?: () => number;
};
export type Planted = { ts: number; machineId: string; batchId: string; fault: "out_of_tolerance" | "hopper_empty" | "stall"; detail: string };

export async function runBlender(mqttUrl: string, creds: Credentials, clock: SimClock, opts: BlenderOptions, signal: AbortSignal) {
  const rnd = opts.random ?? Math.random;
  const faults = { outOfTolerance: 0.03, hopperEmpty: 0.01, stall: 0.01, ...opts.faults };
  const capacity = opts.hopperCapacityKg ?? 3000;
  const client: MqttClient = await connectDevice(mqttUrl, "blender", creds, "sim-2.0");
  const planted: Planted[] = [];
  const hopperKg: Record<string, number> = {};
  let recipe: RecipeCommand | null = null;
  let stopAfterBatch = false;
  let state: "idle" | "running" | "held" = "idle";
  let scaleKg = 0;
  let mixerA = 0.2;
  let bagsTotal = 0;
  let batchNo = 0;
  const pub = (kind: "telemetry" | "batch", body: unknown) =>
    client.publish(topics.uplink("blender", creds.id, kind), JSON.stringify(body), { qos: 1 });
  const telemetry = () =>
    pub("telemetry", {
      ts: clock.now(),
      state,
      hopperKg: round(hopperKg),
      scaleKg: Math.round(scaleKg * 10) / 10,
      mixerA: Math.round(mixerA * 10) / 10,
      bagsTotal,
    });

  client.on("message", (topic, payload) => {
    const name = topic.split("/")[3];
    if (payload.length === 0) return; // a cleared retained recipe
    let body: unknown;
    try {
      body = JSON.parse(payload.toString());
    } catch {
      return;
    }
    if (name === "recipe") {
      const r = RecipeCommandSchema.safeParse(body);
      if (!r.success) return;
      recipe = r.data;
      stopAfterBatch = false;
      for (const m of recipe.materials) hopperKg[m.code] ??= capacity;
    } else if (name === "pause" || name === "finish") {
      const c = OrderCommandSchema.safeParse(body);
      if (c.success && recipe && (c.data as OrderCommand).orderId === recipe.orderId) stopAfterBatch = true;
    }
  });
  await client.subscribeAsync(topics.commandFilter("blender", creds.id), { qos: 1 });

  const refill = async (code: string) => {
    await clock.sleep(10 * 60_000, signal); // the loader takes ten minutes
    hopperKg[code] = capacity;
  };

  const runBatch = async (r: RecipeCommand) => {
    batchNo++;
    const batchId = `${r.orderId}-${creds.id}-${String(batchNo).padStart(5, "0")}`;
    const base = { batchId, orderId: r.orderId };
    const targetKg = Object.fromEntries(r.materials.map((m) => [m.code, m.kg]));
    state = "running";
    pub("batch", { ts: clock.now(), event: "started", ...base, targetKg });
    const actualKg: Record<string, number> = {};
    const doseMs = (opts.cycleMs * 0.5) / r.materials.length;
    const wrongOne = rnd() < faults.outOfTolerance ? r.materials[Math.floor(rnd() * r.materials.length)]?.code : undefined;
    for (const m of r.materials) {
      if ((hopperKg[m.code] ?? 0) < m.kg || rnd() < faults.hopperEmpty / r.materials.length) {
        // the hopper runs empty mid-dose: held until refilled
        const got = Math.min(hopperKg[m.code] ?? 0, m.kg * rnd());
        hopperKg[m.code] = (hopperKg[m.code] ?? 0) - got;
        scaleKg += got;
        state = "held";
        planted.push({ ts: clock.now(), machineId: creds.id, batchId, fault: "hopper_empty", detail: m.code });
        pub("batch", { ts: clock.now(), event: "held", ...base, reason: `hopper empty: ${m.code}` });
        telemetry();
        await refill(m.code);
        state = "running";
        pub("batch", { ts: clock.now(), event: "resumed", ...base, reason: `${m.code} refilled` });
        const rest = m.kg - got;
        hopperKg[m.code] = (hopperKg[m.code] ?? 0) - rest;
        scaleKg += rest;
        actualKg[m.code] = round1(m.kg * (1 + gauss(rnd) * 0.0025));
      } else {
        // ±0.5 % dosing accuracy (DOMAIN.md §3) as 2σ; a planted bad dose is 2–4 % off
        const off = m.code === wrongOne ? (rnd() < 0.5 ? -1 : 1) * (0.02 + rnd() * 0.02) : gauss(rnd) * 0.0025;
        const kg = round1(m.kg * (1 + off));
        actualKg[m.code] = kg;
        hopperKg[m.code] = Math.max(0, (hopperKg[m.code] ?? 0) - kg);
        for (let s = 1; s <= 3; s++) {
          scaleKg += kg / 3;
          await clock.sleep(doseMs / 3, signal);
          telemetry();
        }
      }
      // (refill's wait is cut short only when the run stops: then the hopper stays as it is)
      if ((hopperKg[m.code] ?? 0) < capacity * 0.2) void refill(m.code).catch(() => undefined);
    }
    if (wrongOne) {
      const tol = r.materials.find((m) => m.code === wrongOne)?.tolerance;
      planted.push({ ts: clock.now(), machineId: creds.id, batchId, fault: "out_of_tolerance", detail: wrongOne });
      state = "held";
      pub("batch", { ts: clock.now(), event: "held", ...base, reason: `${wrongOne} out of tolerance (${JSON.stringify(tol)})`, actualKg });
      await clock.sleep(60_000, signal); // the operator checks and releases it
      state = "running";
      pub("batch", { ts: clock.now(), event: "resumed", ...base, reason: "released by operator" });
    }
    mixerA = 18 + rnd() * 4;
    if (rnd() < faults.stall) {
      planted.push({ ts: clock.now(), machineId: creds.id, batchId, fault: "stall", detail: "mixer" });
      mixerA = 45; // stalled motor draws more, the scale stands still
      for (let s = 0; s < 24; s++) {
        await clock.sleep(10_000, signal);
        telemetry();
      }
      mixerA = 18;
    }
    await clock.sleep(opts.cycleMs * 0.25, signal);
    const bags = r.bagsPerBatch;
    for (let s = 1; s <= 2; s++) {
      scaleKg = Math.max(0, scaleKg - scaleKg / (3 - s));
      await clock.sleep(opts.cycleMs * 0.125, signal);
      telemetry();
    }
    scaleKg = 0;
    mixerA = 0.2;
    bagsTotal += bags;
    state = "idle";
    pub("batch", { ts: clock.now(), event: "completed", ...base, actualKg, bags });
  };

  const loop = (async () => {
    while (!signal.aborted) {
      const r = recipe;
      if (r && !stopAfterBatch) await runBatch(r);
      else {
        telemetry();
        await clock.sleep(10_000, signal);
      }
    }
    client.end();
  })();
  return { client, planted, done: loop, hopperKg };
}

/** Standard normal from two uniforms (Box–Muller). */
function gauss(rnd: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
}
const round1 = (x: number) => Math.round(x * 10) / 10;
const round = (o: Record<string, number>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, round1(v)]));
