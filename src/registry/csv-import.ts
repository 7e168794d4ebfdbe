import { parse } from "csv-parse/sync";
import { errorMessage } from "../platform/errors.js";
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
 * row's problem with its line number; the caller imports nothing unless there are none.
 * Columns: id, family, town, village, lat, lon, name, projectId, lampW, panelWp, batteryAh,
 * controllerSerial, moduleImei, station, hopperMaterials (separated by `;`).
 */
export function parseDeviceCsv(text: string, existing: (id: string) => boolean): { devices: DeviceInput[]; errors: RowError[] } {
  let rows: Record<string, string>[];
  try {
    rows = parse(text.replace(/^\uFEFF/, ""), { columns: true, skip_empty_lines: true, trim: true, relax_column_count: false }) as Record<
      string,
      string
    >[];
  } catch (e: unknown) {
    const line = (e as { lines?: number }).lines ?? 0;
    return { devices: [], errors: [{ line, id: null, problem: registryMessage("csv_unreadable", { line }) }] };
  }
  const devices: DeviceInput[] = [];
  const errors: RowError[] = [];
  const seen = new Map<string, number>();
  rows.forEach((row, i) => {
    const line = i + 2; // the header is line 1
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
      errors.push({ line, id, problem: errorMessage("row_problems", { line, id, problems: parsed.error.issues.map((x) => issueMessage(x)) }) });
      return;
    }
    const first = seen.get(parsed.data.id);
    if (first !== undefined) errors.push({ line, id, problem: registryMessage("row_repeats_id", { line, id, first }) });
    else if (existing(parsed.data.id)) errors.push({ line, id, problem: registryMessage("row_registered", { line, id }) });
    else {
      seen.set(parsed.data.id, line);
      devices.push(parsed.data);
    }
  });
  if (rows.length === 0) errors.push({ line: 1, id: null, problem: errorMessage("no_rows", {}) });
  return { devices, errors };
}
