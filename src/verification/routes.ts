import { z } from "zod";
import { type Access, type Caller, refuseRows, type Scope, sees, townsReached } from "../access/scope.js";
import { fileBody } from "../http/file-body.js";
import { csvFile, DateOnly, errors, IsoTime, MessageCode, withExample, XLSX_TYPE, xlsxFile } from "../http/schemas.js";
import type { Api } from "../http/server.js";
import { chinaDate } from "../platform/clock.js";
import { invalid, rowsRejected } from "../platform/errors.js";
import type { Catalogue, Lang, Message } from "../platform/i18n.js";
import type { VerificationJobs } from "./jobs.js";
import { verificationMessage } from "./messages.js";
import type { Verification } from "./service.js";
import { type LightResult, REASONS } from "./verdict.js";

const FINANCE = ["admin", "finance"] as const;
const Params = z.object({
  town: z.string().optional(),
  project: z.string().optional(),
  until: z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}$/, "hint_date")
    .optional(),
  nights: z.coerce.number().int().min(1).max(366).default(30),
});

const ReportParams = z.object({
  town: z.string().optional(),
  towns: z
    .array(z.string())
    .optional()
    .describe("The caller's towns, when its account or key is limited to some: the report holds only their lights"),
  project: z.string().optional(),
  until: DateOnly,
  nights: z.number().int(),
});
const Summary = {
  claimed: z.number().int(),
  reporting: z.number().int(),
  verified: z.number().int(),
  byReason: z.record(z.string(), z.number().int()).describe("Lights per failing reason"),
  claimedSubsidyYuan: z.number().describe("Yuan claimed: each light's subsidy (its project's 补助标准)"),
  verifiedSubsidyYuan: z.number().describe("Yuan of the verified lights"),
  withheldSubsidyYuan: z.number().describe("Yuan withheld: claimed less verified"),
};
const EXAMPLE_SUMMARY = {
  claimed: 120,
  reporting: 117,
  verified: 109,
  byReason: { not_reporting: 3, silent: 1, location_mismatch: 2, not_lit: 4, no_charging: 1, duplicate_device: 0, duplicate_pole: 0 },
  claimedSubsidyYuan: 180000,
  verifiedSubsidyYuan: 163500,
  withheldSubsidyYuan: 16500,
};
const LightResultSchema = z.object({
  deviceId: z.string(),
  projectId: z.string(),
  town: z.string(),
  village: z.string(),
  road: z.string(),
  lat: z.number().describe("The claimed position's latitude (the claims list's)"),
  lon: z.number().describe("The claimed position's longitude"),
  subsidyYuan: z.number().describe("The subsidy claimed for this light: verified, or withheld"),
  verdict: z.enum(["verified", ...REASONS]),
  evidence: z.record(z.string(), z.unknown()).describe("What the verdict rests on: nights lit, days charged, distance from the claimed pole, …"),
  evidenceCode: MessageCode.describe("The evidence's message code (`evidence` holds its figures)"),
  evidenceText: z.string().describe("The evidence in the reader's language"),
});
const EXAMPLE_LIGHT = {
  deviceId: "YC-LS-0001",
  projectId: "YC-2024-017",
  town: "来苏镇",
  village: "梳妆台村",
  road: "村道3号",
  lat: 29.3512,
  lon: 105.9113,
  subsidyYuan: 1500,
  verdict: "not_lit" as const,
  evidence: { litNights: 11, nights: 30, needed: 25 },
  evidenceCode: "evidence_not_lit",
  evidenceText: "30 晚中 11 晚亮灯达标，需 25 晚",
};
const EXAMPLE_HEAD = {
  reportId: "9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
  digest: "4f2a9c1e7b3d5f60a8e2c4b6d8f0a1c3e5b7d9f1a2c4e6b8d0f2a4c6e8b0d2f4",
  params: { until: "2025-11-28", nights: 30 },
};
const ReportId = z
  .string()
  .nullable()
  .describe("The recorded report's id (`/verification/reports`); null for a view, which is not recorded (a POST or a download is)");
const Report = withExample(
  z.object({
    reportId: ReportId,
    digest: z.string().describe("SHA-256 of the report's content: the same parameters over the same data give the same digest"),
    params: ReportParams,
    window: z.object({ from: DateOnly.optional(), to: DateOnly.optional(), nights: z.number().int() }),
    summary: z.object(Summary),
    byTown: z.array(z.object({ town: z.string(), ...Summary })),
    byProject: z.array(
      z.object({
        projectId: z.string(),
        town: z.string(),
        village: z.string(),
        road: z.string(),
        year: z.number().int().nullable(),
        approvedLights: z.number().int().nullable(),
        subsidyYuan: z.number().nullable(),
        ...Summary,
      }),
    ),
    lights: z.array(LightResultSchema),
  }),
  {
    ...EXAMPLE_HEAD,
    window: { from: "2025-10-29", to: "2025-11-27", nights: 30 },
    summary: EXAMPLE_SUMMARY,
    byTown: [{ town: "来苏镇", ...EXAMPLE_SUMMARY }],
    byProject: [
      {
        projectId: "YC-2024-017",
        town: "来苏镇",
        village: "梳妆台村",
        road: "村道3号",
        year: 2024,
        approvedLights: 120,
        subsidyYuan: 1500,
        ...EXAMPLE_SUMMARY,
      },
    ],
    lights: [EXAMPLE_LIGHT],
  },
  { id: "VerificationReport", description: "Verdicts per claimed light, with summaries by town and project" },
);

/** A light's verdict as a reader sees it: the evidence's figures, and beside them its code and its text in the reader's language. */
const lightView =
  (render: (m: Message) => string) =>
  <L extends LightResult>({ evidence, ...l }: L) => ({
    ...l,
    evidence: evidence.params,
    evidenceCode: evidence.code,
    evidenceText: render(evidence),
  });

/**
 * The report and the claims file's parse run in worker threads (`jobs`, ./jobs.ts); the import's upsert and the list of
 * reports stay here.
 */
export function verificationRoutes(
  app: Api,
  deps: { verification: Verification; jobs: VerificationJobs; clock: () => number; messages: Catalogue; access: Access },
) {
  const { verification, jobs, messages } = deps;
  app.addContentTypeParser(XLSX_TYPE, fileBody(app.initialConfig.bodyLimit ?? 1048576));
  /** A report's parameters; a caller limited to towns gets only its towns (a town asked for was checked by the access owner). */
  const params = (q: z.infer<typeof Params>, caller: Scope | null) => ({
    town: q.town,
    ...(q.town === undefined && caller && townsReached(caller) ? { towns: townsReached(caller) } : {}),
    project: q.project,
    nights: q.nights,
    until: q.until ?? chinaDate(deps.clock()),
  });
  /** Where a recorded report is: its town or towns; a district-wide one is seen only by callers without town limits. */
  const reportSeen = (caller: Scope | null, p: Record<string, unknown>) => {
    const towns = typeof p.town === "string" ? [p.town] : Array.isArray(p.towns) ? (p.towns as string[]) : [null];
    return towns.every((town) => sees(caller, { town, station: null }));
  };

  app.post(
    "/api/v1/projects/import",
    {
      config: { roles: FINANCE, touches: "rows" },
      schema: {
        tags: ["verification"],
        operationId: "importProjects",
        summary: "Import the bureau's claims list: CSV (text/csv) or XLSX, Chinese or English column names; all rows or none",
        description:
          "One claimed light per row with its project (项目编号, 镇街, 村, 道路, 年度, 批准数量, 补助标准, 设备编号, 经度, 纬度, 控制器序列号, IMEI, 安装日期, or the English names). Nothing is imported unless every row is good: 422 lists each bad row in `details.rows`. Importing the same file twice changes nothing.",
        consumes: ["text/csv", XLSX_TYPE],
        body: z.unknown().meta({
          type: "string",
          format: "binary",
          description:
            "The file: CSV (UTF-8 with or without BOM, as the example; or GBK/GB18030, as Excel on Chinese Windows saves it) or an XLSX workbook; the header row may be below a title (looked for in the first 10 rows)",
          examples: [
            "项目编号,镇街,村,道路,年度,批准数量,补助标准,设备编号,经度,纬度,控制器序列号,IMEI,安装日期\nYC-2024-017,来苏镇,梳妆台村,村道3号,2024,120,1500,YC-LS-0001,105.9113,29.3512,SL2024A00117,861234567890123,2024-09-12\n",
          ],
        }),
        response: {
          200: withExample(
            z.object({
              projects: z.number().int(),
              created: z.number().int(),
              updated: z.number().int(),
              unchanged: z.number().int(),
              projectsCreated: z.number().int().describe("Projects the file added"),
              projectsUpdated: z.number().int().describe("Projects already there whose row changed (town, subsidy, approved lights…)"),
              headerRow: z
                .number()
                .int()
                .describe("The row taken as the header (1 = the first; a title above it is skipped): the rows below it were imported"),
              encoding: z
                .enum(["utf-8", "gb18030"])
                .nullable()
                .describe("How a CSV's bytes were read: UTF-8, or GB18030/GBK as Excel on Chinese Windows saves it; null for XLSX"),
            }),
            { projects: 4, created: 118, updated: 2, unchanged: 0, projectsCreated: 1, projectsUpdated: 0, headerRow: 2, encoding: "gb18030" },
            {
              description:
                "How many projects the file holds, how many claims (and projects) were new, changed or the same, and how the file was read",
            },
          ),
          ...errors(422),
        },
      },
      // fits AGRILUME_IMPORT_MAX_ROWS rows (256 bytes a row); the file is then read row by row in a worker thread
      bodyLimit: jobs.limits.bodyLimitBytes,
    },
    async (req) => {
      const isXlsx = String(req.headers["content-type"] ?? "").startsWith(XLSX_TYPE);
      if (!(typeof req.body === "string" || Buffer.isBuffer(req.body))) throw invalid(verificationMessage("claims_body", {}));
      const parsed = await jobs.parseClaims(req.body, isXlsx ? "xlsx" : "csv");
      if (parsed.errors.length > 0) throw rowsRejected(parsed.errors);
      const place = (town: string) => ({ town, station: null });
      // the file's own towns, and the towns of what it would overwrite (a project or a light another town holds)
      refuseRows(req.principal, parsed.projects, (p) => place(p.town));
      const counts = await verification.import(parsed, (towns) => refuseRows(req.principal, towns, place));
      return { projects: parsed.projects.length, ...counts, headerRow: parsed.headerRow, encoding: parsed.encoding };
    },
  );

  /** The report as the API answers it, viewed (not recorded) or made (recorded; a district-wide one writes the dashboard's points). */
  const reportView = async (req: { query: z.infer<typeof Params>; principal: Caller | null; lang: Lang }, why: "made" | "view") => {
    const r = await jobs.report(params(req.query, req.principal), "json", why, req.principal?.name ?? null);
    return {
      reportId: r.reportId,
      digest: r.digest,
      params: r.params,
      window: r.window,
      summary: r.summary,
      byTown: r.byTown,
      byProject: r.byProject,
      lights: r.lights.map(lightView(messages.in(req.lang))),
    };
  };

  app.get(
    "/api/v1/verification",
    {
      config: { roles: FINANCE, touches: { kind: "place", from: "query" } },
      schema: {
        tags: ["verification"],
        operationId: "getVerification",
        summary: "Verdict per claimed light over the nights before `until` (default 30), with summaries by town and project",
        description:
          "Each light is `verified` or fails on the first of: not_reporting, silent, location_mismatch, not_lit, no_charging, duplicate_device, duplicate_pole, with its evidence; yuan claimed, verified and withheld side by side. A view: not recorded (`reportId` null); `POST /verification/reports` or a download records a report.",
        querystring: Params,
        response: { 200: Report },
      },
    },
    (req) => reportView(req, "view"),
  );

  app.post(
    "/api/v1/verification/reports",
    {
      config: { roles: FINANCE, touches: { kind: "place", from: "body", read: true } },
      schema: {
        tags: ["verification"],
        operationId: "makeVerificationReport",
        summary: "Generate a report on purpose and record it (its id, parameters, digest and who made it)",
        description:
          "The same report as `GET /verification` with the same parameters (in the body), recorded in `/verification/reports`. A district-wide one (no town or project) also writes the finance dashboard's points, as the nightly pass does after it records new nights.",
        body: withExample(Params.extend({ nights: z.number().int().min(1).max(366).default(30) }), {
          until: "2025-11-28",
          nights: 30,
          town: "来苏镇",
        }),
        response: { 201: Report },
      },
    },
    async (req, reply) => reply.status(201).send(await reportView({ query: req.body, principal: req.principal, lang: req.lang }, "made")),
  );

  app.get(
    "/api/v1/verification/visits",
    {
      config: { roles: FINANCE, touches: { kind: "place", from: "query" } },
      schema: {
        tags: ["verification"],
        operationId: "getVerificationVisits",
        summary: "Field-visit list: every failed light and a reproducible sample of the verified ones per town",
        description:
          "The sample (10 % of verified lights per town by default) is drawn from the report's parameters, so the same report gives the same list.",
        querystring: Params,
        response: {
          200: withExample(
            z.object({
              reportId: ReportId,
              digest: z.string(),
              params: ReportParams,
              visits: z.array(
                LightResultSchema.extend({
                  why: z.enum(["failed", "silent", "sample"]).describe("failed; silent over 72 h (to visit: not a failure); or the random sample"),
                }),
              ),
            }),
            { ...EXAMPLE_HEAD, visits: [{ ...EXAMPLE_LIGHT, why: "failed" }] },
            { description: "The lights to visit, and why" },
          ),
        },
      },
    },
    async (req) => {
      const r = await jobs.report(params(req.query, req.principal), "visits", "view", req.principal?.name ?? null);
      return { reportId: r.reportId, digest: r.digest, params: r.params, visits: r.visits.map(lightView(messages.in(req.lang))) };
    },
  );

  for (const format of ["xlsx", "csv"] as const) {
    app.get(
      `/api/v1/verification/report.${format}`,
      {
        config: { roles: FINANCE, touches: { kind: "place", from: "query" } },
        schema: {
          tags: ["verification"],
          operationId: format === "xlsx" ? "getVerificationReportXlsx" : "getVerificationReportCsv",
          summary:
            format === "xlsx" ? "XLSX: summary, detail and field-visit sheets, Chinese headers" : "CSV of the detail, UTF-8 with BOM for Excel",
          description:
            "The report as a file to keep, named for its town and date; the headers x-report-id and x-report-digest name the recorded report it is.",
          querystring: Params,
          response: {
            200:
              format === "xlsx"
                ? xlsxFile("The workbook")
                : csvFile(
                    "The detail, one light per row",
                    "设备编号,项目编号,镇街,村,道路,结论,结论代码,证据\r\nYC-LS-0001,YC-2024-017,来苏镇,梳妆台村,村道3号,夜间亮灯不足,not_lit,亮灯夜数 11/30，至少需要 24 夜\r\n",
                  ),
          },
        },
      },
      async (req, reply) => {
        const r = await jobs.file(params(req.query, req.principal), format, req.lang, req.principal?.name ?? null);
        const name = `verification-${r.params.town ?? "district"}-${r.params.until}.${format}`;
        reply
          .header("content-disposition", `attachment; filename*=UTF-8''${encodeURIComponent(name)}`)
          .header("x-report-id", r.reportId)
          .header("x-report-digest", r.digest);
        if (format === "csv") return reply.type("text/csv; charset=utf-8").send(r.body);
        return reply.type(XLSX_TYPE).send(r.body);
      },
    );
  }

  app.get(
    "/api/v1/verification/reports",
    {
      config: { roles: FINANCE, touches: "list" },
      schema: {
        tags: ["verification"],
        operationId: "listVerificationReports",
        summary: "Reports generated, with their parameters and content digests",
        description:
          "Newest first: which key made which report (JSON, field visits, XLSX or CSV), with what parameters, and its digest. A caller limited to towns sees the reports of its towns only.",
        querystring: z.object({ limit: z.coerce.number().int().min(1).max(500).default(50) }),
        response: {
          200: withExample(
            z.object({
              reports: z.array(
                z.object({
                  id: z.string(),
                  kind: z.string(),
                  params: z.record(z.string(), z.unknown()),
                  digest: z.string(),
                  keyName: z.string().nullable(),
                  createdAt: IsoTime,
                }),
              ),
            }),
            {
              reports: [
                {
                  id: EXAMPLE_HEAD.reportId,
                  kind: "xlsx",
                  params: EXAMPLE_HEAD.params,
                  digest: EXAMPLE_HEAD.digest,
                  keyName: "区财政局",
                  createdAt: "2025-11-28T02:30:00.000Z",
                },
              ],
            },
            { description: "Reports made, newest first" },
          ),
        },
      },
    },
    async (req) => ({
      reports: (await verification.reports(500))
        .filter((r) => reportSeen(req.principal, r.params))
        .slice(0, req.query.limit)
        .map((r) => ({ ...r, createdAt: new Date(r.createdAt).toISOString() })),
    }),
  );
}
