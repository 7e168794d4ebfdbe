import { EventEmitter } from "node:events";
import { BATCH_MAX_KG, type BlenderBatch, type BlenderTelemetry, batchTotalKg, topics } from "../../devices/index.js";
import type { AcceptedReading } from "../ingest/pipeline.js";
import type { Presence } from "../ingest/presence.js";
import type { RejectRecord } from "../ingest/rejects.js";
import type { Sink } from "../ingest/store-writer.js";
import type { WalRecord } from "../ingest/wal.js";
import type { Logger } from "../platform/log.js";
import type { Registry } from "../registry/registry.js";
import type { DashboardPoint } from "../storage/dashboard-points.js";
import type { CommandBus } from "../transport/command-bus.js";
import { evaluateBatch } from "./batch.js";
import { type BlendingMessage, blendingMessage as msg } from "./messages.js";
import type { Progress } from "./progress.js";
import { isWorking } from "./schedule.js";
import type { Blending } from "./service.js";
import type { BatchRecord, BlendingStore, Formula, Order } from "./store.js";

/** Proposal: longer than a mixing cycle (1–2 min, DOMAIN.md §3), during which the scale rightly stands still. */
export const STALL_MS = 180_000;
/** Proposal: refill when a hopper holds less than two batches of its material, or 300 kg with no recipe. */
export const REFILL_BATCHES = 2;
export const REFILL_DEFAULT_KG = 300;
/** Kept of a rejected batch event's payload for inspection (as the pipeline keeps of any rejected payload). */
const KEPT_PAYLOAD_CHARS = 4096;
/** Why a batch event is kept as a reject instead of counted (PROTOCOL.md §2); the reasons are counted per device. */
export type BatchRejectReason = "not_machines_order" | "batch_over_capacity";

/** Scale movement smaller than this is noise, not flow. */
const SCALE_NOISE_KG = 0.5;

export type ConditionType = "out_of_tolerance" | "stalled" | "hopper_low" | "offline" | "behind_schedule";
export type Condition = {
  type: ConditionType;
  station: string;
  machineId?: string;
  orderId?: string;
  /** hopper_low: which hopper. */
  material?: string;
  since: string;
  detail: BlendingMessage;
};

type MachineState = {
  ts: number;
  state: string;
  scaleKg: number;
  scaleMovedAt: number;
  hopperKg: Record<string, number>;
  lowSince: Map<string, number>;
};

/**
 * Turns machine messages into batch records (a write-ahead-log sink, so a record is exactly as
 * durable as the message it comes from) and keeps each machine's live state for the conditions
 * that the alerts issue turns into alerts. Rules judge readings at their own timestamps.
 */
export function createBlendingMonitor(deps: {
  store: BlendingStore;
  blending: Blending;
  registry: Registry;
  presence: Presence;
  bus: CommandBus;
  clock: () => number;
  log: Logger;
  /** Points for dashboards (src/storage/dashboard-points.ts). */
  writeDashboardPoints?: (points: DashboardPoint[]) => void;
  /** Batch events that cannot count, kept as rejects (the rejects store and metric, as for bad readings). */
  rejectBatches?: (rs: RejectRecord[]) => Promise<void>;
}) {
  const { store, blending, registry, presence, bus, clock, log } = deps;
  const writeDashboardPoints = deps.writeDashboardPoints ?? (() => undefined);
  /** Live state per blending machine that reported (bounded by the registry: only registered devices' readings arrive). */
  const machines = new Map<string, MachineState>();
  /** Each machine's most recent completed batch, for the out-of-tolerance condition (an aborted one is not weighed); one per machine, as above. */
  const lastBatches = new Map<string, BatchRecord>();
  /** Each order's progress after a change; the order is given too (a finished one is no longer held by the service). */
  const events = new EventEmitter<{ progress: [string, Progress, Order] }>();

  /** `order`: the batch's order, read before (undefined: not known). */
  const apply = (b: BatchRecord, e: BlenderBatch, order: Order | undefined, formula: Formula | undefined) => {
    b.events.push({ ts: e.ts, event: e.event, reason: "reason" in e ? e.reason : undefined });
    switch (e.event) {
      case "started":
        b.state = "running";
        b.startedAt = e.ts;
        b.targetKg = e.targetKg;
        break;
      case "held":
        b.state = "held";
        b.heldCount++;
        if (e.actualKg) b.actualKg = e.actualKg;
        break;
      case "resumed":
        b.state = "running";
        break;
      case "completed": {
        b.state = "complete";
        b.endedAt = e.ts;
        b.actualKg = e.actualKg;
        b.bags = e.bags;
        const target = b.targetKg ?? targetFromOrder(order, formula);
        if (target) b.evaluation = evaluateBatch(target, e.actualKg, order?.tolerances ?? {}, blending.catalog(order?.station));
        break;
      }
      case "aborted":
        b.state = "aborted";
        b.endedAt = e.ts;
        if (e.actualKg) b.actualKg = e.actualKg;
        break;
    }
  };
  const targetFromOrder = (o: Order | undefined, f: Formula | undefined) =>
    o && f ? Object.fromEntries(Object.entries(f.kgPerTonne).map(([c, kg]) => [c, kg * (o.batchKg / 1000)])) : null;

  /**
   * Why a batch event cannot count, or null. A device affects only its own data (PROTOCOL.md §2): a batch counts toward
   * the order started on its machine (`POST /orders/{id}/start` sets the order's machine, of the order's station), and
   * a batch's later events keep its first event's order. Weights beyond one batch's (BATCH_MAX_KG, devices/blender.ts)
   * and more bags than the weight fills cannot be real.
   */
  const judge = async (
    machineId: string,
    e: BlenderBatch,
    known: BatchRecord | undefined,
    orderOf: (id: string) => Promise<Order | undefined>,
  ): Promise<{ reason: BatchRejectReason; detail: BlendingMessage } | null> => {
    const kg = batchTotalKg(e.event === "started" ? e.targetKg : e.event === "resumed" ? undefined : e.actualKg);
    if (kg > BATCH_MAX_KG) return { reason: "batch_over_capacity", detail: msg("batch_over_capacity", { kg, maxKg: BATCH_MAX_KG }) };
    if (known && known.orderId !== e.orderId)
      return {
        reason: "not_machines_order",
        detail: msg("batch_order_changed", { batchId: e.batchId, orderId: e.orderId, batchOrderId: known.orderId }),
      };
    const o = await orderOf(e.orderId);
    if (!known && (!o || o.machineId !== machineId || o.station !== registry.get(machineId)?.station))
      return { reason: "not_machines_order", detail: msg("batch_not_machines_order", { orderId: e.orderId, machineId }) };
    if (e.event === "completed" && o) {
      // a bag's remainder may be carried from the batch before: one bag more than the weight fills
      const maxBags = Math.ceil(kg / o.bagKg - 1e-9) + 1;
      if (e.bags > maxBags)
        return { reason: "batch_over_capacity", detail: msg("batch_bags_over_weight", { bags: e.bags, bagKg: o.bagKg, maxBags }) };
    }
    return null;
  };

  const sink: Sink = {
    name: "blending",
    accepts: (r) => r.kind === "reading" && r.reading.measurement === "blender_batch",
    checkpoint: () => store.checkpoint(),
    async write(records: WalRecord[], checkpoint: number) {
      const changed = new Map<string, BatchRecord>();
      /** The orders of this write's batches (open ones from memory, a finished one from the store). */
      const orders = new Map<string, Order | undefined>();
      const orderOf = async (id: string) => {
        if (!orders.has(id)) orders.set(id, await blending.order(id));
        return orders.get(id);
      };
      const bad: RejectRecord[] = [];
      for (const r of records) {
        if (r.kind !== "reading" || r.reading.measurement !== "blender_batch") continue;
        const e = r.reading.payload as unknown as BlenderBatch;
        const key = `${r.reading.deviceId}\u0000${e.batchId}`;
        const known = changed.get(key) ?? (await store.batch(r.reading.deviceId, e.batchId));
        const why = await judge(r.reading.deviceId, e, known, orderOf);
        if (why) {
          const text = JSON.stringify(r.reading.payload);
          bad.push({
            seq: r.seq,
            deviceId: r.reading.deviceId,
            clientId: null,
            topic: topics.uplink("blender", r.reading.deviceId, "batch"),
            reason: why.reason,
            detail: why.detail,
            payload: text.slice(0, KEPT_PAYLOAD_CHARS),
            payloadEncoding: "utf8",
            payloadBytes: Buffer.byteLength(text),
            receivedAt: r.reading.receivedAt,
          });
          continue;
        }
        const b = known ?? {
          machineId: r.reading.deviceId,
          batchId: e.batchId,
          orderId: e.orderId,
          state: "running",
          startedAt: null,
          endedAt: null,
          targetKg: null,
          actualKg: null,
          bags: 0,
          heldCount: 0,
          events: [],
          evaluation: null,
        };
        const order = e.event === "completed" ? await orderOf(b.orderId) : undefined;
        const formula = order && !b.targetKg ? await blending.formula(order.formulaId) : undefined;
        apply(b, e, order, formula);
        changed.set(key, b);
      }
      if (bad.length > 0 && deps.rejectBatches) await deps.rejectBatches(bad);
      await store.writeBatches([...changed.values()], checkpoint);
      for (const b of changed.values()) await orderOf(b.orderId);
      for (const b of changed.values()) {
        const last = lastBatches.get(b.machineId);
        if (b.state === "complete" && (!last || (last.endedAt ?? 0) <= (b.endedAt ?? 0))) lastBatches.set(b.machineId, b);
      }
      writeDashboardPoints(
        [...changed.values()]
          .filter((b) => b.state === "complete" && b.evaluation && b.endedAt !== null)
          .map((b) => {
            const e = b.evaluation as NonNullable<BatchRecord["evaluation"]>;
            const dev = Object.fromEntries(Object.entries(e.deviation).flatMap(([c, d]) => (d.pct === null ? [] : [[`dev.${c}`, d.pct]])));
            return {
              measurement: "blending_batch" as const,
              tags: { station: orders.get(b.orderId)?.station ?? "", order: b.orderId, machine: b.machineId },
              fields: {
                actualT: e.actualKg / 1000,
                inTolerance: e.inTolerance ? 1 : 0,
                n: e.actualGrade.n,
                p2o5: e.actualGrade.p2o5,
                k2o: e.actualGrade.k2o,
                ...dev,
              },
              ts: b.endedAt as number,
            };
          }),
      );
      const touched = new Set([...changed.values()].map((b) => b.orderId));
      for (const orderId of touched) {
        void publishProgress(orderId, orders.get(orderId));
        blending.batchesChanged(orderId)?.catch((e: unknown) => log.warn({ err: e, orderId }, "could not announce an order's new batches"));
      }
    },
  };

  /** Progress pushes under way (stop() waits for them: they read the store). At most one per order touched by a write or a command. */
  const publishing = new Set<Promise<void>>();
  /** Fire-and-forget: the batch records are stored already; a failure here only delays a live view until the next batch. */
  function publishProgress(orderId: string, order: Order | undefined): Promise<void> {
    const p = pushProgress(orderId, order)
      .catch((e: unknown) => log.warn({ err: e, orderId }, "could not publish an order's progress"))
      .finally(() => publishing.delete(p));
    publishing.add(p);
    return p;
  }
  async function pushProgress(orderId: string, o: Order | undefined) {
    if (!o) return;
    const p = await blending.progress(orderId, await store.batchesOf(orderId));
    events.emit("progress", orderId, p, o);
    writeDashboardPoints([
      {
        measurement: "blending_order",
        tags: { station: o.station, order: o.id, machine: o.machineId ?? "" },
        fields: {
          targetT: p.targetT,
          producedT: p.producedT,
          progressPct: p.progressPct,
          rateTPerHour: p.rateTPerHour,
          rateTPerDay: p.rateTPerDay,
          bags: p.bags,
          onSchedule: p.onSchedule === false ? 0 : 1,
        },
        ts: clock(),
      },
    ]);
    // For shop-floor displays: the latest progress, retained (PROTOCOL.md "Station topics").
    // A broker that refuses it (an external broker's ACL, say) is said once, and again when it takes them.
    await bus.publish(topics.orderProgress(o.station, o.id), { orderId: o.id, state: o.state, ...p }, { retain: true }).then(
      () => {
        if (progressRefused) log.info({ orderId }, "order progress is published to the broker again");
        progressRefused = false;
      },
      (e: unknown) => {
        if (!progressRefused) log.warn({ err: e, orderId }, "could not publish order progress to the broker (station displays stay behind)");
        progressRefused = true;
      },
    );
  }
  let progressRefused = false;
  /**
   * An order changed here: its progress to live streams, the dashboard and the broker. Changed on another instance
   * (which did the rest): to this instance's live streams only.
   */
  const onOrder = (o: Order, elsewhere: boolean) => {
    if (!elsewhere) return void publishProgress(o.id, o);
    const p: Promise<void> = (async () => {
      events.emit("progress", o.id, await blending.progress(o.id, await store.batchesOf(o.id)), o);
    })()
      .catch((e: unknown) => log.warn({ err: e, orderId: o.id }, "could not read an order's progress after a change elsewhere"))
      .finally(() => publishing.delete(p));
    publishing.add(p);
  };
  blending.events.on("order", onOrder);

  /** Live machine state from telemetry (not durable: it is rebuilt from the next readings). */
  const onReading = (r: AcceptedReading) => {
    if (r.message.family !== "blender" || r.message.kind !== "telemetry") return;
    const t = r.message.body as BlenderTelemetry;
    const prev = machines.get(r.device.id);
    if (prev && prev.ts > r.ts) return; // late data does not rewind the live state
    const moved = !prev || Math.abs(prev.scaleKg - t.scaleKg) > SCALE_NOISE_KG || prev.state !== t.state;
    const lowSince = prev?.lowSince ?? new Map<string, number>();
    const m: MachineState = {
      ts: r.ts,
      state: t.state,
      scaleKg: t.scaleKg,
      scaleMovedAt: moved ? r.ts : (prev?.scaleMovedAt ?? r.ts),
      hopperKg: t.hopperKg,
      lowSince,
    };
    for (const [code, kg] of Object.entries(t.hopperKg)) {
      if (kg < refillLevel(r.device.id, code)) {
        if (!lowSince.has(code)) lowSince.set(code, r.ts);
      } else lowSince.delete(code);
    }
    machines.set(r.device.id, m);
  };

  const refillLevel = (machineId: string, code: string) => {
    const o = blending.openOrders().find((x) => x.machineId === machineId && x.state === "running");
    const f = o && blending.formulaOf(o);
    const perBatch = f && o ? ((f.kgPerTonne[code] ?? 0) * o.batchKg) / 1000 : 0;
    return perBatch > 0 ? REFILL_BATCHES * perBatch : REFILL_DEFAULT_KG;
  };

  return {
    sink,
    events,
    onReading,
    machine: (id: string) => machines.get(id),
    /** Stops following orders and waits for the progress pushes under way (call after the store writer's last batch). */
    async stop(): Promise<void> {
      blending.events.off("order", onOrder);
      await Promise.all([...publishing]);
    },
    async conditions(station?: string): Promise<Condition[]> {
      const now = clock();
      /** A material's names in its station's catalogue, for the texts people read. */
      const nameOf = (st: string, code: string) => {
        const m = blending.catalog(st).get(code);
        return m ? { name: { zh: m.nameZh, en: m.nameEn } } : {};
      };
      const out: Condition[] = [];
      const iso = (t: number) => new Date(t).toISOString();
      for (const d of registry.list({ family: "blender", station })) {
        const st = d.station ?? "";
        const m = machines.get(d.id);
        if (!presence.isOnline(d.id) && isWorking(now, blending.hoursOf(st))) {
          out.push({
            type: "offline",
            station: st,
            machineId: d.id,
            since: iso(presence.get(d.id)?.since ?? now),
            detail: msg("machine_offline_in_hours", {}),
          });
        }
        const lb = lastBatches.get(d.id);
        if (lb?.evaluation && !lb.evaluation.inTolerance) {
          out.push({
            type: "out_of_tolerance",
            station: st,
            machineId: d.id,
            orderId: lb.orderId,
            since: iso(lb.endedAt ?? now),
            detail: msg("batch_out_of_tolerance", {
              batchId: lb.batchId,
              deviations: lb.evaluation.outOfTolerance.map((c) => ({ material: c, ...nameOf(st, c), kg: lb.evaluation?.deviation[c]?.kg ?? 0 })),
            }),
          });
        }
        if (!m) continue;
        if (m.state === "running" && m.ts - m.scaleMovedAt > STALL_MS) {
          out.push({
            type: "stalled",
            station: st,
            machineId: d.id,
            since: iso(m.scaleMovedAt),
            detail: msg("scale_still", { kg: m.scaleKg, seconds: Math.round((m.ts - m.scaleMovedAt) / 1000) }),
          });
        }
        for (const [code, since] of m.lowSince) {
          out.push({
            type: "hopper_low",
            station: st,
            machineId: d.id,
            material: code,
            since: iso(since),
            detail: msg("hopper_below_refill", {
              material: code,
              ...nameOf(st, code),
              kg: m.hopperKg[code] ?? 0,
              refillKg: Math.round(refillLevel(d.id, code)),
            }),
          });
        }
      }
      for (const o of blending.openOrders()) {
        if ((station && o.station !== station) || (o.state !== "running" && o.state !== "paused")) continue;
        const p = await blending.progress(o.id, await store.batchesOf(o.id));
        if (p.onSchedule === false)
          out.push({
            type: "behind_schedule",
            station: o.station,
            orderId: o.id,
            ...(o.machineId ? { machineId: o.machineId } : {}),
            since: iso(now),
            detail: p.eta ? msg("finish_after_due", { eta: p.eta, dueDate: o.dueDate }) : msg("past_due_idle", { dueDate: o.dueDate }),
          });
      }
      return out;
    },
  };
}
export type BlendingMonitor = ReturnType<typeof createBlendingMonitor>;
