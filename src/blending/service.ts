import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import type { RecipeCommand } from "../../devices/index.js";
import { conflict, invalid, notFound } from "../platform/errors.js";
import type { Registry } from "../registry/registry.js";
import type { CommandBus } from "../transport/command-bus.js";
import { defaultTolerance, type Tolerance } from "./batch.js";
import { BUILTIN_MATERIALS, type Material } from "./materials.js";
import { blendingMessage as msg } from "./messages.js";
import { computeProgress, type Progress } from "./progress.js";
import { DEFAULT_HOURS, type WorkingHours } from "./schedule.js";
import { formatGrade, type Grade, parseGrade, type SolveResult, solve, type TraceTarget } from "./solver.js";
import type { BlendingStore, Formula, Order, OrderState, Station } from "./store.js";

export const DEFAULT_MATERIALS = ["urea", "map", "kcl", "filler"];

/**
 * Stations, materials, formulas and orders: what an operator sets up, and the commands that
 * carry an order to a machine. Batch records come from the machines (monitor.ts).
 */
export async function createBlending(deps: {
  store: BlendingStore;
  registry: Registry;
  bus: CommandBus;
  clock: () => number;
  /**
   * A shared store only (issue 18): tells the other instances what changed here, as `refresh` takes it: "stations",
   * "materials" or `order <id>`.
   */
  changed?: ((what: string) => Promise<unknown>) | undefined;
}) {
  const { store, registry, bus, clock } = deps;
  const changed = (what: string) => deps.changed?.(what);
  /** One per station registered (as many as an admin sets up). */
  const stations = new Map((await store.stations()).map((s) => [s.id, s]));
  /** The materials stations defined (likewise). */
  const custom = await store.materials();
  /** Orders not finished: an operator's open work. A finished order leaves, and is read from the store when asked for. */
  const open = new Map((await store.orders("open")).map((o) => [o.id, o]));
  /** The formulas of open orders (the monitors' rules read them per reading); any other is read from the store. */
  const inUse = new Map<string, Formula>();
  for (const o of open.values()) {
    const f = inUse.get(o.formulaId) ?? (await store.formula(o.formulaId));
    if (f) inUse.set(f.id, f);
  }
  /** An order changed: here (`elsewhere` false), or on another instance sharing the state store (read back after its notice). */
  const events = new EventEmitter<{ order: [Order, boolean] }>();
  const find = async (id: string): Promise<Order | undefined> => open.get(id) ?? (await store.order(id));
  const findFormula = async (id: string): Promise<Formula | undefined> => inUse.get(id) ?? (await store.formula(id));
  /** Formula saves, one at a time: a version is the next after those stored under its name. */
  let saving: Promise<unknown> = Promise.resolve();

  /** Built-in materials plus the station's own (which may redefine a code). */
  const catalog = (station?: string | null): Map<string, Material> => {
    const m = new Map(BUILTIN_MATERIALS.map((x) => [x.code, x] as [string, Material]));
    for (const c of custom) if (c.station === "" || c.station === station) m.set(c.code, c);
    return m;
  };

  const solveFor = (grade: Grade, codes: string[] | undefined, trace: TraceTarget, station?: string | null): SolveResult => {
    const cat = catalog(station);
    const wanted = codes ?? [...DEFAULT_MATERIALS, ...traceCarriers(cat, trace)];
    const unknown = wanted.filter((c) => !cat.has(c));
    if (unknown.length > 0) return { ok: false, reason: msg("materials_unknown", { materials: unknown }) };
    return solve(
      grade,
      wanted.map((c) => cat.get(c) as Material),
      trace,
    );
  };

  /** The richest total N+P2O5+K2O (%) blendable in `ratio`: the tonne filled with no filler. */
  const richestTotal = (ratio: Grade, station?: string | null): number => {
    const r = solveFor(ratio, undefined, {}, station);
    const sum = (g: Grade) => g.n + g.p2o5 + g.k2o;
    if (r.ok) return (sum(ratio) * 1000) / (1000 - (r.kgPerTonne.filler ?? 0));
    return r.richest ? sum(r.richest) : 0;
  };
  const hoursOf = (station: string): WorkingHours => stations.get(station)?.hours ?? DEFAULT_HOURS;
  const setOrder = async (o: Order, state: OrderState, machineId = o.machineId) => {
    const next = { ...o, state, machineId, updatedAt: clock() };
    await store.putOrder(next);
    if (state === "finished") {
      open.delete(next.id);
      if (![...open.values()].some((x) => x.formulaId === next.formulaId)) inUse.delete(next.formulaId);
    } else open.set(next.id, next);
    events.emit("order", next, false);
    await changed(`order ${next.id}`);
    return next;
  };
  /** An order read back after a change elsewhere: held while open (with its formula), emitted for live streams. */
  const refreshOrder = async (id: string) => {
    const o = await store.order(id);
    if (!o) return;
    if (o.state === "finished") {
      open.delete(o.id);
      if (![...open.values()].some((x) => x.formulaId === o.formulaId)) inUse.delete(o.formulaId);
    } else {
      const f = inUse.get(o.formulaId) ?? (await store.formula(o.formulaId));
      if (f) inUse.set(f.id, f);
      open.set(o.id, o);
    }
    events.emit("order", o, true);
  };

  /** The control recipe for one batch (PROTOCOL.md, `blender/{id}/cmd/recipe`; devices/blender.ts RecipeCommandSchema). */
  const recipeFor = (o: Order, f: Formula): RecipeCommand => {
    const cat = catalog(o.station);
    return {
      orderId: o.id,
      formula: { id: f.id, name: f.name, version: f.version, grade: f.grade },
      batchKg: o.batchKg,
      bagKg: o.bagKg,
      bagsPerBatch: Math.round(o.batchKg / o.bagKg),
      targetT: o.targetT,
      materials: Object.entries(f.kgPerTonne).map(([code, kgT]) => ({
        code,
        kg: Math.round(kgT * (o.batchKg / 1000) * 100) / 100,
        tolerance: o.tolerances[code] ?? defaultTolerance(cat.get(code)),
      })),
    };
  };

  return {
    events,
    /**
     * A shared store only: another instance changed stations ("stations"), materials ("materials") or an order
     * (`order <id>`); null: anything may have changed (the notices were not heard for a while), everything is read again.
     */
    async refresh(what: string | null) {
      if (what === null || what === "stations") {
        stations.clear();
        for (const st of await store.stations()) stations.set(st.id, st);
      }
      if (what === null || what === "materials") custom.splice(0, custom.length, ...(await store.materials()));
      if (what === null) for (const o of [...open.values(), ...(await store.orders("open"))]) await refreshOrder(o.id);
      else if (what.startsWith("order ")) await refreshOrder(what.slice("order ".length));
    },
    /** Tells the other instances that an order's batches changed (their live streams show its progress). */
    batchesChanged: (orderId: string) => changed(`order ${orderId}`),
    catalog,
    hoursOf,
    solveFor,
    richestTotal,
    stations: () => [...stations.values()],
    station: (id: string) => stations.get(id),
    async putStation(input: { id: string; name: string; workingHours?: WorkingHours | undefined }): Promise<Station> {
      const s: Station = {
        id: input.id,
        name: input.name,
        hours: input.workingHours ?? DEFAULT_HOURS,
        createdAt: stations.get(input.id)?.createdAt ?? clock(),
      };
      await store.putStation(s);
      stations.set(s.id, s);
      await changed("stations");
      return s;
    },
    materials: (station?: string) => [...catalog(station).values()],
    async addMaterial(station: string | undefined, m: Material) {
      if (BUILTIN_MATERIALS.some((b) => b.code === m.code) && !station) throw conflict(msg("material_builtin", { material: m.code }));
      await store.putMaterial(station ?? "", m);
      const i = custom.findIndex((c) => c.station === (station ?? "") && c.code === m.code);
      if (i >= 0) custom.splice(i, 1);
      custom.push({ ...m, station: station ?? "" });
      await changed("materials");
      return m;
    },

    /** Every formula, every version (read from the store). */
    formulas: () => store.formulas(),
    formula: findFormula,
    /** The formula of an open order, at once (for rules run per reading). */
    formulaOf: (o: Order) => inUse.get(o.formulaId),
    /** Saves a formula; the same name again makes a new version (orders keep the version they used). */
    async saveFormula(input: {
      name: string;
      grade: string;
      materials?: string[] | undefined;
      trace?: TraceTarget | undefined;
      station?: string | undefined;
    }) {
      const grade = parseGrade(input.grade);
      if (!grade) throw invalid(msg("grade_format", { grade: input.grade }));
      const trace = input.trace ?? {};
      const r = solveFor(grade, input.materials, trace, input.station);
      if (!r.ok) throw gradeError(r);
      const saved = saving.then(async () => {
        const f: Formula = {
          id: randomUUID(),
          name: input.name,
          version: 1 + (await store.formulaVersion(input.name)),
          station: input.station ?? null,
          grade: formatGrade(grade),
          kgPerTonne: r.kgPerTonne,
          trace: trace as Record<string, number>,
          materials: Object.keys(r.kgPerTonne),
          createdAt: clock(),
        };
        await store.insertFormula(f);
        return f;
      });
      saving = saved.catch(() => undefined);
      return saved;
    },

    /** Orders not finished (held in memory). */
    openOrders: () => [...open.values()],
    /** What it holds in memory: the open orders and their formulas. */
    held: () => ({ orders: open.size, formulas: inUse.size }),
    /** Orders, oldest first; finished ones are read from the store (only when they can match `state`). */
    async orders(state?: OrderState): Promise<Order[]> {
      const here = [...open.values()].filter((o) => !state || o.state === state);
      if (state && state !== "finished") return here;
      return [...here, ...(await store.orders("finished"))].sort((a, b) => a.createdAt - b.createdAt);
    },
    /** An order, open or finished. */
    order: find,
    async createOrder(
      input: Omit<Order, "id" | "state" | "machineId" | "createdAt" | "updatedAt" | "tolerances"> & {
        tolerances?: Record<string, Tolerance> | undefined;
      },
    ) {
      if (!stations.has(input.station)) throw invalid(msg("station_unknown", { station: input.station }));
      const f = await findFormula(input.formulaId);
      if (!f) throw invalid(msg("formula_unknown", { formulaId: input.formulaId }));
      const now = clock();
      const o: Order = {
        ...input,
        tolerances: input.tolerances ?? {},
        id: `ORD-${randomUUID().slice(0, 8).toUpperCase()}`,
        state: "planned",
        machineId: null,
        createdAt: now,
        updatedAt: now,
      };
      await store.putOrder(o);
      open.set(o.id, o);
      inUse.set(f.id, f);
      await changed(`order ${o.id}`);
      return o;
    },
    /** Sends the recipe to a machine of the order's station (retained, so a machine that reconnects gets it) and marks the order running. */
    async start(orderId: string, machineId: string) {
      const o = await find(orderId);
      if (!o) throw notFound("order", orderId);
      if (o.state === "finished") throw conflict(msg("order_finished", { orderId }));
      const m = registry.get(machineId);
      if (m?.family !== "blender") throw invalid(msg("machine_not_blender", { machineId }));
      if (m?.station !== o.station) throw invalid(msg("machine_other_station", { machineId, station: m.station, orderStation: o.station }));
      const busy = [...open.values()].find((x) => x.id !== o.id && x.machineId === machineId && x.state === "running");
      if (busy) throw conflict(msg("machine_busy", { machineId, orderId: busy.id }));
      const f = inUse.get(o.formulaId);
      if (!f) throw invalid(msg("formula_unknown", { formulaId: o.formulaId }));
      const recipe = recipeFor(o, f);
      await bus.command("blender", machineId, "recipe", recipe, { retain: true });
      return { order: await setOrder(o, "running", machineId), recipe };
    },
    async pause(orderId: string) {
      const o = await find(orderId);
      if (!o) throw notFound("order", orderId);
      if (o.state !== "running" || !o.machineId) throw conflict(msg("order_not_running", { orderId, state: o.state }));
      await bus.command("blender", o.machineId, "pause", { orderId });
      return setOrder(o, "paused");
    },
    async finish(orderId: string) {
      const o = await find(orderId);
      if (!o) throw notFound("order", orderId);
      if (o.state === "finished") return o;
      if (o.machineId) {
        await bus.command("blender", o.machineId, "finish", { orderId });
        await bus.command("blender", o.machineId, "recipe", "", { retain: true }); // clears the retained recipe
      }
      return setOrder(o, "finished");
    },
    async progress(
      orderId: string,
      batches: { state: string; endedAt: number | null; actualKg: Record<string, number> | null; bags: number }[],
    ): Promise<Progress> {
      const o = await find(orderId);
      if (!o) throw notFound("order", orderId);
      const done = batches
        .filter((b) => b.state === "complete" && b.endedAt !== null)
        .map((b) => ({ endedAt: b.endedAt as number, actualT: Object.values(b.actualKg ?? {}).reduce((s, x) => s + x, 0) / 1000, bags: b.bags }))
        .sort((a, b) => a.endedAt - b.endedAt);
      return computeProgress({
        targetT: o.targetT,
        dueDate: o.dueDate,
        batches: done,
        now: clock(),
        hours: hoursOf(o.station),
        finished: o.state === "finished",
      });
    },
  };
}
export type Blending = Awaited<ReturnType<typeof createBlending>>;

const traceCarriers = (cat: Map<string, Material>, trace: TraceTarget) =>
  Object.keys(trace).flatMap((el) =>
    [...cat.values()]
      .filter((m) => (m.trace as Record<string, number>)[el])
      .slice(0, 1)
      .map((m) => m.code),
  );

/** A grade the solver cannot make: why, and the richest grade of its ratio that can be (also in `details`, for a program). */
export function gradeError(r: Extract<SolveResult, { ok: false }>) {
  const richest = r.richest ? formatGrade(r.richest) : null;
  return invalid(richest ? [r.reason, msg("grade_richest", { richest })] : r.reason, {
    reason: r.reason.code,
    ...(richest ? { richest } : {}),
  });
}
