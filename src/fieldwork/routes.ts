import { z } from "zod";
import { type Access, sees, townsReached } from "../access/scope.js";
import { fileBody } from "../http/file-body.js";
import { DateOnly, errors, Id, IdParam, IsoTime, imageFile, MessageCode, MessageParams, withExample } from "../http/schemas.js";
import type { Api } from "../http/server.js";
import { invalid, notFound } from "../platform/errors.js";
import type { Catalogue, Message } from "../platform/i18n.js";
import { fieldworkMessage as msg } from "./messages.js";
import { idempotency, PhotoTaken } from "./once.js";
import { sendImage } from "./photo.js";
import { DONE, FOUND, MOVES, STATES } from "./rules.js";
import type { Fieldwork, WorkOrder } from "./service.js";
import type { FieldworkStore } from "./store.js";

const FIELD = ["admin", "operator", "technician"] as const;
const TimeToRepair = z.object({
  cause: z.string().describe("The first thing found on site (a `found` code), or `unknown`"),
  repairs: z.number().int(),
  medianH: z.number(),
  p90H: z.number(),
});
const IMAGE_TYPES = ["image/jpeg", "image/png", "application/octet-stream"];
/** How long an Idempotency-Key's answer is kept (a phone resends what it made offline within days). */
export const ANSWERS_KEPT_MS = 30 * 86_400_000;

const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
const Severity = z.enum(["critical", "major", "minor"]);
const Said = { text: z.string().optional(), textCode: MessageCode.optional(), textParams: MessageParams.optional() };
const Where = {
  at: IsoTime.optional().describe("When it happened on the phone (an entry made offline is sent later); default: now"),
  lat: z.number().min(-90).max(90).optional(),
  lon: z.number().min(-180).max(180).optional(),
};

const EXAMPLE_ORDER = {
  id: "3f2a9c1e-8b7d-4e6f-a5c4-1d2e3f4a5b6c",
  town: "来苏镇",
  lights: [{ id: "YC-LS-0001", village: "梳妆台村", lat: 29.3512, lon: 105.9113 }],
  alertIds: ["a7c3e9d2-41b8-4f6a-9e0d-2b5c8f1a3d47"],
  types: ["dark"],
  problem: "灯不亮",
  priority: "major" as const,
  dueAt: "2025-12-01T10:42:00.000Z",
  assignee: "李师傅",
  state: "on_site" as const,
  stateText: "已到场",
  reason: null,
  createdAt: "2025-11-28T10:42:00.000Z",
  createdBy: "李师傅",
  updatedAt: "2025-11-28T14:02:00.000Z",
  closedAt: null,
  reopened: 0,
  checkIns: [
    {
      at: "2025-11-28T14:02:00.000Z",
      who: "李师傅",
      lat: 29.3513,
      lon: 105.9112,
      accuracyM: 8,
      poleId: "YC-LS-0001",
      distanceM: 14,
      flagged: false,
    },
  ],
  record: null,
  photos: [],
  proof: null,
  history: [
    { at: "2025-11-28T10:42:00.000Z", receivedAt: "2025-11-28T10:42:00.000Z", who: "李师傅", action: "created" as const, lat: null, lon: null },
    {
      at: "2025-11-28T14:02:00.000Z",
      receivedAt: "2025-11-28T14:02:01.000Z",
      who: "李师傅",
      action: "on_site" as const,
      lat: 29.3513,
      lon: 105.9112,
    },
  ],
};
const PhotoFields = z.object({
  id: z.string(),
  mediaType: z.enum(["image/jpeg", "image/png"]),
  bytes: z.number().int(),
  at: IsoTime,
  who: z.string(),
  takenAt: IsoTime.nullable().describe("When the photo was taken (its EXIF time, China time unless it says its offset)"),
  gps: z.object({ lat: z.number(), lon: z.number() }).nullable().describe("Where (its EXIF GPS); the file itself keeps no metadata"),
  url: z.string().describe("The image (served only to callers who may see the work order)"),
});
const EXAMPLE_PHOTO = {
  id: "9b1c2d3e-4f5a-4b6c-8d7e-0f1a2b3c4d5e",
  mediaType: "image/jpeg" as const,
  bytes: 184_320,
  at: "2025-11-28T14:10:00.000Z",
  who: "李师傅",
  takenAt: "2025-11-28T14:09:41.000Z",
  gps: { lat: 29.3513, lon: 105.9112 },
  url: "/api/v1/work-orders/3f2a9c1e-8b7d-4e6f-a5c4-1d2e3f4a5b6c/photos/9b1c2d3e-4f5a-4b6c-8d7e-0f1a2b3c4d5e",
};
const PhotoSchema = withExample(PhotoFields, EXAMPLE_PHOTO, {
  id: "WorkOrderPhoto",
  description: "A photo of a work order, kept without its metadata",
});
const WorkOrderSchema = withExample(
  z.object({
    id: z.string(),
    town: z.string(),
    lights: z.array(z.object({ id: z.string(), village: z.string().nullable(), lat: z.number().nullable(), lon: z.number().nullable() })),
    alertIds: z.array(z.string()),
    types: z.array(z.string()).describe("The alerts' types (what the light must prove), or `manual`"),
    problem: z.string().nullable(),
    priority: Severity,
    dueAt: IsoTime,
    assignee: z.string().nullable(),
    state: z.enum(STATES),
    stateText: z.string().describe("The state in the reader's language"),
    reason: z.string().nullable().describe("Why it cannot be fixed, or was cancelled"),
    createdAt: IsoTime,
    createdBy: z.string(),
    updatedAt: IsoTime,
    closedAt: IsoTime.nullable(),
    reopened: z.number().int().describe("Times the light did not prove a repair and the order came back (0: fixed the first time)"),
    checkIns: z.array(
      z.object({
        at: IsoTime,
        who: z.string(),
        lat: z.number(),
        lon: z.number(),
        accuracyM: z.number().nullable(),
        poleId: z.string().nullable(),
        distanceM: z.number().nullable().describe("From the phone to the order's nearest pole"),
        flagged: z.boolean().describe("Further from the pole than AGRILUME_FIELD_CHECKIN_FLAG_M"),
      }),
    ),
    record: z
      .object({
        found: z.array(z.enum(FOUND)),
        done: z.array(z.enum(DONE)),
        parts: z.array(z.object({ name: z.string(), qty: z.number() })),
        notes: z.string().nullable(),
      })
      .nullable(),
    photos: z.array(PhotoFields),
    proof: z
      .object({
        since: IsoTime,
        lights: z.record(
          z.string(),
          z.object({
            state: z.enum(["pending", "proven", "failed"]),
            bad: z.number().int(),
            provenAt: IsoTime.nullable(),
            last: z.object({ ts: IsoTime, condition: z.string(), ...Said }).nullable(),
          }),
        ),
      })
      .nullable()
      .describe("Once done: each light's proof from its readings after the repair"),
    history: z.array(
      z.object({
        at: IsoTime,
        receivedAt: IsoTime,
        who: z.string(),
        action: z.enum([...STATES, "created", "checked_in", "photo", "reopened"]),
        lat: z.number().nullable(),
        lon: z.number().nullable(),
        ...Said,
      }),
    ),
  }),
  EXAMPLE_ORDER,
  { id: "WorkOrder", description: "A work order with its check-ins, on-site record, photos, the light's proof and its history" },
);

/** A work order as a reader sees it: times ISO, what the service said in the reader's language with its code. */
const view = (o: WorkOrder, render: (m: Message) => string) => {
  const said = (m: Message | null | undefined, text?: string) =>
    m ? { text: render(m), textCode: m.code, textParams: m.params as Record<string, unknown> } : text !== undefined ? { text } : {};
  return {
    ...o,
    stateText: render(msg("work_state", { state: o.state })),
    dueAt: iso(o.dueAt) as string,
    createdAt: iso(o.createdAt) as string,
    updatedAt: iso(o.updatedAt) as string,
    closedAt: iso(o.closedAt),
    checkIns: o.checkIns.map((c) => ({ ...c, at: iso(c.at) as string })),
    photos: o.photos.map((p) => ({
      id: p.id,
      mediaType: p.mediaType,
      bytes: p.bytes,
      at: iso(p.at) as string,
      who: p.who,
      takenAt: iso(p.takenAt),
      gps: p.gps,
      url: `/api/v1/work-orders/${o.id}/photos/${p.id}`,
    })),
    proof: o.proof
      ? {
          since: iso(o.proof.since) as string,
          lights: Object.fromEntries(
            Object.entries(o.proof.lights).map(([id, p]) => [
              id,
              {
                state: p.state,
                bad: p.bad,
                provenAt: iso(p.provenAt),
                last: p.last ? { ts: iso(p.last.ts) as string, condition: p.last.condition, ...said(p.last.detail) } : null,
              },
            ]),
          ),
        }
      : null,
    history: o.history.map(({ message, text, ...h }) => ({
      ...h,
      at: iso(h.at) as string,
      receivedAt: iso(h.receivedAt) as string,
      ...said(message, text),
    })),
  };
};

export function fieldworkRoutes(
  app: Api,
  deps: { fieldwork: Fieldwork; store: FieldworkStore; messages: Catalogue; access: Access; clock: () => number },
) {
  const { fieldwork, messages } = deps;
  deps.access.define("work_order", async (id) => {
    const town = await fieldwork.placeOf(String(id));
    return town === null ? null : { town, station: null };
  });
  // (the alerts and lights a new order names: unknown or outside the caller's towns, 404 alike)
  deps.access.define("work_order_input", (body) => fieldwork.namedIn((body ?? {}) as { alertIds?: string[]; lightIds?: string[] }));
  app.addContentTypeParser(IMAGE_TYPES, fileBody(app.initialConfig.bodyLimit ?? 1048576));

  const who = (p: { name: string } | null) => p?.name ?? "unknown";
  const by = (req: { principal: { name: string } | null; body: unknown }) => {
    const b = (req.body ?? {}) as { at?: string; lat?: number; lon?: number };
    return {
      who: who(req.principal),
      at: b.at !== undefined ? Date.parse(b.at) : undefined,
      position: b.lat !== undefined && b.lon !== undefined ? { lat: b.lat, lon: b.lon } : undefined,
    };
  };
  const read = async (id: string) => {
    const o = await fieldwork.get(id);
    if (!o) throw notFound("work_order", id);
    return o;
  };

  const { once, header: idempotencyHeader } = idempotency(deps);

  app.post(
    "/api/v1/work-orders",
    {
      config: { roles: FIELD, touches: { kind: "work_order_input", from: "body" } },
      schema: {
        tags: ["field work"],
        operationId: "createWorkOrder",
        summary: "A work order from one alert or several (a village outage, a road's lights), or from lights",
        description:
          "Its lights are the alerts' lights (a village outage: the village's lights) and any named; all in one town. Priority is the alerts' highest severity unless given, and the due time follows from it (AGRILUME_FIELD_DUE_*_H). With an assignee it starts assigned, else open.",
        headers: idempotencyHeader,
        body: withExample(
          z.object({
            alertIds: z.array(Id).max(500).optional(),
            lightIds: z.array(Id).max(500).optional(),
            problem: z.string().trim().max(1000).optional(),
            priority: Severity.optional(),
            assignee: z.string().trim().min(1).max(100).optional(),
          }),
          { alertIds: ["a7c3e9d2-41b8-4f6a-9e0d-2b5c8f1a3d47"], problem: "灯不亮", assignee: "李师傅" },
        ),
        response: { 201: WorkOrderSchema, ...errors(403, 404, 422) },
      },
    },
    async (req, reply) => once(req, reply, 201, async () => view(await fieldwork.create(req.body, by(req)), messages.in(req.lang))),
  );

  app.get(
    "/api/v1/work-orders",
    {
      config: { roles: FIELD, touches: "list" },
      schema: {
        tags: ["field work"],
        operationId: "listWorkOrders",
        summary: "Work orders of the caller's towns, newest first",
        description:
          "`state=active` is every state before closed, cannot fix and cancelled (done included: awaiting the light's proof). `mine=true`: assigned to the caller (by name). `light`: the orders with this light among theirs (a light's work history; none for a light unknown or outside the caller's towns). Paged by `limit` and `offset`; `total` is how many match.",
        querystring: z.object({
          state: z.enum([...STATES, "active"]).optional(),
          town: z.string().optional(),
          light: Id.optional().describe("A light's device id"),
          mine: z.enum(["true", "false"]).optional(),
          limit: z.coerce.number().int().min(1).max(1000).default(200),
          offset: z.coerce.number().int().min(0).default(0),
        }),
        response: {
          200: withExample(
            z.object({ total: z.number().int().describe("Orders matching, over every page"), workOrders: z.array(WorkOrderSchema) }),
            { total: 1, workOrders: [EXAMPLE_ORDER] },
            { description: "Work orders" },
          ),
        },
      },
    },
    async (req) => {
      const p = req.principal;
      const q = req.query;
      // a light unknown or outside the caller's towns has no orders the caller may see (as another town has none)
      if (q.light !== undefined) {
        const town = fieldwork.lightTown(q.light);
        if (town === undefined || !sees(p, { town, station: null })) return { total: 0, workOrders: [] };
      }
      const reached = p ? townsReached(p) : [];
      const towns = q.town !== undefined ? (reached && !reached.includes(q.town) ? [] : [q.town]) : reached;
      const states =
        q.state === "active" ? STATES.filter((s) => !["closed", "cannot_fix", "cancelled"].includes(s)) : q.state ? [q.state] : undefined;
      const query = { states, towns, light: q.light, assignee: q.mine === "true" ? (p?.name ?? "") : undefined };
      const [orders, total] = await Promise.all([fieldwork.list({ ...query, limit: q.limit, offset: q.offset }), fieldwork.count(query)]);
      const render = messages.in(req.lang);
      return { total, workOrders: orders.filter((o) => sees(p, { town: o.town, station: null })).map((o) => view(o, render)) };
    },
  );

  app.get(
    "/api/v1/work-orders/figures",
    {
      config: { roles: FIELD, touches: { kind: "place", from: "query" } },
      schema: {
        tags: ["field work"],
        operationId: "getFieldFigures",
        summary: "For a district manager: open work by town, time to repair by cause, first-time-fix rate, lights dark more than 3 nights",
        description:
          "Over the orders made in the last `days` (from `from` to `to`) and every order still open, of the caller's towns (or `town`); each figure for the whole and for each town (`byTown`). Time to repair runs from the order's making to its closing by the light's proof, by the first thing found on site (median and 90th percentile, hours). First-time fix: closed orders that never reopened, of all closed. Dark: lights unlit on each of the last 4 recorded nights.",
        querystring: z.object({ town: z.string().optional(), days: z.coerce.number().int().min(1).max(366).default(30) }),
        response: {
          200: withExample(
            z.object({
              days: z.number().int(),
              from: IsoTime.describe("The window's start: orders made since (and every order still open) count"),
              to: IsoTime.describe("The window's end: when the figures were made"),
              lastNight: DateOnly.nullable().describe("The latest night recorded (its China date)"),
              darkNights: z
                .object({ first: DateOnly, last: DateOnly })
                .nullable()
                .describe("The nights (China dates) a light must have been unlit on, each, to count as dark more than 3 nights"),
              openByTown: z.record(z.string(), z.object({ open: z.number().int(), overdue: z.number().int() })),
              timeToRepair: z.array(TimeToRepair),
              closed: z.number().int(),
              firstTimeFix: z.number().nullable().describe("Share of closed orders that never reopened (null: none closed)"),
              darkOver3Nights: z.record(
                z.string(),
                z.object({ count: z.number().int(), ids: z.array(z.string()).describe("The first 50, by id (each links to the light's page)") }),
              ),
              byTown: z
                .array(
                  z.object({
                    town: z.string(),
                    open: z.number().int(),
                    overdue: z.number().int(),
                    closed: z.number().int(),
                    firstTimeFixed: z.number().int().describe("Closed orders that never reopened"),
                    firstTimeFix: z.number().nullable(),
                    timeToRepair: z.array(TimeToRepair),
                    darkOver3Nights: z.number().int(),
                  }),
                )
                .describe("The four figures for each town that has any of them"),
            }),
            {
              days: 30,
              from: "2025-10-29T02:00:00.000Z",
              to: "2025-11-28T02:00:00.000Z",
              lastNight: "2025-11-27",
              darkNights: { first: "2025-11-24", last: "2025-11-27" },
              openByTown: { 来苏镇: { open: 4, overdue: 1 } },
              timeToRepair: [{ cause: "lamp", repairs: 12, medianH: 20.5, p90H: 51 }],
              closed: 15,
              firstTimeFix: 0.867,
              darkOver3Nights: { 来苏镇: { count: 2, ids: ["YC-LS-0102", "YC-LS-0340"] } },
              byTown: [
                {
                  town: "来苏镇",
                  open: 4,
                  overdue: 1,
                  closed: 15,
                  firstTimeFixed: 13,
                  firstTimeFix: 0.867,
                  timeToRepair: [{ cause: "lamp", repairs: 12, medianH: 20.5, p90H: 51 }],
                  darkOver3Nights: 2,
                },
              ],
            },
            { description: "The figures" },
          ),
        },
      },
    },
    async (req) => {
      const reached = req.principal ? townsReached(req.principal) : [];
      const towns = req.query.town !== undefined ? [req.query.town] : reached;
      const f = await fieldwork.figures({ towns, days: req.query.days });
      return { ...f, from: iso(f.from) as string, to: iso(f.to) as string };
    },
  );

  app.get(
    "/api/v1/work-orders/:id",
    {
      config: { roles: FIELD, touches: { kind: "work_order", from: "params" } },
      schema: {
        tags: ["field work"],
        operationId: "getWorkOrder",
        summary: "One work order",
        description: "404 for an unknown order or one outside the caller's towns.",
        params: IdParam,
        response: { 200: WorkOrderSchema, ...errors(404) },
      },
    },
    async (req) => view(await read(req.params.id), messages.in(req.lang)),
  );

  app.post(
    "/api/v1/work-orders/:id/moves",
    {
      config: { roles: FIELD, touches: { kind: "work_order", from: "params" } },
      schema: {
        tags: ["field work"],
        operationId: "moveWorkOrder",
        summary: "Assign, on the way, on site, cannot fix (with a reason), cancel (with a reason)",
        description:
          "Each change is kept with who, when (the phone's time, for an entry made offline) and where. A move the order's state does not allow answers 409.",
        params: IdParam,
        headers: idempotencyHeader,
        body: withExample(
          z.object({
            to: z.enum(MOVES),
            assignee: z.string().trim().min(1).max(100).optional(),
            reason: z.string().trim().min(1).max(1000).optional(),
            ...Where,
          }),
          { to: "on_the_way", lat: 29.34, lon: 105.9 },
        ),
        response: { 200: WorkOrderSchema, ...errors(404, 409, 422) },
      },
    },
    async (req, reply) =>
      once(req, reply, 200, async () =>
        view(
          await fieldwork.move(req.params.id, req.body.to, { ...by(req), reason: req.body.reason, assignee: req.body.assignee }),
          messages.in(req.lang),
        ),
      ),
  );

  app.post(
    "/api/v1/work-orders/:id/check-ins",
    {
      config: { roles: FIELD, touches: { kind: "work_order", from: "params" } },
      schema: {
        tags: ["field work"],
        operationId: "checkInWorkOrder",
        summary: "At the pole: the phone's position, and its distance to the order's nearest pole",
        description:
          "Further than AGRILUME_FIELD_CHECKIN_FLAG_M is recorded and flagged; further than AGRILUME_FIELD_CHECKIN_MAX_M is refused (422 `check_in_too_far`: nothing is recorded). The order is then on site.",
        params: IdParam,
        headers: idempotencyHeader,
        body: withExample(
          z.object({
            lat: z.number().min(-90).max(90),
            lon: z.number().min(-180).max(180),
            accuracyM: z.number().min(0).max(100_000).optional(),
            at: Where.at,
          }),
          { lat: 29.3513, lon: 105.9112, accuracyM: 8 },
        ),
        response: { 200: WorkOrderSchema, ...errors(404, 409, 422) },
      },
    },
    async (req, reply) =>
      once(req, reply, 200, async () =>
        view(
          await fieldwork.checkIn(req.params.id, { ...by(req), position: { lat: req.body.lat, lon: req.body.lon, accuracyM: req.body.accuracyM } }),
          messages.in(req.lang),
        ),
      ),
  );

  app.post(
    "/api/v1/work-orders/:id/done",
    {
      config: { roles: FIELD, touches: { kind: "work_order", from: "params" } },
      schema: {
        tags: ["field work"],
        operationId: "completeWorkOrder",
        summary: "On site: what was found and done, parts, notes; the order is done and awaits the light's proof",
        description:
          "The alerts are not resolved by this: the light's next readings decide. Normal ones (for a lamp fault: lit when it should be) close the order; AGRILUME_FIELD_PROOF_READINGS faulty ones in a row, or no reading within AGRILUME_FIELD_PROOF_WINDOW_H, reopen it with the evidence.",
        params: IdParam,
        headers: idempotencyHeader,
        body: withExample(
          z.object({
            found: z.array(z.enum(FOUND)).min(1).max(FOUND.length),
            done: z.array(z.enum(DONE)).min(1).max(DONE.length),
            parts: z
              .array(z.object({ name: z.string().trim().min(1).max(100), qty: z.number().positive().max(1000) }))
              .max(50)
              .default([]),
            notes: z.string().trim().max(2000).optional(),
            ...Where,
          }),
          { found: ["lamp"], done: ["lamp_replaced"], parts: [{ name: "30W LED 灯头", qty: 1 }], notes: "灯头进水" },
        ),
        response: { 200: WorkOrderSchema, ...errors(404, 409, 422) },
      },
    },
    async (req, reply) =>
      once(req, reply, 200, async () =>
        view(
          await fieldwork.complete(req.params.id, {
            ...by(req),
            found: req.body.found,
            done: req.body.done,
            parts: req.body.parts,
            notes: req.body.notes,
          }),
          messages.in(req.lang),
        ),
      ),
  );

  app.post(
    "/api/v1/work-orders/:id/photos",
    {
      config: { roles: FIELD, touches: { kind: "work_order", from: "params" } },
      schema: {
        tags: ["field work"],
        operationId: "addWorkOrderPhoto",
        summary: "A photo (JPEG or PNG, the body itself), kept without its metadata",
        description:
          "Its type is judged by its bytes (422 `photo_not_image` otherwise); at most AGRILUME_FIELD_PHOTO_MAX_KB (422 `photo_too_large`) and 50 megapixels, 16,384 px a side, as its header declares (422 `photo_too_many_pixels`). EXIF, XMP and text chunks are removed from the file; the time and place it was taken are kept as the photo's fields (from its EXIF, or, for a photo the phone resized, from `takenAt`, `lat` and `lon`, which the phone read from the EXIF before resizing).",
        params: IdParam,
        querystring: PhotoTaken,
        headers: idempotencyHeader,
        consumes: ["image/jpeg", "image/png"],
        body: z.unknown().meta({ type: "string", format: "binary", description: "The image's bytes" }),
        response: { 201: PhotoSchema, ...errors(404, 422) },
      },
    },
    async (req, reply) =>
      once(req, reply, 201, async () => {
        if (!Buffer.isBuffer(req.body)) throw invalid(msg("photo_not_image", {}));
        const p = await fieldwork.addPhoto(req.params.id, req.body, { who: who(req.principal) }, req.query);
        return {
          id: p.id,
          mediaType: p.mediaType,
          bytes: p.bytes,
          at: iso(p.at) as string,
          who: p.who,
          takenAt: iso(p.takenAt),
          gps: p.gps,
          url: `/api/v1/work-orders/${p.orderId}/photos/${p.id}`,
        };
      }),
  );

  app.get(
    "/api/v1/work-orders/:id/photos/:photoId",
    {
      config: { roles: FIELD, touches: { kind: "work_order", from: "params" } },
      schema: {
        tags: ["field work"],
        operationId: "getWorkOrderPhoto",
        summary: "A work order's photo",
        description: "Only to callers who may see the work order (404 otherwise, as for an unknown photo).",
        params: z.object({ id: Id, photoId: Id }),
        response: {
          200: imageFile("The image"),
          ...errors(404),
        },
      },
    },
    async (req, reply) => {
      const p = await fieldwork.photo(req.params.id, req.params.photoId);
      if (!p) throw notFound("photo", req.params.photoId);
      return sendImage(reply, p.meta.mediaType, p.data);
    },
  );
}
