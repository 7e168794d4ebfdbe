import { PassThrough } from "node:stream";
import ExcelJS from "exceljs";

/** Claims lists for the import's tests and benchmark: the bureau's Chinese headers, DOMAIN.md's ids and names. */
export const CLAIM_HEADER = [
  "项目编号",
  "镇街",
  "村",
  "道路",
  "年度",
  "批准数量",
  "补助标准",
  "设备编号",
  "经度",
  "纬度",
  "控制器序列号",
  "IMEI",
  "安装日期",
] as const;

/** Claim `i` of a district-sized claims list (DOMAIN.md's ids and names: 100 lights a project, 23 towns). */
export function claimRow(i: number): (string | number)[] {
  const p = Math.floor(i / 100);
  return [
    `YC-2024-${String(p).padStart(4, "0")}`,
    `镇${p % 23}`,
    `村${p}`,
    `村道${p % 7}号`,
    2024,
    100,
    1500,
    `YC-LS-${String(i).padStart(6, "0")}`,
    Number((105.9 + (i % 1000) * 0.0005).toFixed(4)),
    Number((29.3 + Math.floor(i / 1000) * 0.0005).toFixed(4)),
    `SL2024A${String(i).padStart(6, "0")}`,
    String(861234500000000 + i),
    "2024-09-12",
  ];
}

/** `rows` claims as CSV text (UTF-8, Chinese headers). */
export function claimsCsv(rows: number): string {
  const lines = [CLAIM_HEADER.join(",")];
  for (let i = 0; i < rows; i++) lines.push(claimRow(i).join(","));
  return `${lines.join("\n")}\n`;
}

/** `rows` claims as an XLSX workbook (one sheet, shared strings, as Excel writes it). */
export async function claimsXlsx(rows: number): Promise<Buffer> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on("data", (c: Buffer) => chunks.push(c));
  const wb = new ExcelJS.stream.xlsx.WorkbookWriter({ stream: out, useSharedStrings: true, useStyles: true });
  const ws = wb.addWorksheet("claims");
  ws.addRow([...CLAIM_HEADER]).commit();
  for (let i = 0; i < rows; i++) ws.addRow(claimRow(i)).commit();
  ws.commit();
  await wb.commit();
  return Buffer.concat(chunks);
}

let gbkTable: Map<string, number[]> | null = null;
/**
 * `text` in GBK (code page 936), as Excel on Chinese Windows saves "CSV (逗号分隔)": ASCII as it is, every other
 * character as its two GBK bytes. The table is the WHATWG GBK decoder's (Node's `TextDecoder("gbk")`) read backwards, so
 * no encoding library is needed; a character GBK lacks throws.
 */
export function gbk(text: string): Buffer {
  if (gbkTable === null) {
    gbkTable = new Map();
    const decoder = new TextDecoder("gbk", { fatal: true });
    for (let lead = 0x81; lead <= 0xfe; lead++)
      for (let trail = 0x40; trail <= 0xfe; trail++) {
        if (trail === 0x7f) continue;
        try {
          const ch = decoder.decode(Uint8Array.of(lead, trail));
          if (!gbkTable.has(ch)) gbkTable.set(ch, [lead, trail]);
        } catch {
          // (not a GBK pair)
        }
      }
  }
  const bytes: number[] = [];
  for (const ch of text) {
    const code = ch.codePointAt(0) ?? 0;
    if (code < 0x80) bytes.push(code);
    else {
      const pair = gbkTable.get(ch);
      if (!pair) throw new Error(`${ch} is not in GBK`);
      bytes.push(...pair);
    }
  }
  return Buffer.from(bytes);
}
