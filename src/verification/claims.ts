import { Readable } from "node:stream";
import { parse } from "csv-parse/sync";
import ExcelJS from "exceljs";
import { z } from "zod";
import { DeviceIdSchema } from "../../devices/index.js";
import { chinaDate } from "../platform/clock.js";
import { type ImportLimits, importLimits } from "../platform/config.js";
import { type CsvEncoding, csvText } from "../platform/csv.js";
import { errorMessage, MAX_ROW_ERRORS } from "../platform/errors.js";
import type { Message } from "../platform/i18n.js";
import { issueMessage } from "../platform/validation.js";
import { checkZip, reordered } from "../platform/zip.js";
import { verificationMessage as msg } from "./messages.js";

/**
 * The finance bureau's list of subsidised lights: one row per claimed light, with its project
 * (一事一议). Column names in Chinese or English; CSV (UTF-8 with or without BOM, or GBK/GB18030 as Excel on Chinese
 * Windows saves it) or XLSX; the header row may sit below a title (found among the first HEADER_SEARCH_ROWS rows).
 */
export const ProjectSchema = z.object({
  id: z.string().trim().min(1).max(64),
  town: z.string().trim().min(1).max(64),
  village: z.string().trim().min(1).max(64),
  road: z.string().trim().max(100).default(""),
  year: z.coerce.number().int().min(2000).max(2100),
  approvedLights: z.coerce.number().int().positive().max(100_000),
  subsidyYuan: z.coerce.number().positive().max(100_000),
});
export type Project = z.infer<typeof ProjectSchema>;

export const ClaimSchema = z.object({
  deviceId: DeviceIdSchema,
  projectId: z.string().trim().min(1).max(64),
  lat: z.coerce.number().min(-90).max(90),
  lon: z.coerce.number().min(-180).max(180),
  controllerSerial: z.string().trim().min(1).max(64),
  imei: z
    .string()
    .trim()
    .regex(/^\d{15}$/, "hint_imei"),
  installedAt: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, "hint_date"),
});
export type Claim = z.infer<typeof ClaimSchema>;

/** Accepted column names → field. */
const COLUMNS: Record<string, keyof (Project & Claim) | "projectId"> = {
  项目编号: "projectId",
  projectid: "projectId",
  project: "projectId",
  镇街: "town",
  镇: "town",
  街道: "town",
  town: "town",
  村: "village",
  村社区: "village",
  village: "village",
  道路: "road",
  路段: "road",
  road: "road",
  年度: "year",
  年份: "year",
  year: "year",
  批准数量: "approvedLights",
  批复数量: "approvedLights",
  approvedlights: "approvedLights",
  approved: "approvedLights",
  补助标准: "subsidyYuan",
  "补助标准(元)": "subsidyYuan",
  "补助标准（元）": "subsidyYuan",
  subsidyyuan: "subsidyYuan",
  subsidy: "subsidyYuan",
  设备编号: "deviceId",
  deviceid: "deviceId",
  device: "deviceId",
  经度: "lon",
  lon: "lon",
  longitude: "lon",
  纬度: "lat",
  lat: "lat",
  latitude: "lat",
  控制器序列号: "controllerSerial",
  控制器编号: "controllerSerial",
  controllerserial: "controllerSerial",
  serial: "controllerSerial",
  imei: "imei",
  模块imei: "imei",
  通信模块imei: "imei",
  安装日期: "installedAt",
  installedat: "installedAt",
  installdate: "installedAt",
};
const REQUIRED = [
  "projectId",
  "town",
  "village",
  "year",
  "approvedLights",
  "subsidyYuan",
  "deviceId",
  "lon",
  "lat",
  "controllerSerial",
  "imei",
  "installedAt",
];

/** A row's problem, said by a message (its line is in the message's parameters too). */
export type RowError = { line: number; problem: Message };
/**
 * Claims to import as parts of JSON lines (each `JSON.stringify(claim)`; a part holds up to 5,000), with their projects:
 * 100,000 claims as objects in the service's thread cost far more than as text, which the store hands to DuckDB.
 * `errors` is empty: a file with a row problem is refused.
 */
export type ClaimLines = {
  projects: Project[];
  claims: string[];
  count: number;
  errors: RowError[];
  headerRow: number;
  encoding: CsvEncoding | null;
};
export type ParsedClaims = {
  projects: Project[];
  claims: Claim[];
  errors: RowError[];
  errorRows: number;
  headerRow: number;
  encoding: CsvEncoding | null;
};

/** How far down a sheet the header row is looked for (a title, a unit line and a blank row above it are common). */
export const HEADER_SEARCH_ROWS = 10;
/** What a claims file may hold (from AGRILUME_IMPORT_MAX_ROWS: src/platform/config.ts `importLimits`). */
export type ClaimsLimits = Pick<ImportLimits, "maxRows" | "xlsx">;
export const DEFAULT_CLAIMS_LIMITS: ClaimsLimits = importLimits(100_000);

/** A file refused whole before its rows are checked: too many rows, or a workbook that would inflate past its cap. */
export class ClaimsRefused extends Error {
  constructor(readonly problem: Message) {
    super(problem.code);
  }
}

const cellText = (v: ExcelJS.CellValue): string => {
  if (v === null || v === undefined) return "";
  if (v instanceof Date) return chinaDate(v.getTime()); // dates in China time
  if (typeof v === "object" && "text" in v) return String(v.text);
  if (typeof v === "object" && "result" in v) return String(v.result ?? "");
  if (typeof v === "object" && "richText" in v) return v.richText.map((t) => t.text).join("");
  return String(v);
};

/**
 * The entries ExcelJS's streaming reader needs before a sheet, in its order, then the first sheet: it is then read as it
 * streams (a sheet met before the shared strings is written to a temporary file first), and nothing else is read.
 */
const XLSX_FIRST = ["_rels/.rels", "xl/_rels/workbook.xml.rels", "xl/workbook.xml", "xl/styles.xml", "xl/sharedStrings.xml"];
const SHEET = /^xl\/worksheets\/sheet(\d+)\.xml$/;
const xlsxRank = (entries: readonly { name: string }[]) => {
  const first = Math.min(...entries.map((e) => Number(SHEET.exec(e.name)?.[1] ?? Number.POSITIVE_INFINITY)));
  return (name: string): number | null => {
    const i = XLSX_FIRST.indexOf(name);
    if (i >= 0) return i;
    return Number(SHEET.exec(name)?.[1]) === first ? XLSX_FIRST.length : null;
  };
};

export const TICK_ROWS = 10_000;

/**
 * Each row of a CSV text or of an XLSX workbook's first sheet, as it is read: the header row's cells to `onHeaders`,
 * then every non-empty row's to `onRow` with its line, nothing kept. Past `maxRows` rows it stops with `ClaimsRefused`.
 * A workbook is checked from its zip's central directory before anything is inflated (src/platform/zip.ts), then read
 * by ExcelJS's streaming reader (a loaded workbook holds every cell as an object: ~2 GB for 100,000 rows).
 */
export async function eachRow(
  body: Buffer | string,
  kind: "csv" | "xlsx",
  limits: ClaimsLimits,
  /**
   * Each row from the top until it answers true (that row is the header), with its line; `last` is set on the last row
   * it may be offered (HEADER_SEARCH_ROWS, or the file's end, when `cells` is empty), where it must take it or throw.
   */
  onHeaders: (headers: string[], line: number, last: boolean) => boolean,
  onRow: (line: number, cells: string[]) => void,
  /** Called every TICK_ROWS rows (the import's thread collects its garbage there). */
  tick?: () => void,
): Promise<{ encoding: CsvEncoding | null }> {
  let rows = 0;
  const count = () => {
    if (++rows > limits.maxRows) throw new ClaimsRefused(errorMessage("import_too_many_rows", { max: limits.maxRows }));
    if (rows % TICK_ROWS === 0) tick?.();
  };
  if (kind === "csv") {
    let header = false;
    let line = 0;
    const { text, encoding } = typeof body === "string" ? { text: body.replace(/^\uFEFF/, ""), encoding: null } : csvText(body);
    // (UTF-8 bytes are parsed as they are, without a copy as text; `bom` drops a leading byte-order mark)
    parse(text, {
      bom: true,
      encoding: "utf8",
      skip_empty_lines: true,
      relax_column_count: true,
      // each record handled as it is read, and dropped (the parser keeps none)
      on_record: (record: string[]) => {
        line++;
        if (!header) header = onHeaders(record, line, line >= HEADER_SEARCH_ROWS);
        else {
          count();
          onRow(line, record);
        }
        return null;
      },
    });
    if (!header) onHeaders([], line + 1, true);
    return { encoding };
  }
  const zip = typeof body === "string" ? Buffer.from(body) : body;
  const checked = await checkZip(zip, limits.xlsx);
  if ("problem" in checked) {
    if (checked.problem === "too_many_entries") throw new ClaimsRefused(msg("xlsx_too_many_entries", { entries: checked.entries, max: checked.max }));
    if (checked.problem === "too_large") throw new ClaimsRefused(msg("xlsx_too_large", { bytes: checked.bytes, maxBytes: checked.max }));
    throw new Error(`not a workbook: ${checked.why}`);
  }
  const source = Readable.from(reordered(zip, checked.entries, xlsxRank(checked.entries)));
  const reader = new ExcelJS.stream.xlsx.WorkbookReader(source, {
    sharedStrings: "cache",
    styles: "cache",
    hyperlinks: "ignore",
    worksheets: "emit",
    entries: "ignore",
  });
  let header = false;
  let last = 0;
  try {
    await readSheet();
  } finally {
    source.destroy(); // (a file refused part-way is read no further)
  }
  if (!header) onHeaders([], last + 1, true);
  return { encoding: null };

  async function readSheet() {
    for await (const ws of reader) {
      for await (const row of ws) {
        const cells: string[] = [];
        row.eachCell({ includeEmpty: true }, (c, col) => {
          cells[col - 1] = cellText(c.value).trim();
        });
        for (let i = 0; i < cells.length; i++) cells[i] ??= "";
        last = row.number;
        if (!cells.some((v) => v !== "")) continue;
        if (!header) {
          // (a merged title's text is in its first cell; the cells it covers are read empty)
          header = onHeaders(cells, row.number, row.number >= HEADER_SEARCH_ROWS);
          continue;
        }
        count();
        onRow(row.number, cells);
      }
    }
  }
}

/**
 * Reads a claims file row by row, checking each as it comes: every good claim to `onClaim` (a claim whose device or
 * project an earlier row already gave is a row problem), every row's problem to `onError`. Returns the projects, how
 * many rows had problems, or why the file is refused whole.
 */
export async function readClaims(
  body: Buffer | string,
  kind: "csv" | "xlsx",
  limits: ClaimsLimits,
  onClaim: (c: Claim) => void,
  onError: (e: RowError) => void,
  tick?: () => void,
): Promise<{ projects: Project[]; errorRows: number; refused: Message | null; headerRow: number; encoding: CsvEncoding | null }> {
  const projects = new Map<string, { p: Project; line: number; json: string }>();
  const seen = new Map<string, number>();
  let mapped: (string | null)[] = [];
  /** The row most like a header so far (the one whose missing columns are said if none has them all). */
  let best: { line: number; missing: string[] } | null = null;
  let headerRow = 0;
  let encoding: CsvEncoding | null = null;
  let rows = 0;
  let errorRows = 0;
  const error = (e: RowError) => {
    errorRows++;
    onError(e);
  };
  try {
    const read = await eachRow(
      body,
      kind,
      limits,
      (headers, line, last) => {
        const fields: (string | null)[] = headers.map((h) => COLUMNS[h.replace(/\s/g, "").toLowerCase()] ?? COLUMNS[h.trim()] ?? null);
        const missing = REQUIRED.filter((f) => !fields.includes(f));
        if (missing.length === 0) {
          mapped = fields;
          headerRow = line;
          return true;
        }
        // (a title row names no column; a header missing some is kept to say what it lacks)
        if (headers.length > 0 && (best === null || missing.length < best.missing.length)) best = { line, missing };
        if (!last) return false;
        headerRow = best?.line ?? 1;
        throw new ClaimsRefused(msg("claims_missing_columns", { columns: best?.missing ?? REQUIRED }));
      },
      (line, cells) => {
        rows++;
        const o: Record<string, string> = {};
        for (let i = 0; i < mapped.length; i++) {
          const f = mapped[i];
          const v = cells[i];
          if (f && v !== undefined && v !== "") o[f] = v;
        }
        const p = ProjectSchema.safeParse({ ...o, id: o.projectId });
        const c = ClaimSchema.safeParse(o);
        if (!p.success || !c.success) {
          const issues = [...(p.success ? [] : p.error.issues), ...(c.success ? [] : c.error.issues)].map((x) => issueMessage(x));
          // (a field both schemas check, such as the project id, is said once)
          const problems = [...new Map(issues.map((m) => [JSON.stringify(m), m])).values()];
          error({ line, problem: errorMessage("row_problems", { line, id: o.deviceId ?? null, problems }) });
          return;
        }
        const first = seen.get(c.data.deviceId);
        if (first !== undefined) {
          error({ line, problem: msg("claim_repeated", { line, deviceId: c.data.deviceId, first }) });
          return;
        }
        seen.set(c.data.deviceId, line);
        const known = projects.get(p.data.id);
        const json = known ? JSON.stringify(p.data) : "";
        if (known && known.json !== json) {
          error({ line, problem: msg("project_differs", { line, projectId: p.data.id, first: known.line }) });
          return;
        }
        if (!known) projects.set(p.data.id, { p: p.data, line, json: JSON.stringify(p.data) });
        onClaim(c.data);
      },
      tick,
    );
    encoding = read.encoding;
  } catch (e: unknown) {
    if (!(e instanceof ClaimsRefused)) {
      error({ line: 0, problem: msg("claims_unreadable", { kind }) });
      return { projects: [], errorRows, refused: null, headerRow, encoding };
    }
    // a missing column is the problem of the row most like a header (line 1 without one); the rest refuse the file whole
    if (e.problem.code !== "claims_missing_columns") return { projects: [], errorRows: 0, refused: e.problem, headerRow, encoding };
    error({ line: headerRow, problem: e.problem });
    return { projects: [], errorRows, refused: null, headerRow, encoding };
  }
  if (rows === 0) error({ line: headerRow, problem: errorMessage("no_rows", {}) });
  return { projects: [...projects.values()].map((x) => x.p), errorRows, refused: null, headerRow, encoding };
}

/**
 * The whole file's projects, claims and row problems at once (the first MAX_ROW_ERRORS problems kept, `errorRows`
 * counts all), or `ClaimsRefused`. The import itself (./jobs.ts) keeps the claims as JSON lines instead.
 */
export async function parseClaims(body: Buffer | string, kind: "csv" | "xlsx", limits: ClaimsLimits = DEFAULT_CLAIMS_LIMITS): Promise<ParsedClaims> {
  const claims: Claim[] = [];
  const errors: RowError[] = [];
  const r = await readClaims(
    body,
    kind,
    limits,
    (c) => claims.push(c),
    (e) => {
      if (errors.length < MAX_ROW_ERRORS) errors.push(e);
    },
  );
  if (r.refused) throw new ClaimsRefused(r.refused);
  return { projects: r.projects, claims, errors, errorRows: r.errorRows, headerRow: r.headerRow, encoding: r.encoding };
}
