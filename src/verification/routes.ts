import { z } from "zod";
import { invalid } from "../http/errors.js";
import type { Api } from "../http/server.js";
import type { VerificationJobs } from "./jobs.js";
import type { Verification } from "./service.js";

const FINANCE = ["admin", "finance"] as const;
const XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
const Params = z.object({
  town: z.string().optional(),
  project: z.string().optional(),
  until: z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}$/, "YYYY-MM-DD")
    .optional(),
  nights: z.coerce.number().int().min(1).max(366).default(30),
});

export function verificationRoutes(app: Api, deps: { verification: Verification; jobs: VerificationJobs; clock: () => number }) {
  const { verification, jobs } = deps;
  app.addContentTypeParser(XLSX_TYPE, { parseAs: "buffer" }, (_req, body, done) => done(null, body));
  const params = (q: z.infer<typeof Params>) => ({
    town: q.town,
    project: q.project,
    nights: q.nights,
    until: q.until ?? new Date(deps.clock() + 8 * 3600_000).toISOString().slice(0, 10),
  });

  app.post(
    "/api/v1/projects/import",
    {
      config: { roles: FINANCE },
      schema: {
        tags: ["verification"],
        summary: "Import the bureau's claims list: CSV (text/csv) or XLSX, Chinese or English column names; all rows or none",
        body: z.unknown(),
      },
    },
    async (req) => {
      const isXlsx = String(req.headers["content-type"] ?? "").startsWith(XLSX_TYPE);
      if (!(typeof req.body === "string" || Buffer.isBuffer(req.body))) throw invalid("send the list as text/csv or as an XLSX file");
      const parsed = await jobs.parseClaims(req.body, isXlsx ? "xlsx" : "csv");
      if (parsed.errors.length > 0) throw invalid(`${parsed.errors.length} row(s) have problems; nothing was imported`, { rows: parsed.errors });
      return { projects: parsed.projects.length, ...(await verification.import(parsed)) };
    },
  );

  app.get(
    "/api/v1/verification",
    {
      config: { roles: FINANCE },
      schema: {
        tags: ["verification"],
        summary: "Verdict per claimed light over the nights before `until` (default 30), with summaries by town and project",
        querystring: Params,
      },
    },
    async (req) => {
      const r = await jobs.report(params(req.query), "json", req.principal?.name ?? null);
      return {
        reportId: r.reportId,
        digest: r.digest,
        params: r.params,
        window: r.window,
        summary: r.summary,
        byTown: r.byTown,
        byProject: r.byProject,
        lights: r.lights,
      };
    },
  );

  app.get(
    "/api/v1/verification/visits",
    {
      config: { roles: FINANCE },
      schema: {
        tags: ["verification"],
        summary: "Field-visit list: every failed light and a reproducible sample of the verified ones per town",
        querystring: Params,
      },
    },
    async (req) => {
      const r = await jobs.report(params(req.query), "visits", req.principal?.name ?? null);
      return { reportId: r.reportId, digest: r.digest, params: r.params, visits: r.visits };
    },
  );

  for (const format of ["xlsx", "csv"] as const) {
    app.get(
      `/api/v1/verification/report.${format}`,
      {
        config: { roles: FINANCE },
        schema: {
          tags: ["verification"],
          summary:
            format === "xlsx" ? "XLSX: summary, detail and field-visit sheets, Chinese headers" : "CSV of the detail, UTF-8 with BOM for Excel",
          querystring: Params,
        },
      },
      async (req, reply) => {
        const r = await jobs.file(params(req.query), format, req.principal?.name ?? null);
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
      config: { roles: FINANCE },
      schema: {
        tags: ["verification"],
        summary: "Reports generated, with their parameters and content digests",
        querystring: z.object({ limit: z.coerce.number().int().min(1).max(500).default(50) }),
      },
    },
    async (req) => ({
      reports: (await verification.reports(req.query.limit)).map((r) => ({ ...r, createdAt: new Date(r.createdAt).toISOString() })),
    }),
  );
}
