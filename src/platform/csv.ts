import { isUtf8 } from "node:buffer";
/**
 * CSV that people open in Excel or WPS: quoted where needed, and safe. A text cell that starts with = + - @ or a tab or
 * carriage return would be run as a formula (`=HYPERLINK(…)` in a device-controlled batch id or an imported claim: CSV
 * injection, OWASP), so it is written with a leading apostrophe, which the spreadsheet shows as text. Numbers are
 * written as they are (a negative deviation stays a number).
 */
export function csvCell(v: unknown): string {
  if (v === null || v === undefined) return "";
  let s = String(v);
  if (typeof v !== "number" && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Rows as CSV, UTF-8 with a byte order mark so that Excel shows Chinese, lines ended CRLF. */
export function csvDocument(rows: readonly (readonly unknown[])[]): string {
  return `\uFEFF${rows.map((r) => r.map(csvCell).join(",")).join("\r\n")}\r\n`;
}

/** How a CSV's bytes were read: UTF-8 (with or without a BOM), or GB18030 (GBK is its two-byte part). */
export type CsvEncoding = "utf-8" | "gb18030";
/**
 * A CSV's text. Valid UTF-8 is read as UTF-8; anything else is taken for what Excel on Chinese Windows saves ("CSV (逗号
 *分隔)": GBK, the ANSI code page 936), decoded with the WHATWG GB18030 decoder Node has with full ICU (GBK is a subset).
 * A GBK file of Chinese text is almost never valid UTF-8 as well: its lead bytes 0x81–0xFE would each need continuation
 * bytes 0x80–0xBF after them, and GBK's second bytes are mostly outside that range.
 */
export function csvText(body: Buffer): { text: string | Buffer; encoding: CsvEncoding } {
  if (isUtf8(body)) return { text: body, encoding: "utf-8" }; // (parsed as bytes, without a copy)
  return { text: new TextDecoder("gb18030").decode(body), encoding: "gb18030" };
}
