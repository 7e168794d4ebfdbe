import { z } from "zod";
import { DeviceIdSchema, RecipeCommandSchema } from "../../devices/index.js";
import { type Access, named, type Place, type Scope, sees } from "../access/scope.js";
import { csvContent, errors, eventStream, withExample } from "../http/schemas.js";
import type { Api } from "../http/server.js";
import { openEventStream } from "../http/sse.js";
import { chinaTime } from "../platform/clock.js";
import { csvCell } from "../platform/csv.js";
import { invalid, notFound } from "../platform/errors.js";
import { type Catalogue, detailFields, type Message } from "../platform/i18n.js";
import type { Registry } from "../registry/registry.js";
import { MaterialSchema } from "./materials.js";
import { blendingMessage } from "./messages.js";
import type { BlendingMonitor } from "./monitor.js";
import { WorkingHoursSchema } from "./schedule.js";
import { type Blending, gradeError } from "./service.js";
import { CROPS, recommend, soilSupplyFromTest } from "./soil.js";
import { formatGrade, type Grade, parseGrade } from "./solver.js";
import type { BatchRecord, BlendingStore, Order as OrderRecord } from "./store.js";

const OPS = ["admin", "operator"] as const;
const READ = ["admin", "operator", "technician"] as const;

import {
  Batches,
  BlendingCondition,
  EXAMPLE_FORMULA,
  EXAMPLE_ORDER,
  EXAMPLE_PROGRESS,
  Formula,
  Grade3,
  KgByMaterial,
  Material,
  ORDER_EVENTS,
  Order,
  OrderId,
  Progress,
  ProgressEvent,
  Station,
  ToleranceSchema,
  Trace,
  views,
} from "./schemas.js";

/** A station's things are at the station, in no town (a caller limited to towns does not reach them). */
const atStation = (station: string): Place => ({ town: null, station });
/** A formula of one station, or for all of them (shared: every caller reads it, only one without limits changes it). */
const formulaPlace = (f: { station: string | null }): Place => (f.station ? atStation(f.station) : { town: null, station: null, shared: true });
const canSee = (s: Scope | null, station: string) => sees(s, atStation(station));

export function blendingRoutes(
  app: Api,
  deps: {
    blending: Blending;
    monitor: BlendingMonitor;
    store: BlendingStore;
    messages: Catalogue;
    access: Access;
    /** A machine named in a body (its place, for the access owner). */
    registry: Pick<Registry, "get">;
  },
) {
  const { blending, monitor, store, messages } = deps;
  deps.access.define("order", async (id) => {
    const o = await blending.order(String(id));
    return o ? atStation(o.station) : null;
  });
  // the order in the path and the machine in the body: unknown or outside the caller's stations, 404 alike
  deps.access.define("order_machine", async (id, _caller, req) => {
    const o = await blending.order(String(id));
    const machineId = (req.body as { machineId?: unknown } | null)?.machineId;
    return [
      { named: "order" as const, id: String(id), place: o ? atStation(o.station) : null },
      ...named("device", typeof machineId === "string" ? [machineId] : [], (m) => deps.registry.get(m) ?? null),
    ];
  });
  deps.access.define("formula", async (id) => {
    const f = await blending.formula(String(id));
    return f ? formulaPlace(f) : null;
  });
  /** An order the access owner has let the caller reach (`touches: { kind: "order" }`). */
  const visibleOrder = async (_s: Scope | null, id: string) => {
    const o = await blending.order(id);
    if (!o) throw notFound("order", id);
    return o;
  };

  app.get(
    "/api/v1/materials",
    {
      config: { roles: READ, touches: { kind: "place", from: "query" } },
      schema: {
        tags: ["blending"],
        operationId: "listMaterials",
        summary: "Raw materials with N-P2O5-K2O and trace content",
        description:
          "The built-in materials and those added for all stations; with `station`, also that station's own (which may redefine a built-in code).",
        querystring: z.object({ station: z.string().optional() }),
        response: {
          200: withExample(
            z.object({ materials: z.array(Material) }),
            { materials: [{ code: "urea", nameZh: "尿素", nameEn: "Urea", n: 46, p2o5: 0, k2o: 0, trace: {}, filler: false }] },
            { description: "The materials a formula may use" },
          ),
        },
      },
    },
    async (req) => ({
      materials: blending.materials(req.query.station),
    }),
  );
  app.post(
    "/api/v1/materials",
    {
      config: { roles: OPS, touches: { kind: "place", from: "body" } },
      schema: {
        tags: ["blending"],
        operationId: "addMaterial",
        summary: "Add a material (for one station, or for all)",
        description:
          "A material for all stations, or one station's own (which may redefine a built-in code there; for all stations that is a 409). The same code again replaces it.",
        body: withExample(MaterialSchema.extend({ station: z.string().min(1).max(64).optional() }), {
          code: "znso4_local",
          nameZh: "本地硫酸锌",
          nameEn: "Local zinc sulphate",
          n: 0,
          p2o5: 0,
          k2o: 0,
          trace: { Zn: 33 },
          station: "QJ-01",
        }),
        response: { 201: Material, ...errors(409) },
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
      config: { roles: READ, touches: { kind: "place", from: "body", read: true } },
      schema: {
        tags: ["blending"],
        operationId: "solveFormula",
        summary: "kg of each material per tonne of a grade; 422 with the reason and the richest grade of that ratio when it cannot be made",
        description:
          "With the default materials (urea, MAP, KCl, filler, and carriers for any trace elements asked for) or those named, from the station's catalogue. A grade too rich for the materials is a 422 whose `details` give the reason and the richest grade of the same ratio.",
        body: withExample(
          z.object({
            grade: z.string(),
            materials: z.array(z.string()).min(1).optional(),
            trace: Trace.optional(),
            station: z.string().optional(),
          }),
          { grade: "15-15-15", trace: { Zn: 0.2 } },
        ),
        response: {
          200: withExample(
            z.object({ grade: z.string(), kgPerTonne: KgByMaterial }),
            { grade: "15-15-15", kgPerTonne: { urea: 217.4, map: 288.5, kcl: 250, filler: 238.4, znso4: 5.7 } },
            { description: "kg of each material in a tonne of the grade" },
          ),
          ...errors(422),
        },
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
      config: { roles: READ, touches: { kind: "place", from: "body", read: true } },
      schema: {
        tags: ["blending"],
        operationId: "recommendFormula",
        summary: "From crop, target yield and soil supply (or soil test values) to nutrients per mu, a grade and a rate (nutrient balance method)",
        description:
          "Give the soil's supply in kg per mu, or soil test values (alkali-hydrolysable N, Olsen P, available K, mg/kg) to estimate it. The grade is the richest the station can blend in the needed ratio (at most 45 %); `kgPerTonne` is null when it cannot be blended. 422 when the soil already supplies everything.",
        body: withExample(
          z
            .object({
              crop: z.enum(CROPS),
              targetYieldKgPerMu: z.number().positive().max(2000),
              soilSupplyKgPerMu: Grade3.optional(),
              soilTest: z
                .object({ alkaliN: z.number().min(0).max(1000), olsenP: z.number().min(0).max(500), availableK: z.number().min(0).max(2000) })
                .optional(),
              efficiency: z
                .object({ n: z.number().min(0.05).max(1), p2o5: z.number().min(0.05).max(1), k2o: z.number().min(0.05).max(1) })
                .optional(),
              station: z.string().optional(),
            })
            .refine((b) => (b.soilSupplyKgPerMu ? !b.soilTest : !!b.soilTest), "hint_soil_one_of"),
          { crop: "rice", targetYieldKgPerMu: 550, soilTest: { alkaliN: 120, olsenP: 15, availableK: 90 } },
        ),
        response: {
          200: withExample(
            z.object({
              nutrientsKgPerMu: Grade3,
              grade: z.string(),
              rateKgPerMu: z.number(),
              soilSupplyKgPerMu: Grade3,
              kgPerTonne: KgByMaterial.nullable(),
            }),
            {
              nutrientsKgPerMu: { n: 9.4, p2o5: 3.1, k2o: 6.2 },
              grade: "23-8-14",
              rateKgPerMu: 41,
              soilSupplyKgPerMu: { n: 5.4, p2o5: 3.1, k2o: 10.8 },
              kgPerTonne: { urea: 403.9, map: 153.8, kcl: 233.3, filler: 209 },
            },
            { description: "Nutrients per mu, the grade that carries them and how much of it per mu" },
          ),
          ...errors(422),
        },
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
      config: { roles: OPS, touches: { kind: "place", from: "body" } },
      schema: {
        tags: ["blending"],
        operationId: "saveFormula",
        summary: "Save a named formula; the same name again is a new version",
        description:
          "Solved as `/formulas/solve` does, and saved with its kg per tonne; orders keep the version they were made with. 422 when the grade cannot be made.",
        body: withExample(
          z.object({
            name: z.string().min(1).max(100),
            grade: z.string(),
            materials: z.array(z.string()).min(1).optional(),
            trace: Trace.optional(),
            station: z.string().optional(),
          }),
          { name: "水稻专用肥", grade: "15-15-15" },
        ),
        response: { 201: Formula, ...errors(422) },
      },
    },
    async (req, reply) => reply.status(201).send(views.formula(await blending.saveFormula(req.body))),
  );
  app.get(
    "/api/v1/formulas",
    {
      config: { roles: READ, touches: "list" },
      schema: {
        tags: ["blending"],
        operationId: "listFormulas",
        summary: "Formulas, every version",
        description: "Every saved version of the formulas for all stations and for the stations the caller may see.",
        response: {
          200: withExample(z.object({ formulas: z.array(Formula) }), { formulas: [EXAMPLE_FORMULA] }, { description: "Every formula version" }),
        },
      },
    },
    async (req) => ({
      formulas: (await blending.formulas()).filter((f) => sees(req.principal, formulaPlace(f))).map(views.formula),
    }),
  );
  app.get(
    "/api/v1/formulas/:id",
    {
      config: { roles: READ, touches: { kind: "formula", from: "params" } },
      schema: {
        tags: ["blending"],
        operationId: "getFormula",
        summary: "One formula version",
        description: "By the version's id (each version has its own).",
        params: OrderId,
        response: { 200: Formula, ...errors(404) },
      },
    },
    async (req) => {
      const f = await blending.formula(req.params.id);
      if (!f) throw notFound("formula", req.params.id);
      return views.formula(f);
    },
  );

  app.post(
    "/api/v1/stations",
    {
      config: { roles: ["admin"], touches: "everything" },
      schema: {
        tags: ["blending"],
        operationId: "putStation",
        summary: "Register a station (or change its name and working hours, China time)",
        description:
          "Working hours (08:00–12:00 and 13:30–17:00 every day unless given) set when an order's finish is expected and when an idle machine is a problem.",
        body: withExample(
          z.object({
            id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
            name: z.string().min(1).max(100),
            workingHours: WorkingHoursSchema.optional(),
          }),
          { id: "QJ-01", name: "綦江智能配肥站", workingHours: { periods: [["08:00", "17:00"]], days: [1, 2, 3, 4, 5, 6] } },
        ),
        response: { 201: Station },
      },
    },
    async (req, reply) => reply.status(201).send(views.station(await blending.putStation(req.body))),
  );
  app.get(
    "/api/v1/stations",
    {
      config: { roles: READ, touches: "list" },
      schema: {
        tags: ["blending"],
        operationId: "listStations",
        summary: "Stations and their working hours",
        description: "The stations the key may see (an operator limited to stations sees only those).",
        response: {
          200: withExample(
            z.object({ stations: z.array(Station) }),
            {
              stations: [
                {
                  id: "QJ-01",
                  name: "綦江智能配肥站",
                  hours: { periods: [["08:00", "17:00"]], days: [1, 2, 3, 4, 5] },
                  createdAt: "2025-03-01T02:00:00.000Z",
                },
              ],
            },
            { description: "Stations in the key's scope" },
          ),
        },
      },
    },
    async (req) => ({
      stations: blending
        .stations()
        .filter((s) => canSee(req.principal, s.id))
        .map(views.station),
    }),
  );

  app.post(
    "/api/v1/orders",
    {
      config: { roles: OPS, touches: { kind: "place", from: "body" } },
      schema: {
        tags: ["blending"],
        operationId: "createOrder",
        summary: "Create an order",
        description:
          "For a registered station and an existing formula version (422 otherwise); 403 for a station outside the key's stations. Tolerances per material override the defaults (1 % of the target for main materials, 0.2 kg for trace carriers).",
        body: withExample(
          z.object({
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
          {
            station: "QJ-01",
            customer: "三角镇种植合作社",
            crop: "水稻",
            formulaId: "6b0c1e52-8d7a-4f3e-9a21-4c5d6e7f8a90",
            targetT: 300,
            dueDate: "2025-12-05",
          },
        ),
        response: { 201: Order, ...errors(422) },
      },
    },
    async (req, reply) => {
      return reply.status(201).send(views.order(await blending.createOrder(req.body)));
    },
  );
  app.get(
    "/api/v1/orders",
    {
      config: { roles: READ, touches: "list" },
      schema: {
        tags: ["blending"],
        operationId: "listOrders",
        summary: "Orders",
        description: "Orders of the stations the key may see, by station and state.",
        querystring: z.object({ station: z.string().optional(), state: z.enum(["planned", "running", "paused", "finished"]).optional() }),
        response: { 200: withExample(z.object({ orders: z.array(Order) }), { orders: [EXAMPLE_ORDER] }, { description: "The orders that match" }) },
      },
    },
    async (req) => ({
      orders: (await blending.orders(req.query.state))
        .filter(
          (o) =>
            canSee(req.principal, o.station) &&
            (!req.query.station || o.station === req.query.station) &&
            (!req.query.state || o.state === req.query.state),
        )
        .map(views.order),
    }),
  );
  app.get(
    "/api/v1/orders/:id",
    {
      config: { roles: READ, touches: { kind: "order", from: "params" } },
      schema: {
        tags: ["blending"],
        operationId: "getOrder",
        summary: "An order with its progress and time to finish",
        description:
          "Progress counts completed batches; the rate is over the last working hour (a working day when that holds fewer than 3 batches), and the finish is that rate carried through the station's working hours.",
        params: OrderId,
        response: {
          200: withExample(
            z.object({ ...Order.shape, formula: Formula.nullable(), ...Progress }),
            { ...EXAMPLE_ORDER, formula: EXAMPLE_FORMULA, ...EXAMPLE_PROGRESS },
            { description: "The order, its formula version, and its progress" },
          ),
          ...errors(404),
        },
      },
    },
    async (req) => {
      const o = await visibleOrder(req.principal, req.params.id);
      const formula = await blending.formula(o.formulaId);
      return { ...views.order(o), formula: formula ? views.formula(formula) : null, ...(await blending.progress(o.id, await store.batchesOf(o.id))) };
    },
  );
  app.post(
    "/api/v1/orders/:id/start",
    {
      config: { roles: OPS, touches: { kind: "order_machine", from: "params" } },
      schema: {
        tags: ["blending"],
        operationId: "startOrder",
        summary: "Start (or resume) the order on a machine: sends the recipe on blender/{id}/cmd/recipe",
        description:
          "The recipe is retained, so a machine that reconnects gets it. 404 for an unknown machine or one outside the caller's stations (as for an unknown order); 422 when the machine is not a blending machine of the order's station, 409 when the order is finished or the machine is running another order.",
        params: OrderId,
        body: withExample(z.object({ machineId: DeviceIdSchema }), { machineId: "QJ-BM-01" }),
        response: {
          200: withExample(
            z.object({ order: Order, recipe: RecipeCommandSchema }),
            {
              order: EXAMPLE_ORDER,
              recipe: {
                orderId: "ORD-3F9A1C2B",
                formula: { id: "6b0c1e52-8d7a-4f3e-9a21-4c5d6e7f8a90", name: "水稻专用肥", version: 2, grade: "15-15-15" },
                batchKg: 1000,
                bagKg: 50,
                bagsPerBatch: 20,
                targetT: 300,
                materials: [
                  { code: "urea", kg: 217.4, tolerance: { relPct: 1 } },
                  { code: "map", kg: 288.5, tolerance: { relPct: 1 } },
                  { code: "kcl", kg: 250, tolerance: { relPct: 1 } },
                  { code: "filler", kg: 244.1, tolerance: { relPct: 1 } },
                ],
              },
            },
            { description: "The order, now running, and the recipe sent to the machine" },
          ),
          ...errors(404, 409, 422),
        },
      },
    },
    async (req) => {
      await visibleOrder(req.principal, req.params.id);
      const started = await blending.start(req.params.id, req.body.machineId);
      return { ...started, order: views.order(started.order) };
    },
  );
  for (const action of ["pause", "finish"] as const) {
    app.post(
      `/api/v1/orders/:id/${action}`,
      {
        config: { roles: OPS, touches: { kind: "order", from: "params" } },
        schema: {
          tags: ["blending"],
          operationId: action === "pause" ? "pauseOrder" : "finishOrder",
          summary: `${action === "pause" ? "Pause" : "Finish"} the order (a command to its machine)`,
          description:
            action === "pause"
              ? "The machine stops after the batch it is making; 409 when the order is not running."
              : "The machine stops after the batch it is making and its retained recipe is cleared; finishing a finished order changes nothing.",
          params: OrderId,
          response: { 200: Order, ...(action === "pause" ? errors(404, 409) : errors(404)) },
        },
      },
      async (req) => {
        await visibleOrder(req.principal, req.params.id);
        return views.order(await (action === "pause" ? blending.pause(req.params.id) : blending.finish(req.params.id)));
      },
    );
  }

  app.get(
    "/api/v1/orders/:id/batches",
    {
      config: { roles: READ, touches: { kind: "order", from: "params" } },
      schema: {
        tags: ["blending"],
        operationId: "listOrderBatches",
        summary: "Batch records; format=csv for the quality file (UTF-8 with BOM, Chinese headers)",
        description:
          "Per batch: target and actual kg per material, deviation against the tolerance, the actual N-P-K, duration, bags and the ISA-88 events. `format=csv` gives the same as a file for the quality record.",
        params: OrderId,
        querystring: z.object({ format: z.enum(["json", "csv"]).default("json") }),
        response: {
          200: {
            description: "The batch records: JSON, or with `format=csv` a CSV file",
            content: {
              "application/json": { schema: Batches },
              ...csvContent(
                "批次号,订单号,设备,状态,开始时间,结束时间,时长(秒),袋数,目标重量(kg),实际重量(kg),各原料偏差(kg),实际养分 N-P2O5-K2O(%),是否合格,超差原料,保持次数\r\nB-0120,ORD-3F9A1C2B,QJ-BM-01,完成,2025-11-28 10:10,2025-11-28 10:15,300,20,urea:217.4; map:288.5,urea:217.9; map:288.1,urea:0.5; map:-0.4,15-15-15,合格,,0\r\n",
              ),
            },
          },
          ...errors(404),
        },
      },
    },
    async (req, reply) => {
      const o = await visibleOrder(req.principal, req.params.id);
      const records = await store.batchesOf(o.id);
      if (req.query.format === "json") return { orderId: o.id, batches: records.map(view) };
      reply.header("content-type", "text/csv; charset=utf-8").header("content-disposition", `attachment; filename="${o.id}-batches.csv"`);
      return `\uFEFF${toCsv(records, messages.in(req.lang))}`;
    },
  );

  app.get(
    "/api/v1/orders/stream",
    {
      config: { roles: READ, queryKey: true, touches: "list" },
      schema: {
        tags: ["blending"],
        operationId: "streamOrders",
        summary:
          "Server-Sent Events for every open order the key may see (or one station's): `progress` for each at once, then on every batch. One connection for a whole station display",
        description:
          "The console authenticates by its session cookie (EventSource sends it); a machine that cannot set headers may pass its key as `?key=`. Browsers allow six connections to a server, hence one stream for all orders.",
        querystring: z.object({ station: z.string().optional(), key: z.string().optional() }),
        response: { 200: eventStream(ORDER_EVENTS, ProgressEvent) },
      },
    },
    async (req, reply) => {
      const wanted = (station: string) => canSee(req.principal, station) && (!req.query.station || station === req.query.station);
      const stream = openEventStream(req, reply);
      const onProgress = (orderId: string, p: unknown, o: OrderRecord) => {
        if (wanted(o.station)) stream.send("progress", { orderId, ...(p as object) });
      };
      monitor.events.on("progress", onProgress);
      stream.onClose(() => monitor.events.off("progress", onProgress));
      for (const o of blending.openOrders())
        if (o.state !== "finished" && wanted(o.station))
          stream.send("progress", { orderId: o.id, ...(await blending.progress(o.id, await store.batchesOf(o.id))) });
    },
  );

  app.get(
    "/api/v1/orders/:id/stream",
    {
      config: { roles: READ, queryKey: true, touches: { kind: "order", from: "params" } },
      schema: {
        tags: ["blending"],
        operationId: "streamOrder",
        summary: "Server-Sent Events: `progress` on every batch (the console by its session cookie; a machine may pass ?key=)",
        description: "The order's progress at once, then after every batch, as `/orders/{id}` computes it.",
        params: OrderId,
        querystring: z.object({ key: z.string().optional() }),
        response: { 200: eventStream(ORDER_EVENTS, ProgressEvent), ...errors(404) },
      },
    },
    async (req, reply) => {
      const o = await visibleOrder(req.principal, req.params.id);
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
      config: { roles: READ, touches: "list" },
      schema: {
        tags: ["blending"],
        operationId: "listBlendingConditions",
        summary: "Current conditions: out_of_tolerance, stalled, hopper_low, offline (in working hours), behind_schedule",
        description:
          "What needs a person at the stations the key may see now; `detail` is in the reader's language. The same conditions raise alerts.",
        querystring: z.object({ station: z.string().optional() }),
        response: {
          200: withExample(
            z.object({ conditions: z.array(BlendingCondition) }),
            {
              conditions: [
                {
                  type: "hopper_low",
                  station: "QJ-01",
                  machineId: "QJ-BM-01",
                  material: "kcl",
                  since: "2025-11-28T03:20:00.000Z",
                  detail: "kcl 料仓 180 kg，低于补料线 300 kg",
                  detailCode: "hopper_below_refill",
                  detailParams: { material: "kcl", kg: 180, refillKg: 300 },
                },
              ],
            },
            { description: "Conditions in force" },
          ),
        },
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
      .map(csvCell)
      .join(","),
  );
  return [header.join(","), ...lines].join("\r\n") + "\r\n";
}
