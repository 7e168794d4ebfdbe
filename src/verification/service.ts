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
import {
  fieldVisits,
  type LightResult,
  REASONS,
  summarise,
  type Verdict,
  type VerificationSummary,
  type VerifySettings,
  type VisitWhy,
  verify,
} from "./verdict.js";

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
  writeDashboardPoints?: (points: DashboardPoint[]) => void | Promise<void>;
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
    const byTown = group(lights, (l) => l.town).map(([town, ls]) => ({ town, ...summarise(ls) }));
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
        ...summarise(ls),
      };
    });
    const seed = JSON.stringify(params);
    return {
      params,
      window: { from: dates[0], to: dates.at(-1), nights: dates.length },
      settings,
      summary: summarise(lights),
      byTown,
      byProject,
      lights,
      visits: fieldVisits(lights, settings.samplePct, seed),
    };
  }
  type Report = Awaited<ReturnType<typeof run>>;

  const districtWide = (p: ReportParams) => !p.town && !p.towns && !p.project;
  /**
   * `verification_summary` points, one a town (tag `project` empty) and one a project: claimed, reporting and verified
   * lights, and claimed, verified and withheld yuan. Settles when they are written (best effort: never rejects).
   */
  const writePoints = async (r: Report): Promise<number> => {
    const now = Date.now();
    const point = (town: string, project: string, x: VerificationSummary): DashboardPoint => ({
      measurement: "verification_summary",
      tags: { town, project },
      fields: {
        claimed: x.claimed,
        reporting: x.reporting,
        verified: x.verified,
        claimedSubsidyYuan: x.claimedSubsidyYuan,
        verifiedSubsidyYuan: x.verifiedSubsidyYuan,
        withheldSubsidyYuan: x.withheldSubsidyYuan,
      },
      ts: now,
    });
    const points = [...r.byTown.map((t) => point(t.town, "", t)), ...r.byProject.map((p) => point(p.town, p.projectId, p))];
    await deps.writeDashboardPoints?.(points);
    return points.length;
  };

  const digest = (r: Report) =>
    createHash("sha256")
      .update(JSON.stringify({ ...r }))
      .digest("hex");

  return {
    /** The claims as parts of JSON lines (`ClaimLines`, as the import's parse in a worker thread gives them). */
    async import(parsed: { projects: Project[]; claims: readonly string[] }, overwrites?: (towns: string[]) => void) {
      return store.upsert(parsed.projects, parsed.claims, overwrites);
    },
    /**
     * Builds the report. `made`: someone generated it on purpose (`POST /verification/reports`) or downloaded its file:
     * it is recorded, with its parameters and a digest of its content, and a district-wide one writes the dashboard's
     * points. A `view` (the finance page, its filters, the field-visit list on screen) is neither: its `reportId` is null.
     */
    async report(
      params: ReportParams,
      kind: "json" | "xlsx" | "csv" | "visits",
      keyName: string | null,
      why: "made" | "view",
    ): Promise<Report & { reportId: string | null; digest: string }> {
      const r = await run(params);
      const d = digest(r);
      if (why === "view") return { ...r, reportId: null, digest: d };
      const reportId = randomUUID();
      await store.logReport({ id: reportId, kind, params: params as unknown as Record<string, unknown>, digest: d, keyName, createdAt: Date.now() });
      if (kind === "json" && districtWide(params)) void writePoints(r).catch(() => 0); // (the report does not wait for the dashboard)
      return { ...r, reportId, digest: d };
    },
    /**
     * The dashboard's points from the district's report as of `params` (the nightly pass calls it once it has written
     * new nightly records, so the dashboard has figures though nobody opened a report); not recorded as a report made.
     */
    async dashboardPoints(params: ReportParams): Promise<number> {
      const r = await run(params);
      return writePoints(r);
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

const detailHeaders = (render: Render) =>
  col(render, "device", "project", "town", "village", "road", "verdict", "verdictCode", "claimedYuan", "verifiedYuan", "withheldYuan", "evidence");
/** A light's row: its yuan claimed, verified and withheld beside its verdict (their sums are the summary's). */
const detailRow = (render: Render, l: LightResult) => {
  const verified = l.verdict === "verified" ? l.subsidyYuan : 0;
  return [
    l.deviceId,
    l.projectId,
    l.town,
    l.village,
    l.road,
    verdictText(render, l.verdict),
    l.verdict,
    l.subsidyYuan,
    verified,
    l.subsidyYuan - verified,
    render(l.evidence),
  ];
};

/**
 * A sheet made to print: landscape on A4, as wide as the page (as many pages down as it takes), the header row frozen on
 * screen and repeated on every printed page, a filter on the header over the table's rows, the evidence column wide
 * and wrapped.
 */
function printable(ws: ExcelJS.Worksheet, header: number, lastRow: number, widths: number[]) {
  ws.pageSetup = {
    ...ws.pageSetup,
    paperSize: 9, // A4
    orientation: "landscape",
    fitToPage: true,
    fitToWidth: 1,
    fitToHeight: 0,
    horizontalCentered: true,
    printTitlesRow: `${header}:${header}`,
    margins: { left: 0.4, right: 0.4, top: 0.5, bottom: 0.5, header: 0.3, footer: 0.3 },
  };
  ws.views = [{ state: "frozen", xSplit: 0, ySplit: header, topLeftCell: `A${header + 1}`, activeCell: `A${header + 1}` }];
  ws.autoFilter = { from: { row: header, column: 1 }, to: { row: Math.max(header, lastRow), column: widths.length } };
  widths.forEach((w, i) => {
    const c = ws.getColumn(i + 1);
    c.width = w;
    if (w >= 40) c.alignment = { wrapText: true, vertical: "top" };
  });
  ws.getRow(header).font = { bold: true };
}

/**
 * XLSX: a summary sheet (district, towns, projects; yuan claimed, verified and withheld side by side; a signature
 * block), a detail sheet and the field-visit list with each light's claimed coordinates, in the reader's language
 * (Chinese unless English is asked for), each made to print.
 */
export async function toXlsx(
  r: {
    params: ReportParams;
    window: { from?: string | undefined; to?: string | undefined };
    summary: VerificationSummary;
    byTown: ({ town: string } & VerificationSummary)[];
    byProject: ({ projectId: string; town: string; village: string } & VerificationSummary)[];
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
    ...col(render, "claimedYuan", "verifiedYuan", "withheldYuan"),
  ];
  const sRow = (scope: "all" | "town" | "project", name: string, s: VerificationSummary) => [
    render(m("report_scope", { scope })),
    name,
    s.claimed,
    s.reporting,
    s.verified,
    ...REASONS.map((x) => s.byReason[x] ?? 0),
    s.claimedSubsidyYuan,
    s.verifiedSubsidyYuan,
    s.withheldSubsidyYuan,
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
  ]).font = { bold: true, size: 14 };
  sum.addRow(summaryHeaders);
  sum.addRow(sRow("all", r.params.town ?? render(m("report_district", {})), r.summary));
  for (const t of r.byTown) sum.addRow(sRow("town", t.town, t));
  for (const p of r.byProject) sum.addRow(sRow("project", `${p.projectId} ${p.town}${p.village}`, p));
  const lastSummary = sum.rowCount;
  for (const c of [summaryHeaders.length - 2, summaryHeaders.length - 1, summaryHeaders.length]) sum.getColumn(c).numFmt = "#,##0";
  printable(sum, 2, lastSummary, [10, 28, ...summaryHeaders.slice(2).map(() => 12)]);
  sum.addRow([]);
  sum.addRow([render(m("report_digest", { digest: r.digest }))]);
  sum.addRow([]);
  // the signature block: who made the table, who checked it, and the date, each on its own line to sign
  for (const line of ["preparer", "reviewer", "date"] as const) {
    sum.addRow([]);
    sum.addRow(["", render(m("report_signature", { line }))]);
  }
  const det = wb.addWorksheet(render(m("report_sheet", { sheet: "detail" })));
  det.addRow(detailHeaders(render));
  for (const l of r.lights) det.addRow(detailRow(render, l));
  printable(det, 1, det.rowCount, [14, 14, 10, 12, 14, 14, 16, 12, 12, 12, 60]);
  const vis = wb.addWorksheet(render(m("report_sheet", { sheet: "visits" })));
  vis.addRow(col(render, "device", "project", "town", "village", "road", "lat", "lon", "why", "verdict", "evidence"));
  for (const v of r.visits)
    vis.addRow([
      v.deviceId,
      v.projectId,
      v.town,
      v.village,
      v.road,
      v.lat,
      v.lon,
      render(m("report_visit_why", { why: v.why })),
      verdictText(render, v.verdict),
      render(v.evidence),
    ]);
  for (const c of [6, 7]) vis.getColumn(c).numFmt = "0.00000";
  printable(vis, 1, vis.rowCount, [14, 14, 10, 12, 14, 11, 11, 16, 14, 60]);
  return Buffer.from(await wb.xlsx.writeBuffer());
}

/** CSV of the detail, UTF-8 with BOM so that Excel shows the Chinese. */
export function toCsv(lights: LightResult[], render: Render): string {
  return csvDocument([detailHeaders(render), ...lights.map((l) => detailRow(render, l))]);
}
