import { createHash, randomUUID } from "node:crypto";
import ExcelJS from "exceljs";
import { addDays, chinaDate, chinaDayStart, chinaNoon, DAY_MS } from "../platform/clock.js";
import { csvDocument } from "../platform/csv.js";
import type { Message } from "../platform/i18n.js";
import type { Registry } from "../registry/registry.js";
import type { DashboardPoint } from "../storage/dashboard-points.js";
import type { NightStore } from "../streetlights/index.js";
import type { Project } from "./claims.js";
import { type ReportColumn, verificationMessage } from "./messages.js";
import type { VerificationStore } from "./store.js";
import { fieldVisits, type LightResult, REASONS, summarise, type Verdict, type VerifySettings, type VisitWhy, verify } from "./verdict.js";

/** `towns`: the caller's towns when it is limited to some (src/access/scope.ts): the report holds only their lights. */
export type ReportParams = { town?: string | undefined; towns?: string[] | undefined; project?: string | undefined; until: string; nights: number };

/** The `nights` nights before `until` (YYYY-MM-DD): the night that began on each of those dates. */
export function windowDates(until: string, nights: number): string[] {
  const end = chinaNoon(until);
  return Array.from({ length: nights }, (_, i) => chinaDate(end - (nights - i) * DAY_MS));
}

/** Claims, verdicts and reports for the finance bureau. A report is a pure function of its parameters and the stored data. */
export function createVerification(deps: {
  store: VerificationStore;
  nights: NightStore;
  registry: Registry;
  settings: VerifySettings;
  /** Points for dashboards (src/storage/dashboard-points.ts). */
  writeDashboardPoints?: (points: DashboardPoint[]) => void;
}) {
  const { store, nights, registry, settings } = deps;

  async function run(params: ReportParams) {
    const [projects, allClaims, latest] = await Promise.all([store.projects(), store.claims(), nights.latestDate()]);
    // A night is judged once its records are written (after its dawn): a window asked to reach past the latest recorded
    // night ends with that night, instead of counting a night in progress, or not yet begun, as unlit for every light.
    const next = latest === null ? null : addDays(latest, 1);
    const until = next !== null && next < params.until ? next : params.until;
    const dates = windowDates(until, params.nights);
    const windows = await nights.summary(dates[0] ?? until, dates.at(-1) ?? until, settings.pvWh);
    const untilMs = chinaDayStart(until);
    // Identity and pole checks look at every claim (any town, any year); the report then narrows.
    const all = verify({
      projects,
      claims: allClaims,
      windows,
      nights: dates.length,
      until: untilMs,
      registered: (id) => registry.get(id)?.family === "streetlight",
      settings,
    });
    const pById = new Map(projects.map((p) => [p.id, p]));
    const lights = all.filter(
      (r) =>
        (!params.town || r.town === params.town) &&
        (!params.towns || params.towns.includes(r.town)) &&
        (!params.project || r.projectId === params.project),
    );
    const scopeProjects = projects.filter((p) => lights.some((l) => l.projectId === p.id));
    const byTown = group(lights, (l) => l.town).map(([town, ls]) => ({ town, ...summarise(ls, projects) }));
    const byProject = group(lights, (l) => l.projectId).map(([projectId, ls]) => {
      const p = pById.get(projectId);
      return {
        projectId,
        town: p?.town ?? "",
        village: p?.village ?? "",
        road: p?.road ?? "",
        year: p?.year ?? null,
        approvedLights: p?.approvedLights ?? null,
        subsidyYuan: p?.subsidyYuan ?? null,
        ...summarise(ls, projects),
      };
    });
    const seed = JSON.stringify(params);
    return {
      params,
      window: { from: dates[0], to: dates.at(-1), nights: dates.length },
      settings,
      summary: summarise(lights, scopeProjects),
      byTown,
      byProject,
      lights,
      visits: fieldVisits(lights, settings.samplePct, seed),
    };
  }
  type Report = Awaited<ReturnType<typeof run>>;

  const digest = (r: Report) =>
    createHash("sha256")
      .update(JSON.stringify({ ...r }))
      .digest("hex");

  return {
    /** The claims as parts of JSON lines (`ClaimLines`, as the import's parse in a worker thread gives them). */
    async import(parsed: { projects: Project[]; claims: readonly string[] }) {
      return store.upsert(parsed.projects, parsed.claims);
    },
    /** Builds the report and records that it was made, with its parameters and a digest of its content. */
    async report(
      params: ReportParams,
      kind: "json" | "xlsx" | "csv" | "visits",
      keyName: string | null,
    ): Promise<Report & { reportId: string; digest: string }> {
      const r = await run(params);
      const d = digest(r);
      const reportId = randomUUID();
      await store.logReport({ id: reportId, kind, params: params as unknown as Record<string, unknown>, digest: d, keyName, createdAt: Date.now() });
      if (kind === "json" && !params.town && !params.towns && !params.project) {
        const now = Date.now();
        const point = (town: string, project: string, x: ReturnType<typeof summarise>): DashboardPoint => ({
          measurement: "verification_summary",
          tags: { town, project },
          fields: { claimed: x.claimed, reporting: x.reporting, verified: x.verified, verifiedSubsidyYuan: x.verifiedSubsidyYuan },
          ts: now,
        });
        deps.writeDashboardPoints?.([...r.byTown.map((t) => point(t.town, "", t)), ...r.byProject.map((p) => point(p.town, p.projectId, p))]);
      }
      return { ...r, reportId, digest: d };
    },
    reports: (limit: number) => store.reports(limit),
  };
}
export type Verification = ReturnType<typeof createVerification>;

function group<T>(xs: T[], key: (x: T) => string): [string, T[]][] {
  const m = new Map<string, T[]>();
  for (const x of xs) m.set(key(x), [...(m.get(key(x)) ?? []), x]);
  return [...m].sort(([a], [b]) => a.localeCompare(b));
}

/** Renders a message in the language a file is made in. */
type Render = (m: Message) => string;
const col = (render: Render, ...columns: ReportColumn[]) => columns.map((column) => render(verificationMessage("report_column", { column })));
const verdictText = (render: Render, verdict: Verdict) => render(verificationMessage("verdict", { verdict }));

const detailHeaders = (render: Render) => col(render, "device", "project", "town", "village", "road", "verdict", "verdictCode", "evidence");
const detailRow = (render: Render, l: LightResult) => [
  l.deviceId,
  l.projectId,
  l.town,
  l.village,
  l.road,
  verdictText(render, l.verdict),
  l.verdict,
  render(l.evidence),
];

/**
 * XLSX: a summary sheet (district, towns, projects), a detail sheet and the field-visit list, in the reader's language
 * (Chinese unless English is asked for).
 */
export async function toXlsx(
  r: {
    params: ReportParams;
    window: { from?: string | undefined; to?: string | undefined };
    summary: ReturnType<typeof summarise>;
    byTown: ({ town: string } & ReturnType<typeof summarise>)[];
    byProject: ({ projectId: string; town: string; village: string } & ReturnType<typeof summarise>)[];
    lights: LightResult[];
    visits: (LightResult & { why: VisitWhy })[];
    digest: string;
  },
  render: Render,
): Promise<Buffer> {
  const m = verificationMessage;
  const wb = new ExcelJS.Workbook();
  wb.creator = "Agrilume";
  wb.created = new Date(chinaDayStart(r.params.until));
  wb.modified = wb.created;
  const summaryHeaders = [
    ...col(render, "scope", "name", "claimed", "reporting", "verified"),
    ...REASONS.map((x) => verdictText(render, x)),
    ...col(render, "subsidy"),
  ];
  const sRow = (scope: "all" | "town" | "project", name: string, s: ReturnType<typeof summarise>) => [
    render(m("report_scope", { scope })),
    name,
    s.claimed,
    s.reporting,
    s.verified,
    ...REASONS.map((x) => s.byReason[x] ?? 0),
    s.verifiedSubsidyYuan,
  ];
  const sum = wb.addWorksheet(render(m("report_sheet", { sheet: "summary" })));
  sum.addRow([
    render(
      m("report_title", {
        from: r.window.from ?? "",
        to: r.window.to ?? "",
        nights: r.params.nights,
        town: r.params.town ?? null,
        project: r.params.project ?? null,
      }),
    ),
  ]);
  sum.addRow(summaryHeaders).font = { bold: true };
  sum.addRow(sRow("all", r.params.town ?? render(m("report_district", {})), r.summary));
  for (const t of r.byTown) sum.addRow(sRow("town", t.town, t));
  for (const p of r.byProject) sum.addRow(sRow("project", `${p.projectId} ${p.town}${p.village}`, p));
  sum.addRow([]);
  sum.addRow([render(m("report_digest", { digest: r.digest }))]);
  const det = wb.addWorksheet(render(m("report_sheet", { sheet: "detail" })));
  det.addRow(detailHeaders(render)).font = { bold: true };
  for (const l of r.lights) det.addRow(detailRow(render, l));
  const vis = wb.addWorksheet(render(m("report_sheet", { sheet: "visits" })));
  vis.addRow(col(render, "device", "project", "town", "village", "road", "why", "verdict", "evidence")).font = { bold: true };
  for (const v of r.visits)
    vis.addRow([
      v.deviceId,
      v.projectId,
      v.town,
      v.village,
      v.road,
      render(m("report_visit_why", { why: v.why })),
      verdictText(render, v.verdict),
      render(v.evidence),
    ]);
  for (const ws of [sum, det, vis])
    ws.columns.forEach((c) => {
      c.width = 16;
    });
  return Buffer.from(await wb.xlsx.writeBuffer());
}

/** CSV of the detail, UTF-8 with BOM so that Excel shows the Chinese. */
export function toCsv(lights: LightResult[], render: Render): string {
  return csvDocument([detailHeaders(render), ...lights.map((l) => detailRow(render, l))]);
}
