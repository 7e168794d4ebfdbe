import ExcelJS from "exceljs";
import { chinaTime } from "../platform/clock.js";
import type { Message } from "../platform/i18n.js";
import { fieldworkMessage as msg, type VisitColumn } from "./messages.js";
import { type FinalVerdict, finalVerdict } from "./rules.js";
import type { Visit, VisitImage } from "./visits.js";

/** A claimed light with its data verdict, from the verification report. */
export type DataVerdict = { deviceId: string; projectId: string; town: string; village: string; lat: number; lon: number; verdict: string };

const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
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
/** A visit as a reader sees it (times ISO, each image with its URL). */
export const visitView = (v: Visit) => ({
  ...v,
  at: iso(v.at) as string,
  receivedAt: iso(v.receivedAt) as string,
  images: v.images.map((i) => imageView(i)),
});
export { imageView };
export type VisitView = ReturnType<typeof visitView>;
export type ReportRow = {
  deviceId: string;
  projectId: string;
  town: string;
  village: string;
  dataVerdict: string;
  dataVerdictText: string;
  visit: VisitView | null;
  finalVerdict: FinalVerdict;
  finalVerdictText: string;
};

/** Each claim of the data report with its latest visit (`visits` newest first) and its final verdict. */
export function visitReportRows(data: readonly DataVerdict[], visits: readonly Visit[], render: (m: Message) => string): ReportRow[] {
  const latest = new Map<string, Visit>();
  for (const v of visits) if (!latest.has(v.deviceId)) latest.set(v.deviceId, v); // newest first
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
}

/** The report as the API answers it: how many of each final verdict, and the claims. */
export function visitReportBody(claims: ReportRow[]) {
  const counts: Record<string, number> = {};
  for (const c of claims) counts[c.finalVerdict] = (counts[c.finalVerdict] ?? 0) + 1;
  return { counts, claims };
}

const COLUMNS: VisitColumn[] = [
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

/** The workbook: each claim's data verdict, field result and final verdict, with links (at `base`) to the photos and signatures. */
export async function visitReportXlsx(claims: readonly ReportRow[], base: string, render: (m: Message) => string): Promise<Buffer> {
  const wb = new ExcelJS.Workbook();
  const ws = wb.addWorksheet(render(msg("visit_sheet", {})));
  ws.addRow(COLUMNS.map((column) => render(msg("visit_column", { column }))));
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
  return Buffer.from(await wb.xlsx.writeBuffer());
}
