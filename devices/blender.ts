import { z } from "zod";
import { TimestampSchema } from "./time.js";

/** Material codes: lower-case letters, digits and `_`, as in DOMAIN.md §3 (urea, map, kcl, znso4…). */
export const MaterialCodeSchema = z.string().regex(/^[a-z0-9_]{1,32}$/, "hint_material_code");
/** kg per material; a hopper or batch never holds more than 20 t of one material. */
const KgByMaterial = z.record(MaterialCodeSchema, z.number().min(0).max(20_000)).refine((m) => Object.keys(m).length <= 32, "hint_materials_max");

/**
 * The most one batch can weigh: the weigh scale reads up to 5,000 kg (`scaleKg` below) and a recipe's batch is at most
 * that (`batchKg` in cmd/recipe). DOMAIN.md §1 makes 1 t batches; a batch event whose materials add up to more cannot be
 * real and is rejected (`batch_over_capacity`, PROTOCOL.md §2).
 */
export const BATCH_MAX_KG = 5_000;
/** The materials of a batch event added up, in kg. */
export const batchTotalKg = (kg: Record<string, number> | undefined): number => Object.values(kg ?? {}).reduce((s, x) => s + x, 0);

export const MACHINE_STATES = ["idle", "running", "held", "paused", "stopped", "fault"] as const;

export const BlenderTelemetrySchema = z.object({
  ts: TimestampSchema,
  state: z.enum(MACHINE_STATES),
  hopperKg: KgByMaterial,
  scaleKg: z.number().min(-50).max(BATCH_MAX_KG), // small negative values are tare drift
  mixerA: z.number().min(0).max(200),
  bagsTotal: z.number().int().min(0).max(1e9),
});
export type BlenderTelemetry = z.infer<typeof BlenderTelemetrySchema>;

const BatchBase = {
  ts: TimestampSchema,
  batchId: z.string().min(1).max(64),
  orderId: z.string().min(1).max(64),
};
const Reason = z.string().min(1).max(200);

/** Batch events follow ISA-88 batch states (DOMAIN.md §3): started → (held ⇄ resumed) → completed | aborted. */
export const BlenderBatchSchema = z.discriminatedUnion("event", [
  z.object({ ...BatchBase, event: z.literal("started"), targetKg: KgByMaterial }),
  z.object({ ...BatchBase, event: z.literal("completed"), actualKg: KgByMaterial, bags: z.number().int().min(0).max(1000) }),
  z.object({ ...BatchBase, event: z.literal("held"), reason: Reason, actualKg: KgByMaterial.optional() }),
  z.object({ ...BatchBase, event: z.literal("resumed"), reason: Reason.optional() }),
  z.object({ ...BatchBase, event: z.literal("aborted"), reason: Reason.optional(), actualKg: KgByMaterial.optional() }),
]);
export type BlenderBatch = z.infer<typeof BlenderBatchSchema>;

export const BLENDER_REPORT_INTERVAL_S = 10;

/* Service → machine commands on blender/{id}/cmd/{name}, QoS 1. */

const ToleranceSchema = z.union([
  z.object({ relPct: z.number().positive().max(20) }), // main materials: % of the target
  z.object({ absKg: z.number().positive().max(100) }), // trace elements: kg either side
]);

/** cmd/recipe (retained, so a machine that reconnects gets it; an empty retained payload clears it). */
export const RecipeCommandSchema = z.object({
  orderId: z.string().min(1).max(64),
  formula: z.object({ id: z.string(), name: z.string(), version: z.number().int().positive(), grade: z.string() }),
  batchKg: z.number().positive().max(BATCH_MAX_KG),
  bagKg: z.number().positive().max(1000),
  bagsPerBatch: z.number().int().min(0),
  targetT: z.number().positive(),
  materials: z.array(z.object({ code: MaterialCodeSchema, kg: z.number().min(0), tolerance: ToleranceSchema })).min(1),
});
export type RecipeCommand = z.infer<typeof RecipeCommandSchema>;

/** cmd/pause and cmd/finish: stop after the current batch; finish also ends the order. */
export const OrderCommandSchema = z.object({ orderId: z.string().min(1).max(64) });
export type OrderCommand = z.infer<typeof OrderCommandSchema>;
