import { z } from "zod";
import { DeviceIdSchema } from "../../devices/index.js";
import type { Principal } from "../access/api-keys.js";
import type { Api } from "../http/server.js";
import { openEventStream } from "../http/sse.js";
import { chinaTime } from "../platform/clock.js";
import { DomainError, errorMessage, invalid, notFound } from "../platform/errors.js";
import { type Catalogue, detailFields, type Message } from "../platform/i18n.js";
import { MaterialSchema } from "./materials.js";
import { blendingMessage } from "./messages.js";
import type { BlendingMonitor } from "./monitor.js";
import { WorkingHoursSchema } from "./schedule.js";
import { type Blending, gradeError } from "./service.js";
import { CROPS, recommend, soilSupplyFromTest } from "./soil.js";
import { formatGrade, type Grade, parseGrade } from "./solver.js";
import type { BatchRecord, BlendingStore } from "./store.js";

const OPS = ["admin", "operator"] as const;
const READ = ["admin", "operator", "technician"] as const;
const Trace = z.partialRecord(z.enum(["Zn", "B", "Mn", "Fe", "Cu", "Mo"]), z.number().positive().max(5));
const ToleranceSchema = z.union([z.object({ relPct: z.number().positive().max(20) }), z.object({ absKg: z.number().positive().max(100) })]);
const OrderId = z.object({ id: z.string().min(1).max(64) });
const Grade3 = z.object({ n: z.number().min(0), p2o5: z.number().min(0), k2o: z.number().min(0) });

/** An operator limited to stations sees only theirs. */
const canSee = (p: Principal | null, station: string) => !p?.stations || p.stations.includes(station);

export function blendingRoutes(app: Api, deps: { blending: Blending; monitor: BlendingMonitor; store: BlendingStore; messages: Catalogue }) {
  const { blending, monitor, store, messages } = deps;
  const visibleOrder = (p: Principal | null, id: string) => {
    const o = blending.order(id);
    if (!o || !canSee(p, o.station)) throw notFound("order", id);
    return o;
  };

  app.get(
    "/api/v1/materials",
    {
      config: { roles: READ },
      schema: {
        tags: ["blending"],
        summary: "Raw materials with N-P2O5-K2O and trace content",
        querystring: z.object({ station: z.string().optional() }),
      },
    },
    async (req) => ({
      materials: blending.materials(req.query.station),
    }),
  );
  app.post(
    "/api/v1/materials",
    {
      config: { roles: OPS },
      schema: {
        tags: ["blending"],
        summary: "Add a material (for one station, or for all)",
        body: MaterialSchema.extend({ station: z.string().min(1).max(64).optional() }),
      },
    },
    async (req, reply) => {
      const { station, ...m } = req.body;
      return reply.status(201).send(await blending.addMaterial(station, m));
    },
  );

  app.post(
    "/api/v1/formulas/solve",
    {
      config: { roles: READ },
      schema: {
        tags: ["blending"],
        summary: "kg of each material per tonne of a grade; 422 with the reason and the richest grade of that ratio when it cannot be made",
        body: z.object({
          grade: z.string(),
          materials: z.array(z.string()).min(1).optional(),
          trace: Trace.optional(),
          station: z.string().optional(),
        }),
      },
    },
    async (req) => {
      const grade = parseGrade(req.body.grade);
      if (!grade) throw invalid(blendingMessage("grade_format", { grade: req.body.grade }));
      const r = blending.solveFor(grade, req.body.materials, req.body.trace ?? {}, req.body.station);
      if (!r.ok) throw gradeError(r);
      return { grade: formatGrade(r.grade), kgPerTonne: r.kgPerTonne };
    },
  );

  app.post(
    "/api/v1/formulas/recommend",
    {
      config: { roles: READ },
      schema: {
        tags: ["blending"],
        summary: "From crop, target yield and soil supply (or soil test values) to nutrients per mu, a grade and a rate (nutrient balance method)",
        body: z
          .object({
            crop: z.enum(CROPS),
            targetYieldKgPerMu: z.number().positive().max(2000),
            soilSupplyKgPerMu: Grade3.optional(),
            soilTest: z
              .object({ alkaliN: z.number().min(0).max(1000), olsenP: z.number().min(0).max(500), availableK: z.number().min(0).max(2000) })
              .optional(),
            efficiency: z.object({ n: z.number().min(0.05).max(1), p2o5: z.number().min(0.05).max(1), k2o: z.number().min(0.05).max(1) }).optional(),
            station: z.string().optional(),
          })
          .refine((b) => (b.soilSupplyKgPerMu ? !b.soilTest : !!b.soilTest), "hint_soil_one_of"),
      },
    },
    async (req) => {
      const b = req.body;
      const supply = b.soilSupplyKgPerMu ?? soilSupplyFromTest(b.soilTest ?? { alkaliN: 0, olsenP: 0, availableK: 0 });
      const richestTotal = (ratio: Grade) => blending.richestTotal(ratio, b.station);
      const rec = recommend({
        crop: b.crop,
        targetYieldKgPerMu: b.targetYieldKgPerMu,
        soilSupplyKgPerMu: supply,
        efficiency: b.efficiency,
        richestTotal,
      });
      if ("error" in rec) throw invalid(rec.error);
      const solved = blending.solveFor(rec.grade, undefined, {}, b.station);
      return { ...rec, grade: formatGrade(rec.grade), soilSupplyKgPerMu: supply, kgPerTonne: solved.ok ? solved.kgPerTonne : null };
    },
  );

  app.post(
    "/api/v1/formulas",
    {
      config: { roles: OPS },
      schema: {
        tags: ["blending"],
        summary: "Save a named formula; the same name again is a new version",
        body: z.object({
          name: z.string().min(1).max(100),
          grade: z.string(),
          materials: z.array(z.string()).min(1).optional(),
          trace: Trace.optional(),
          station: z.string().optional(),
        }),
      },
    },
    async (req, reply) => reply.status(201).send(await blending.saveFormula(req.body)),
  );
  app.get("/api/v1/formulas", { config: { roles: READ }, schema: { tags: ["blending"], summary: "Formulas, every version" } }, async () => ({
    formulas: blending.formulas(),
  }));
  app.get(
    "/api/v1/formulas/:id",
    { config: { roles: READ }, schema: { tags: ["blending"], summary: "One formula version", params: OrderId } },
    async (req) => {
      const f = blending.formula(req.params.id);
      if (!f) throw notFound("formula", req.params.id);
      return f;
    },
  );

  app.post(
    "/api/v1/stations",
    {
      config: { roles: ["admin"] },
      schema: {
        tags: ["blending"],
        summary: "Register a station (or change its name and working hours, China time)",
        body: z.object({
          id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
          name: z.string().min(1).max(100),
          workingHours: WorkingHoursSchema.optional(),
        }),
      },
    },
    async (req, reply) => reply.status(201).send(await blending.putStation(req.body)),
  );
  app.get(
    "/api/v1/stations",
    { config: { roles: READ }, schema: { tags: ["blending"], summary: "Stations and their working hours" } },
    async (req) => ({
      stations: blending.stations().filter((s) => canSee(req.principal, s.id)),
    }),
  );

  app.post(
    "/api/v1/orders",
    {
      config: { roles: OPS },
      schema: {
        tags: ["blending"],
        summary: "Create an order",
        body: z.object({
          station: z.string(),
          customer: z.string().min(1).max(100),
          crop: z.string().min(1).max(50),
          formulaId: z.string(),
          targetT: z.number().positive().max(100_000),
          bagKg: z.number().positive().max(1000).default(50),
          batchKg: z.number().positive().max(5000).default(1000),
          dueDate: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, "hint_date"),
          tolerances: z.record(z.string(), ToleranceSchema).optional(),
        }),
      },
    },
    async (req, reply) => {
      if (!canSee(req.principal, req.body.station)) throw new DomainError("forbidden", errorMessage("forbidden", { station: req.body.station }));
      return reply.status(201).send(await blending.createOrder(req.body));
    },
  );
  app.get(
    "/api/v1/orders",
    {
      config: { roles: READ },
      schema: {
        tags: ["blending"],
        summary: "Orders",
        querystring: z.object({ station: z.string().optional(), state: z.enum(["planned", "running", "paused", "finished"]).optional() }),
      },
    },
    async (req) => ({
      orders: blending
        .orders()
        .filter(
          (o) =>
            canSee(req.principal, o.station) &&
            (!req.query.station || o.station === req.query.station) &&
            (!req.query.state || o.state === req.query.state),
        ),
    }),
  );
  app.get(
    "/api/v1/orders/:id",
    { config: { roles: READ }, schema: { tags: ["blending"], summary: "An order with its progress and time to finish", params: OrderId } },
    async (req) => {
      const o = visibleOrder(req.principal, req.params.id);
      return { ...o, formula: blending.formula(o.formulaId) ?? null, ...(await blending.progress(o.id, await store.batchesOf(o.id))) };
    },
  );
  app.post(
    "/api/v1/orders/:id/start",
    {
      config: { roles: OPS },
      schema: {
        tags: ["blending"],
        summary: "Start (or resume) the order on a machine: sends the recipe on blender/{id}/cmd/recipe",
        params: OrderId,
        body: z.object({ machineId: DeviceIdSchema }),
      },
    },
    async (req) => {
      visibleOrder(req.principal, req.params.id);
      return blending.start(req.params.id, req.body.machineId);
    },
  );
  for (const action of ["pause", "finish"] as const) {
    app.post(
      `/api/v1/orders/:id/${action}`,
      {
        config: { roles: OPS },
        schema: { tags: ["blending"], summary: `${action === "pause" ? "Pause" : "Finish"} the order (a command to its machine)`, params: OrderId },
      },
      async (req) => {
        visibleOrder(req.principal, req.params.id);
        return action === "pause" ? blending.pause(req.params.id) : blending.finish(req.params.id);
      },
    );
  }

  app.get(
    "/api/v1/orders/:id/batches",
    {
      config: { roles: READ },
      schema: {
        tags: ["blending"],
        summary: "Batch records; format=csv for the quality file (UTF-8 with BOM, Chinese headers)",
        params: OrderId,
        querystring: z.object({ format: z.enum(["json", "csv"]).default("json") }),
      },
    },
    async (req, reply) => {
      const o = visibleOrder(req.principal, req.params.id);
      const records = await store.batchesOf(o.id);
      if (req.query.format === "json") return { orderId: o.id, batches: records.map(view) };
      reply.header("content-type", "text/csv; charset=utf-8").header("content-disposition", `attachment; filename="${o.id}-batches.csv"`);
      return `\uFEFF${toCsv(records, messages.in(req.lang))}`;
    },
  );

  app.get(
    "/api/v1/orders/stream",
    {
      config: { roles: READ, queryKey: true },
      schema: {
        tags: ["blending"],
        summary:
          "Server-Sent Events for every open order the key may see (or one station's): `progress` for each at once, then on every batch. One connection for a whole station display",
        querystring: z.object({ station: z.string().optional(), key: z.string().optional() }),
      },
    },
    async (req, reply) => {
      const wanted = (station: string) => canSee(req.principal, station) && (!req.query.station || station === req.query.station);
      const stream = openEventStream(req, reply);
      const onProgress = (orderId: string, p: unknown) => {
        const o = blending.order(orderId);
        if (o && wanted(o.station)) stream.send("progress", { orderId, ...(p as object) });
      };
      monitor.events.on("progress", onProgress);
      stream.onClose(() => monitor.events.off("progress", onProgress));
      for (const o of blending.orders())
        if (o.state !== "finished" && wanted(o.station))
          stream.send("progress", { orderId: o.id, ...(await blending.progress(o.id, await store.batchesOf(o.id))) });
    },
  );

  app.get(
    "/api/v1/orders/:id/stream",
    {
      config: { roles: READ, queryKey: true },
      schema: {
        tags: ["blending"],
        summary: "Server-Sent Events: `progress` on every batch (browsers may pass the key as ?key=)",
        params: OrderId,
        querystring: z.object({ key: z.string().optional() }),
      },
    },
    async (req, reply) => {
      const o = visibleOrder(req.principal, req.params.id);
      const stream = openEventStream(req, reply);
      stream.send("progress", { orderId: o.id, ...(await blending.progress(o.id, await store.batchesOf(o.id))) });
      const onProgress = (orderId: string, p: unknown) => {
        if (orderId === o.id) stream.send("progress", { orderId, ...(p as object) });
      };
      monitor.events.on("progress", onProgress);
      stream.onClose(() => monitor.events.off("progress", onProgress));
    },
  );

  app.get(
    "/api/v1/blending/conditions",
    {
      config: { roles: READ },
      schema: {
        tags: ["blending"],
        summary: "Current conditions: out_of_tolerance, stalled, hopper_low, offline (in working hours), behind_schedule",
        querystring: z.object({ station: z.string().optional() }),
      },
    },
    async (req) => ({
      conditions: (await monitor.conditions(req.query.station))
        .filter((c) => canSee(req.principal, c.station))
        .map((c) => ({ ...c, ...detailFields(messages.in(req.lang), c.detail) })),
    }),
  );
}

const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
function view(b: BatchRecord) {
  return {
    batchId: b.batchId,
    orderId: b.orderId,
    machineId: b.machineId,
    state: b.state,
    startedAt: iso(b.startedAt),
    endedAt: iso(b.endedAt),
    durationS: b.startedAt !== null && b.endedAt !== null ? Math.round((b.endedAt - b.startedAt) / 1000) : null,
    bags: b.bags,
    targetKg: b.targetKg,
    actualKg: b.actualKg,
    held: b.heldCount > 0,
    heldCount: b.heldCount,
    inTolerance: b.evaluation?.inTolerance ?? null,
    outOfTolerance: b.evaluation?.outOfTolerance ?? [],
    deviation: b.evaluation?.deviation ?? null,
    actualGrade: b.evaluation?.actualGrade ?? null,
    events: b.events.map((e) => ({ ...e, ts: new Date(e.ts).toISOString() })),
  };
}

/** The quality file: one row per batch, times in China time, states and verdicts in the reader's language; headers in Chinese. */
function toCsv(records: BatchRecord[], render: (m: Message) => string): string {
  const rows = records.map(view);
  const header = [
    "批次号",
    "订单号",
    "设备",
    "状态",
    "开始时间",
    "结束时间",
    "时长(秒)",
    "袋数",
    "目标重量(kg)",
    "实际重量(kg)",
    "各原料偏差(kg)",
    "实际养分 N-P2O5-K2O(%)",
    "是否合格",
    "超差原料",
    "保持次数",
  ];
  const cell = (v: unknown) => {
    const s = v === null || v === undefined ? "" : String(v);
    return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  const kg = (m: Record<string, number> | null) =>
    m
      ? Object.entries(m)
          .map(([c, v]) => `${c}:${v}`)
          .join("; ")
      : "";
  const time = (t: number | null) => (t === null ? "" : chinaTime(t));
  const lines = rows.map((r, i) =>
    [
      r.batchId,
      r.orderId,
      r.machineId,
      render(blendingMessage("batch_state", { state: r.state })),
      time(records[i]?.startedAt ?? null),
      time(records[i]?.endedAt ?? null),
      r.durationS,
      r.bags,
      kg(r.targetKg),
      kg(r.actualKg),
      r.deviation
        ? Object.entries(r.deviation)
            .map(([c, d]) => `${c}:${d.kg}`)
            .join("; ")
        : "",
      r.actualGrade ? `${r.actualGrade.n}-${r.actualGrade.p2o5}-${r.actualGrade.k2o}` : "",
      r.inTolerance === null ? "" : render(blendingMessage("batch_in_tolerance", { ok: r.inTolerance })),
      r.outOfTolerance.join("; "),
      r.heldCount,
    ]
      .map(cell)
      .join(","),
  );
  return [header.join(","), ...lines].join("\r\n") + "\r\n";
}
