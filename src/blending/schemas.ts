import { z } from "zod";
import { DateOnly, IsoTime, MessageCode, MessageParams, withExample } from "../http/schemas.js";
import { MaterialSchema } from "./materials.js";
import { WorkingHoursSchema } from "./schedule.js";

/** What the blending routes take and answer: their zod schemas, with the examples the OpenAPI document shows. */
export const Trace = z.partialRecord(z.enum(["Zn", "B", "Mn", "Fe", "Cu", "Mo"]), z.number().positive().max(5));
export const ToleranceSchema = z.union([z.object({ relPct: z.number().positive().max(20) }), z.object({ absKg: z.number().positive().max(100) })]);
export const OrderId = z.object({ id: z.string().min(1).max(64) });
export const Grade3 = z.object({ n: z.number().min(0), p2o5: z.number().min(0), k2o: z.number().min(0) });

// What the routes answer. Times are ISO 8601, as everywhere in the API (the routes convert the stored epoch ms: `views`).
export const KgByMaterial = z.record(z.string(), z.number());
export const Material = withExample(
  MaterialSchema.extend({
    station: z.string().optional().describe('A station\'s own material ("": added for all stations); absent for built-in ones'),
  }),
  { code: "urea", nameZh: "尿素", nameEn: "Urea", n: 46, p2o5: 0, k2o: 0, trace: {}, filler: false },
  { id: "Material", description: "A raw material: N-P2O5-K2O and trace elements, % by mass" },
);
export const EXAMPLE_FORMULA = {
  id: "6b0c1e52-8d7a-4f3e-9a21-4c5d6e7f8a90",
  name: "水稻专用肥",
  version: 2,
  station: null,
  grade: "15-15-15",
  kgPerTonne: { urea: 217.4, map: 288.5, kcl: 250, filler: 244.1 },
  trace: {},
  materials: ["urea", "map", "kcl", "filler"],
  createdAt: "2025-11-27T08:00:00.000Z",
};
export const Formula = withExample(
  z.object({
    id: z.string(),
    name: z.string(),
    version: z.number().int(),
    station: z.string().nullable(),
    grade: z.string(),
    kgPerTonne: KgByMaterial,
    trace: z.record(z.string(), z.number()),
    materials: z.array(z.string()),
    createdAt: IsoTime,
  }),
  EXAMPLE_FORMULA,
  { id: "Formula", description: "A saved formula version: kg of each material per tonne of its grade" },
);
export const Station = withExample(
  z.object({ id: z.string(), name: z.string(), hours: WorkingHoursSchema, createdAt: IsoTime }),
  {
    id: "QJ-01",
    name: "綦江智能配肥站",
    hours: {
      periods: [
        ["08:00", "12:00"],
        ["13:30", "17:00"],
      ],
      days: [1, 2, 3, 4, 5, 6, 7],
    },
    createdAt: "2025-03-01T02:00:00.000Z",
  },
  { id: "Station", description: "A blending station and its working hours (China time)" },
);
export const EXAMPLE_ORDER = {
  id: "ORD-3F9A1C2B",
  station: "QJ-01",
  customer: "三角镇种植合作社",
  crop: "水稻",
  formulaId: "6b0c1e52-8d7a-4f3e-9a21-4c5d6e7f8a90",
  targetT: 300,
  bagKg: 50,
  batchKg: 1000,
  dueDate: "2025-12-05",
  tolerances: {},
  state: "running" as const,
  machineId: "QJ-BM-01",
  createdAt: "2025-11-27T08:00:00.000Z",
  updatedAt: "2025-11-27T10:00:00.000Z",
};
export const Order = withExample(
  z.object({
    id: z.string(),
    station: z.string(),
    customer: z.string(),
    crop: z.string(),
    formulaId: z.string(),
    targetT: z.number(),
    bagKg: z.number(),
    batchKg: z.number(),
    dueDate: DateOnly,
    tolerances: z.record(z.string(), ToleranceSchema),
    state: z.enum(["planned", "running", "paused", "finished"]),
    machineId: z.string().nullable(),
    createdAt: IsoTime,
    updatedAt: IsoTime,
  }),
  EXAMPLE_ORDER,
  { id: "Order", description: "A customer's order for a station: tonnes of a formula, in bags, by a date" },
);
export const Progress = {
  targetT: z.number(),
  producedT: z.number(),
  progressPct: z.number(),
  bags: z.number().int(),
  batches: z.number().int(),
  rateTPerHour: z.number(),
  rateTPerDay: z.number(),
  rateWindowH: z.number().describe("The working time the rate was measured over"),
  eta: IsoTime.nullable().describe("When the order will be done at the recent rate, in working hours (null: nothing made recently)"),
  dueDate: DateOnly,
  onSchedule: z.boolean().nullable(),
};
export const EXAMPLE_PROGRESS = {
  targetT: 300,
  producedT: 120,
  progressPct: 40,
  bags: 2400,
  batches: 120,
  rateTPerHour: 12,
  rateTPerDay: 90,
  rateWindowH: 1,
  eta: "2025-12-01T06:30:00.000Z",
  dueDate: "2025-12-05",
  onSchedule: true,
};
export const ProgressEvent = withExample(
  z.object({ orderId: z.string(), ...Progress }),
  { orderId: "ORD-3F9A1C2B", ...EXAMPLE_PROGRESS },
  { id: "OrderProgress", description: "An order's progress and time to finish" },
);
export const ORDER_EVENTS =
  "Server-Sent Events: `event: progress`, whose `data` is the JSON shown (an order's progress), and a `: keep-alive` comment every 15 s";
export const BatchView = z.object({
  batchId: z.string(),
  orderId: z.string(),
  machineId: z.string(),
  state: z.enum(["running", "held", "complete", "aborted"]),
  startedAt: IsoTime.nullable(),
  endedAt: IsoTime.nullable(),
  durationS: z.number().nullable(),
  bags: z.number().int(),
  targetKg: KgByMaterial.nullable(),
  actualKg: KgByMaterial.nullable(),
  held: z.boolean(),
  heldCount: z.number().int(),
  inTolerance: z.boolean().nullable(),
  outOfTolerance: z.array(z.string()),
  deviation: z
    .record(
      z.string(),
      z.object({ targetKg: z.number(), actualKg: z.number(), kg: z.number(), pct: z.number().nullable(), limitKg: z.number(), ok: z.boolean() }),
    )
    .nullable(),
  actualGrade: z.object({ n: z.number(), p2o5: z.number(), k2o: z.number() }).nullable(),
  events: z.array(z.object({ ts: IsoTime, event: z.string(), reason: z.string().optional() })),
});
export const Batches = withExample(
  z.object({ orderId: z.string(), batches: z.array(BatchView) }),
  {
    orderId: "ORD-3F9A1C2B",
    batches: [
      {
        batchId: "B-0120",
        orderId: "ORD-3F9A1C2B",
        machineId: "QJ-BM-01",
        state: "complete",
        startedAt: "2025-11-28T02:10:00.000Z",
        endedAt: "2025-11-28T02:15:00.000Z",
        durationS: 300,
        bags: 20,
        targetKg: { urea: 217.4, map: 288.5, kcl: 250, filler: 244.1 },
        actualKg: { urea: 217.9, map: 288.1, kcl: 250.4, filler: 243.8 },
        held: false,
        heldCount: 0,
        inTolerance: true,
        outOfTolerance: [],
        deviation: { urea: { targetKg: 217.4, actualKg: 217.9, kg: 0.5, pct: 0.23, limitKg: 2.17, ok: true } },
        actualGrade: { n: 15, p2o5: 15, k2o: 15 },
        events: [
          { ts: "2025-11-28T02:10:00.000Z", event: "started" },
          { ts: "2025-11-28T02:15:00.000Z", event: "completed" },
        ],
      },
    ],
  },
  { description: "The order's batch records" },
);
export const BlendingCondition = z.object({
  type: z.enum(["out_of_tolerance", "stalled", "hopper_low", "offline", "behind_schedule"]),
  station: z.string(),
  machineId: z.string().optional(),
  orderId: z.string().optional(),
  material: z.string().optional().describe("hopper_low: which hopper"),
  since: IsoTime,
  detail: z.string().describe("In the reader's language"),
  detailCode: MessageCode.nullable(),
  detailParams: MessageParams.nullable(),
});

const iso = (t: number) => new Date(t).toISOString();
/** A stored formula, order or station as the API answers it: its times as ISO 8601. */
export const views = {
  formula: <F extends { createdAt: number }>(f: F) => ({ ...f, createdAt: iso(f.createdAt) }),
  order: <O extends { createdAt: number; updatedAt: number }>(o: O) => ({ ...o, createdAt: iso(o.createdAt), updatedAt: iso(o.updatedAt) }),
  station: <S extends { createdAt: number }>(st: S) => ({ ...st, createdAt: iso(st.createdAt) }),
};
