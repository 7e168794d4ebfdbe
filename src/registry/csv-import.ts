import { parse } from "csv-parse/sync";
import { errorMessage, MAX_ROW_ERRORS } from "../platform/errors.js";
import type { Message } from "../platform/i18n.js";
import { issueMessage } from "../platform/validation.js";
import { registryMessage } from "./messages.js";
import { type DeviceInput, DeviceInputSchema } from "./registry.js";

/** A row's problem, said by a message (its line is in the message's parameters too). */
export type RowError = { line: number; id: string | null; problem: Message };

const NUMERIC = new Set(["lat", "lon", "lampW", "panelWp", "batteryAh"]);
const LISTS = new Set(["hopperMaterials"]);

/**
 * Parses a device list (header row, comma-separated, UTF-8 with or without BOM). Returns every
 * row's problem with its line number (the first MAX_ROW_ERRORS; `errorRows` counts them all); the caller imports
 * nothing unless there are none. Rows are checked as the parser reads them (it keeps none); past `maxRows` the file is
 * refused whole (`refused`), before the rest is read.
 * Columns: id, family, town, village, lat, lon, name, projectId, lampW, panelWp, batteryAh,
 * controllerSerial, moduleImei, station, hopperMaterials (separated by `;`).
 */
export function parseDeviceCsv(
  text: string,
  existing: (id: string) => boolean,
  maxRows = 100_000,
): { devices: DeviceInput[]; errors: RowError[]; errorRows: number; refused: Message | null } {
  const devices: DeviceInput[] = [];
  const errors: RowError[] = [];
  let errorRows = 0;
  const error = (e: RowError) => {
    errorRows++;
    if (errors.length < MAX_ROW_ERRORS) errors.push(e);
  };
  const seen = new Map<string, number>();
  let i = 0;
  const TOO_MANY = new Error("too many rows");
  const check = (row: Record<string, string>) => {
    if (i >= maxRows) throw TOO_MANY;
    const line = i + 2; // the header is line 1
    i++;
    const obj: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(row)) {
      if (value === "") continue;
      if (NUMERIC.has(key)) obj[key] = Number(value);
      else if (LISTS.has(key))
        obj[key] = value
          .split(";")
          .map((s) => s.trim())
          .filter(Boolean);
      else obj[key] = value;
    }
    const id = typeof obj.id === "string" ? obj.id : null;
    const parsed = DeviceInputSchema.safeParse(obj);
    if (!parsed.success) {
      error({ line, id, problem: errorMessage("row_problems", { line, id, problems: parsed.error.issues.map((x) => issueMessage(x)) }) });
      return;
    }
    const first = seen.get(parsed.data.id);
    if (first !== undefined) error({ line, id, problem: registryMessage("row_repeats_id", { line, id, first }) });
    else if (existing(parsed.data.id)) error({ line, id, problem: registryMessage("row_registered", { line, id }) });
    else {
      seen.set(parsed.data.id, line);
      devices.push(parsed.data);
    }
  };
  try {
    parse(text.replace(/^\uFEFF/, ""), {
      columns: true,
      skip_empty_lines: true,
      trim: true,
      relax_column_count: false,
      on_record: (row: Record<string, string>) => {
        check(row);
        return null;
      },
    });
  } catch (e: unknown) {
    if (e === TOO_MANY) return { devices: [], errors: [], errorRows: 0, refused: errorMessage("import_too_many_rows", { max: maxRows }) };
    const line = (e as { lines?: number }).lines ?? 0;
    return { devices: [], errors: [{ line, id: null, problem: registryMessage("csv_unreadable", { line }) }], errorRows: 1, refused: null };
  }
  if (i === 0) error({ line: 1, id: null, problem: errorMessage("no_rows", {}) });
  return { devices, errors, errorRows, refused: null };
}
