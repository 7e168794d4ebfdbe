import { parse } from "csv-parse/sync";
import { type DeviceInput, DeviceInputSchema } from "./registry.js";

export type RowError = { line: number; id: string | null; reason: string };

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
    return { devices: [], errors: [{ line, id: null, reason: `not a readable CSV: ${e instanceof Error ? e.message : String(e)}` }] };
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
      errors.push({ line, id, reason: parsed.error.issues.map((x) => `${x.path.join(".") || "row"}: ${x.message}`).join("; ") });
      return;
    }
    const first = seen.get(parsed.data.id);
    if (first !== undefined) errors.push({ line, id, reason: `id repeats line ${first}` });
    else if (existing(parsed.data.id)) errors.push({ line, id, reason: "a device with this id is already registered" });
    else {
      seen.set(parsed.data.id, line);
      devices.push(parsed.data);
    }
  });
  if (rows.length === 0) errors.push({ line: 1, id: null, reason: "no rows after the header" });
  return { devices, errors };
}
