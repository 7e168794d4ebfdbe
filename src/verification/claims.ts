import { parse } from "csv-parse/sync";
import ExcelJS from "exceljs";
import { z } from "zod";
import { DeviceIdSchema } from "../../devices/index.js";
import { chinaDate } from "../platform/clock.js";
import { errorMessage } from "../platform/errors.js";
import type { Message } from "../platform/i18n.js";
import { issueMessage } from "../platform/validation.js";
import { verificationMessage as msg } from "./messages.js";

/**
 * The finance bureau's list of subsidised lights: one row per claimed light, with its project
 * (一事一议). Column names in Chinese or English; CSV (UTF-8, with or without BOM) or XLSX.
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
export type ParsedClaims = { projects: Project[]; claims: Claim[]; errors: RowError[] };

/** Rows as records of strings keyed by header, from CSV text or an XLSX workbook's first sheet. */
export async function readRows(
  body: Buffer | string,
  kind: "csv" | "xlsx",
): Promise<{ headers: string[]; rows: { line: number; values: Record<string, string> }[] }> {
  if (kind === "csv") {
    const text = (typeof body === "string" ? body : body.toString("utf8")).replace(/^\uFEFF/, "");
    const records = parse(text, { skip_empty_lines: true, relax_column_count: true }) as string[][];
    const [headers = [], ...rest] = records;
    return { headers, rows: rest.map((r, i) => ({ line: i + 2, values: Object.fromEntries(headers.map((h, j) => [h, r[j] ?? ""])) })) };
  }
  const wb = new ExcelJS.Workbook();
  await wb.xlsx.load((typeof body === "string" ? Buffer.from(body) : body) as unknown as ArrayBuffer);
  const ws = wb.worksheets[0];
  if (!ws) return { headers: [], rows: [] };
  const cell = (v: ExcelJS.CellValue): string => {
    if (v === null || v === undefined) return "";
    if (v instanceof Date) return chinaDate(v.getTime()); // dates in China time
    if (typeof v === "object" && "text" in v) return String(v.text);
    if (typeof v === "object" && "result" in v) return String(v.result ?? "");
    if (typeof v === "object" && "richText" in v) return v.richText.map((t) => t.text).join("");
    return String(v);
  };
  const headers: string[] = [];
  ws.getRow(1).eachCell({ includeEmpty: true }, (c, col) => {
    headers[col - 1] = cell(c.value).trim();
  });
  const rows: { line: number; values: Record<string, string> }[] = [];
  ws.eachRow((row, n) => {
    if (n === 1) return;
    const values: Record<string, string> = {};
    headers.forEach((h, i) => {
      values[h] = cell(row.getCell(i + 1).value).trim();
    });
    if (Object.values(values).some((v) => v !== "")) rows.push({ line: n, values });
  });
  return { headers, rows };
}

export async function parseClaims(body: Buffer | string, kind: "csv" | "xlsx"): Promise<ParsedClaims> {
  let table: Awaited<ReturnType<typeof readRows>>;
  try {
    table = await readRows(body, kind);
  } catch {
    return {
      projects: [],
      claims: [],
      errors: [{ line: 0, problem: msg("claims_unreadable", { kind }) }],
    };
  }
  const mapped = table.headers.map((h) => COLUMNS[h.replace(/\s/g, "").toLowerCase()] ?? COLUMNS[h.trim()] ?? null);
  const missing = REQUIRED.filter((f) => !mapped.includes(f as never));
  if (missing.length > 0)
    return {
      projects: [],
      claims: [],
      errors: [{ line: 1, problem: msg("claims_missing_columns", { columns: missing }) }],
    };
  const projects = new Map<string, { p: Project; line: number }>();
  const claims: Claim[] = [];
  const errors: RowError[] = [];
  const seen = new Map<string, number>();
  for (const { line, values } of table.rows) {
    const o: Record<string, string> = {};
    table.headers.forEach((h, i) => {
      const f = mapped[i];
      if (f && values[h] !== undefined && values[h] !== "") o[f] = values[h] as string;
    });
    const p = ProjectSchema.safeParse({ ...o, id: o.projectId });
    const c = ClaimSchema.safeParse(o);
    const issues = [...(p.success ? [] : p.error.issues), ...(c.success ? [] : c.error.issues)].map((x) => issueMessage(x));
    if (!p.success || !c.success) {
      // (a field both schemas check, such as the project id, is said once)
      const problems = [...new Map(issues.map((m) => [JSON.stringify(m), m])).values()];
      errors.push({ line, problem: errorMessage("row_problems", { line, id: o.deviceId ?? null, problems }) });
      continue;
    }
    const first = seen.get(c.data.deviceId);
    if (first !== undefined) {
      errors.push({ line, problem: msg("claim_repeated", { line, deviceId: c.data.deviceId, first }) });
      continue;
    }
    seen.set(c.data.deviceId, line);
    const known = projects.get(p.data.id);
    if (known && JSON.stringify(known.p) !== JSON.stringify(p.data)) {
      errors.push({ line, problem: msg("project_differs", { line, projectId: p.data.id, first: known.line }) });
      continue;
    }
    if (!known) projects.set(p.data.id, { p: p.data, line });
    claims.push(c.data);
  }
  if (table.rows.length === 0) errors.push({ line: 1, problem: errorMessage("no_rows", {}) });
  return { projects: [...projects.values()].map((x) => x.p), claims, errors };
}
