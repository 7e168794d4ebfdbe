import ExcelJS from "exceljs";
import { z } from "zod";
import { type Access, sees, townsReached } from "../access/scope.js";
import { errors, Id, IdParam, IsoTime, imageFile, withExample, XLSX_TYPE, xlsxFile } from "../http/schemas.js";
import type { Api } from "../http/server.js";
import { chinaDate, chinaTime } from "../platform/clock.js";
import { notFound } from "../platform/errors.js";
import type { Catalogue, Message } from "../platform/i18n.js";
import { fieldworkMessage as msg, type VisitColumn } from "./messages.js";
import { sendImage } from "./photo.js";
import { FINAL_VERDICTS, finalVerdict } from "./rules.js";
import type { ClaimAt, Visit, VisitImage, Visits } from "./visits.js";

const FINANCE = ["admin", "finance"] as const;
const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());

/** A claimed light with its data verdict, from the verification report (the composition root hands it in). */
export type DataVerdict = { deviceId: string; projectId: string; town: string; village: string; lat: number; lon: number; verdict: string };
export type DataReport = (p: { town?: string | undefined; towns?: string[] | undefined; until: string; nights: number }) => Promise<DataVerdict[]>;

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
const visitView = (v: Visit) => ({
  ...v,
  at: iso(v.at) as string,
  receivedAt: iso(v.receivedAt) as string,
  images: v.images.map((i) => imageView(i)),
});
const imageView = (i: VisitImage) => ({
  id: i.id,
  kind: i.kind,
  mediaType: i.mediaType,
  bytes: i.bytes,
  at: iso(i.at) as string,
  takenAt: iso(i.takenAt),
  gps: i.gps,
  url: `/api/v1/field-visits/${i.visitId}/images/${i.id}`,
});
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
    dataReport: DataReport;
    messages: Catalogue;
    access: Access;
    clock: () => number;
  },
) {
  const { visits, messages } = deps;
  deps.access.define("claim", async (body) => {
    const id = (body as { deviceId?: unknown } | null)?.deviceId;
    const c = typeof id === "string" ? await deps.claim(id) : undefined;
    return c ? { town: c.town, station: null } : null;
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
          "Found at the claimed pole or not, the pole number and controller serial read on site, lit at a night visit, the household's statement. The phone must be within AGRILUME_FIELD_CHECKIN_MAX_M of the claimed coordinates (422 `check_in_too_far`); a claim outside the inspector's towns answers 403, an unknown one 404. The photo and the signature follow as images.",
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
        response: { 201: VisitSchema, ...errors(403, 404, 422) },
      },
    },
    async (req, reply) => {
      const v = await visits.record(
        { ...req.body, at: req.body.at !== undefined ? Date.parse(req.body.at) : undefined },
        req.principal?.name ?? "unknown",
      );
      return reply.status(201).send(visitView(v));
    },
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
          "Judged by its bytes (422 `photo_not_image`), at most AGRILUME_FIELD_PHOTO_MAX_KB (422 `photo_too_large`), kept without its metadata (time and place become fields).",
        params: IdParam,
        querystring: z.object({ kind: z.enum(["photo", "signature"]).default("photo") }),
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
    async (req, reply) => {
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      return reply.status(201).send(imageView(await visits.addImage(req.params.id, req.query.kind, body)));
    },
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

  /** Each claim of the report with its data verdict, its latest visit and its final verdict. */
  const rows = async (q: z.infer<typeof ReportQuery>, caller: Parameters<typeof townsReached>[0] | null, render: (m: Message) => string) => {
    const towns = q.town === undefined && caller ? townsReached(caller) : undefined;
    const data = await deps.dataReport({ town: q.town, towns, until: q.until ?? chinaDate(deps.clock()), nights: q.nights });
    const latest = new Map<string, Visit>();
    for (const v of await visits.list({ towns: q.town !== undefined ? [q.town] : towns, limit: 1_000_000 }))
      if (!latest.has(v.deviceId)) latest.set(v.deviceId, v); // newest first
    return data.map((d) => {
      const v = latest.get(d.deviceId) ?? null;
      const final = finalVerdict(d.verdict, v);
      return {
        deviceId: d.deviceId,
        projectId: d.projectId,
        town: d.town,
        village: d.village,
        dataVerdict: d.verdict,
        dataVerdictText: render({ code: "verdict", params: { verdict: d.verdict } }),
        visit: v ? visitView(v) : null,
        finalVerdict: final,
        finalVerdictText: render(msg("final_verdict", { verdict: final })),
      };
    });
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
          "verified_by_data (no visit needed), verified_on_site, not_found_on_site (the visit decides, whatever the data said), to_revisit (failing data without a visit, or a visit that found another serial or a dark lamp).",
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
    async (req) => {
      const claims = await rows(req.query, req.principal, messages.in(req.lang));
      const counts: Record<string, number> = {};
      for (const c of claims) counts[c.finalVerdict] = (counts[c.finalVerdict] ?? 0) + 1;
      return { counts, claims };
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
        description: "The links point at this service; they open for whoever may see the visit.",
        querystring: ReportQuery,
        response: { 200: xlsxFile("The workbook") },
      },
    },
    async (req, reply) => {
      const render = messages.in(req.lang);
      const claims = await rows(req.query, req.principal, render);
      const base = `${req.protocol}://${req.host}`;
      const wb = new ExcelJS.Workbook();
      const ws = wb.addWorksheet(render(msg("visit_sheet", {})));
      const columns: VisitColumn[] = [
        "deviceId",
        "town",
        "village",
        "dataVerdict",
        "fieldResult",
        "distanceM",
        "poleNumber",
        "controllerSerial",
        "serialMatches",
        "lit",
        "statement",
        "inspector",
        "visitedAt",
        "finalVerdict",
        "photo",
        "signature",
      ];
      ws.addRow(columns.map((column) => render(msg("visit_column", { column }))));
      ws.getRow(1).font = { bold: true };
      ws.views = [{ state: "frozen", ySplit: 1 }];
      const yesNo = (b: boolean | null) => (b === null ? "" : render(msg("yes_no", { value: b })));
      for (const c of claims) {
        const v = c.visit;
        const link = (kind: "photo" | "signature") => {
          const i = v?.images.filter((x) => x.kind === kind).at(-1);
          return i ? { text: render(msg("visit_column", { column: kind })), hyperlink: `${base}${i.url}` } : "";
        };
        ws.addRow([
          c.deviceId,
          c.town,
          c.village,
          c.dataVerdictText,
          render(msg("field_result", { result: v ? (v.foundAtPole ? "found" : "not_found") : "none" })),
          v ? v.distanceM : "",
          v?.poleNumber ?? "",
          v?.controllerSerial ?? "",
          yesNo(v ? v.serialMatches : null),
          yesNo(v ? v.lit : null),
          v?.statement ?? "",
          v?.inspector ?? "",
          v ? chinaTime(Date.parse(v.at)) : "",
          c.finalVerdictText,
          link("photo"),
          link("signature"),
        ]);
      }
      ws.columns.forEach((col, i) => {
        col.width = i === 10 ? 30 : 16;
      });
      const body = Buffer.from(await wb.xlsx.writeBuffer());
      const name = `field-verification-${req.query.town ?? "district"}-${req.query.until ?? chinaDate(deps.clock())}.xlsx`;
      return reply
        .header("content-disposition", `attachment; filename*=UTF-8''${encodeURIComponent(name)}`)
        .type(XLSX_TYPE)
        .send(body);
    },
  );
}
