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
