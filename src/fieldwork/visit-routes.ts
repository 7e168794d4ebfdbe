import { z } from "zod";
import { type Access, sees, townsReached } from "../access/scope.js";
import { errors, Id, IdParam, IsoTime, imageFile, withExample, XLSX_TYPE, xlsxFile } from "../http/schemas.js";
import type { Api } from "../http/server.js";
import { chinaDate } from "../platform/clock.js";
import { notFound } from "../platform/errors.js";
import type { Catalogue } from "../platform/i18n.js";
import { idempotency, PhotoTaken } from "./once.js";
import { sendImage } from "./photo.js";
import { FINAL_VERDICTS } from "./rules.js";
import type { FieldworkStore } from "./store.js";
import type { VisitReportJobs } from "./visit-jobs.js";
import { imageView, visitView } from "./visit-report.js";
import type { ClaimAt, Visits } from "./visits.js";

const FINANCE = ["admin", "finance"] as const;

const ImageSchema = z.object({
  id: z.string(),
  kind: z.enum(["photo", "signature"]),
  mediaType: z.enum(["image/jpeg", "image/png"]),
  bytes: z.number().int(),
  at: IsoTime,
  takenAt: IsoTime.nullable(),
  gps: z.object({ lat: z.number(), lon: z.number() }).nullable(),
  url: z.string(),
});
const EXAMPLE_VISIT = {
  id: "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9",
  deviceId: "YC-LS-0001",
  town: "来苏镇",
  village: "梳妆台村",
  inspector: "财政局 张科员",
  at: "2025-11-28T11:20:00.000Z",
  receivedAt: "2025-11-28T11:20:02.000Z",
  lat: 29.3513,
  lon: 105.9112,
  accuracyM: 6,
  distanceM: 14,
  foundAtPole: true,
  poleNumber: "梳-017",
  controllerSerial: "SL2024A00117",
  serialMatches: true,
  lit: true,
  statement: "每晚都亮",
  images: [],
};
const VisitSchema = withExample(
  z.object({
    id: z.string(),
    deviceId: z.string(),
    town: z.string(),
    village: z.string().nullable(),
    inspector: z.string(),
    at: IsoTime,
    receivedAt: IsoTime,
    lat: z.number(),
    lon: z.number(),
    accuracyM: z.number().nullable(),
    distanceM: z.number().describe("From the phone to the claimed pole's coordinates"),
    foundAtPole: z.boolean(),
    poleNumber: z.string().nullable(),
    controllerSerial: z.string().nullable(),
    serialMatches: z.boolean().nullable().describe("The serial read on site against the claim's; null when none was read"),
    lit: z.boolean().nullable(),
    statement: z.string().nullable(),
    images: z.array(ImageSchema),
  }),
  EXAMPLE_VISIT,
  { id: "FieldVisit", description: "A field verification visit at a claimed pole" },
);
const ReportQuery = z.object({
  town: z.string().optional(),
  until: z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}$/, "hint_date")
    .optional(),
  nights: z.coerce.number().int().min(1).max(366).default(30),
});
const ReportRow = z.object({
  deviceId: z.string(),
  projectId: z.string(),
  town: z.string(),
  village: z.string(),
  dataVerdict: z.string().describe("The verification report's verdict code (`verified`, or the first failing reason)"),
  dataVerdictText: z.string(),
  visit: VisitSchema.nullable().describe("The latest field visit of this claim"),
  finalVerdict: z.enum(FINAL_VERDICTS),
  finalVerdictText: z.string(),
});

export function visitRoutes(
  app: Api,
  deps: {
    visits: Visits;
    claim: (deviceId: string) => Promise<ClaimAt | undefined>;
    /** The report (JSON bytes, or the workbook), made in a worker thread (./visit-jobs.ts). */
    report: VisitReportJobs;
    messages: Catalogue;
    access: Access;
    clock: () => number;
    /** Where an `Idempotency-Key`'s first answer is kept (the work orders' store). */
    answers: Pick<FieldworkStore, "answer" | "putAnswer">;
  },
) {
  const { visits } = deps;
  const { once, header: idempotencyHeader } = idempotency({ store: deps.answers, clock: deps.clock });
  // (the claimed light a visit names: unknown or outside the inspector's towns, 404 alike)
  deps.access.define("claim", async (body) => {
    const id = (body as { deviceId?: unknown } | null)?.deviceId;
    if (typeof id !== "string") return null;
    const c = await deps.claim(id);
    return { named: "claim", id, place: c ? { town: c.town, station: null } : null };
  });
  deps.access.define("visit", async (id) => {
    const v = await visits.get(String(id));
    return v ? { town: v.town, station: null } : null;
  });

  app.post(
    "/api/v1/field-visits",
    {
      config: { roles: FINANCE, touches: { kind: "claim", from: "body" } },
      schema: {
        tags: ["field work"],
        operationId: "recordFieldVisit",
        summary: "A field verification visit at a claimed pole, from the inspector's phone",
        description:
          "Found at the claimed pole or not, the pole number and controller serial read on site, lit at a night visit, the household's statement. The phone must be within AGRILUME_FIELD_CHECKIN_MAX_M of the claimed coordinates (422 `check_in_too_far`); a claim outside the inspector's towns answers 404, as an unknown one does. The photo and the signature follow as images.",
        body: withExample(
          z.object({
            deviceId: Id,
            lat: z.number().min(-90).max(90),
            lon: z.number().min(-180).max(180),
            accuracyM: z.number().min(0).max(100_000).optional(),
            foundAtPole: z.boolean(),
            poleNumber: z.string().trim().max(64).optional(),
            controllerSerial: z.string().trim().max(64).optional(),
            lit: z.boolean().optional(),
            statement: z.string().trim().max(2000).optional(),
            at: IsoTime.optional(),
          }),
          { deviceId: "YC-LS-0001", lat: 29.3513, lon: 105.9112, foundAtPole: true, controllerSerial: "SL2024A00117", lit: true },
        ),
        headers: idempotencyHeader,
        response: { 201: VisitSchema, ...errors(403, 404, 422) },
      },
    },
    async (req, reply) =>
      once(req, reply, 201, async () =>
        visitView(
          await visits.record({ ...req.body, at: req.body.at !== undefined ? Date.parse(req.body.at) : undefined }, req.principal?.name ?? "unknown"),
        ),
      ),
  );

  app.get(
    "/api/v1/field-visits",
    {
      config: { roles: FINANCE, touches: "list" },
      schema: {
        tags: ["field work"],
        operationId: "listFieldVisits",
        summary: "Field visits of the caller's towns, newest first",
        description: "An inspector limited to towns sees those towns' visits.",
        querystring: z.object({ town: z.string().optional(), limit: z.coerce.number().int().min(1).max(5000).default(500) }),
        response: {
          200: withExample(z.object({ visits: z.array(VisitSchema) }), { visits: [EXAMPLE_VISIT] }, { description: "Visits" }),
        },
      },
    },
    async (req) => {
      const reached = req.principal ? townsReached(req.principal) : [];
      const towns = req.query.town !== undefined ? (reached && !reached.includes(req.query.town) ? [] : [req.query.town]) : reached;
      const list = (await visits.list({ towns, limit: req.query.limit })).filter((v) => sees(req.principal, { town: v.town, station: null }));
      return { visits: list.map(visitView) };
    },
  );

  app.post(
    "/api/v1/field-visits/:id/images",
    {
      config: { roles: FINANCE, touches: { kind: "visit", from: "params" } },
      schema: {
        tags: ["field work"],
        operationId: "addFieldVisitImage",
        summary: "The visit's photo, or the household's signature (an image): JPEG or PNG, the body itself",
        description:
          "Judged by its bytes (422 `photo_not_image`), at most AGRILUME_FIELD_PHOTO_MAX_KB (422 `photo_too_large`) and 50 megapixels (422 `photo_too_many_pixels`), kept without its metadata (time and place become fields: from its EXIF, or `takenAt`, `lat`, `lon` that the phone read before resizing it). The phone's signature pad sends a PNG with `kind=signature`.",
        params: IdParam,
        querystring: PhotoTaken.extend({ kind: z.enum(["photo", "signature"]).default("photo") }),
        headers: idempotencyHeader,
        consumes: ["image/jpeg", "image/png"],
        body: z.unknown().meta({ type: "string", format: "binary", description: "The image's bytes" }),
        response: {
          201: withExample(
            ImageSchema,
            {
              id: "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
              kind: "signature",
              mediaType: "image/png",
              bytes: 8421,
              at: "2025-11-28T11:22:00.000Z",
              takenAt: null,
              gps: null,
              url: "/api/v1/field-visits/5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9/images/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
            },
            { description: "The image as kept" },
          ),
          ...errors(404, 422),
        },
      },
    },
    async (req, reply) =>
      once(req, reply, 201, async () => {
        const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
        const { kind, ...read } = req.query;
        return imageView(await visits.addImage(req.params.id, kind, body, read));
      }),
  );

  app.get(
    "/api/v1/field-visits/:id/images/:imageId",
    {
      config: { roles: FINANCE, touches: { kind: "visit", from: "params" } },
      schema: {
        tags: ["field work"],
        operationId: "getFieldVisitImage",
        summary: "A visit's photo or signature",
        description: "Only to callers who may see the visit (404 otherwise, as for an unknown image).",
        params: z.object({ id: Id, imageId: Id }),
        response: {
          200: imageFile("The image"),
          ...errors(404),
        },
      },
    },
    async (req, reply) => {
      const i = await visits.image(req.params.id, req.params.imageId);
      if (!i) throw notFound("photo", req.params.imageId);
      return sendImage(reply, i.meta.mediaType, i.data);
    },
  );

  /** The report's parameters and the towns whose visits count, as the caller may see them. */
  const scope = (q: z.infer<typeof ReportQuery>, caller: Parameters<typeof townsReached>[0] | null) => {
    const towns = q.town === undefined && caller ? townsReached(caller) : undefined;
    return {
      params: { town: q.town, towns, until: q.until ?? chinaDate(deps.clock()), nights: q.nights },
      visitTowns: q.town !== undefined ? [q.town] : towns,
    };
  };

  app.get(
    "/api/v1/field-visits/report",
    {
      config: { roles: FINANCE, touches: { kind: "place", from: "query" } },
      schema: {
        tags: ["field work"],
        operationId: "getFieldVerificationReport",
        summary: "Each claim's data verdict beside its field result, and the final verdict the bureau defends",
        description:
          "verified_by_data (no visit needed), verified_on_site, not_found_on_site (the visit decides, whatever the data said), to_revisit (failing data without a visit, or a visit that found another serial or a dark lamp). Made in a worker thread (503 `busy` when too many reports wait).",
        querystring: ReportQuery,
        response: {
          200: withExample(
            z.object({ counts: z.record(z.string(), z.number().int()), claims: z.array(ReportRow) }),
            {
              counts: { verified_by_data: 1 },
              claims: [
                {
                  deviceId: "YC-LS-0001",
                  projectId: "YC-2024-017",
                  town: "来苏镇",
                  village: "梳妆台村",
                  dataVerdict: "verified",
                  dataVerdictText: "核实通过",
                  visit: null,
                  finalVerdict: "verified_by_data",
                  finalVerdictText: "数据核实",
                },
              ],
            },
            { description: "The claims with their final verdicts, and how many of each" },
          ),
        },
      },
    },
    async (req, reply) => {
      // (the body comes from the worker thread as the JSON bytes of this schema: sent as they are)
      const body = await deps.report({ ...scope(req.query, req.principal), kind: "json", lang: req.lang, base: "" });
      return reply.type("application/json; charset=utf-8").send(body as never); // (bytes: fastify sends them unserialized)
    },
  );

  app.get(
    "/api/v1/field-visits/report.xlsx",
    {
      config: { roles: FINANCE, touches: { kind: "place", from: "query" } },
      schema: {
        tags: ["field work"],
        operationId: "getFieldVerificationReportXlsx",
        summary: "XLSX: each claim's data verdict, field result and final verdict, with links to the photos and signatures",
        description: "The links point at this service; they open for whoever may see the visit. Made in a worker thread.",
        querystring: ReportQuery,
        response: { 200: xlsxFile("The workbook") },
      },
    },
    async (req, reply) => {
      const base = `${req.protocol}://${req.host}`;
      const body = await deps.report({ ...scope(req.query, req.principal), kind: "xlsx", lang: req.lang, base });
      const name = `field-verification-${req.query.town ?? "district"}-${req.query.until ?? chinaDate(deps.clock())}.xlsx`;
      return reply
        .header("content-disposition", `attachment; filename*=UTF-8''${encodeURIComponent(name)}`)
        .type(XLSX_TYPE)
        .send(body);
    },
  );
}
