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
 * Accepted column names → field: the fields' own (English) names, and the Chinese names a district's asset list uses.
 * Names are compared without case, spaces or a unit in brackets (`灯具功率（W）` is `灯具功率`).
 */
const COLUMNS: Record<string, string> = {
  id: "id",
  设备编号: "id",
  编号: "id",
  family: "family",
  类型: "family",
  设备类型: "family",
  name: "name",
  名称: "name",
  town: "town",
  镇街: "town",
  镇: "town",
  街道: "town",
  village: "village",
  村: "village",
  村社区: "village",
  lat: "lat",
  latitude: "lat",
  纬度: "lat",
  lon: "lon",
  longitude: "lon",
  经度: "lon",
  projectid: "projectId",
  项目编号: "projectId",
  lampw: "lampW",
  灯具功率: "lampW",
  灯功率: "lampW",
  panelwp: "panelWp",
  组件功率: "panelWp",
  光伏组件功率: "panelWp",
  batteryah: "batteryAh",
  电池容量: "batteryAh",
  controllerserial: "controllerSerial",
  控制器序列号: "controllerSerial",
  控制器编号: "controllerSerial",
  moduleimei: "moduleImei",
  imei: "moduleImei",
  模块imei: "moduleImei",
  通信模块imei: "moduleImei",
  station: "station",
  站点: "station",
  配肥站: "station",
  hoppermaterials: "hopperMaterials",
  料仓物料: "hopperMaterials",
};
const REQUIRED_COLUMNS = ["id", "family"];
/** A family named as people write it in a list. */
const FAMILIES: Record<string, string> = { 路灯: "streetlight", 太阳能路灯: "streetlight", 配肥机: "blender", 智能配肥机: "blender" };
const columnOf = (header: string) =>
  COLUMNS[
    header
      .trim()
      .toLowerCase()
      .replace(/\s+/g, "")
      .replace(/[(（][^)）]*[)）]$/, "")
  ];

/**
 * Parses a device list (header row, comma-separated; the text as `csvText` read it). Returns every
 * row's problem with its line number (the first MAX_ROW_ERRORS; `errorRows` counts them all); the caller imports
 * nothing unless there are none. Rows are checked as the parser reads them (it keeps none); past `maxRows` the file is
 * refused whole (`refused`), before the rest is read.
 * Columns (or their Chinese names, `COLUMNS`): id, family (or 路灯, 配肥机), town, village, lat, lon, name, projectId, lampW,
 * panelWp, batteryAh, controllerSerial, moduleImei, station, hopperMaterials (separated by `;`).
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
      else obj[key] = key === "family" ? (FAMILIES[value] ?? value) : value;
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
  const MISSING = new Error("missing columns");
  let missing: Message | null = null;
  try {
    parse(text.replace(/^\uFEFF/, ""), {
      // each heading to its field; an unknown heading is kept as it is (and ignored by the schema)
      columns: (headers: string[]) => {
        const fields = headers.map((h) => columnOf(h) ?? h);
        const absent = REQUIRED_COLUMNS.filter((c) => !fields.includes(c));
        if (absent.length > 0) {
          missing = registryMessage("csv_missing_columns", { missing: absent, columns: headers.map((h) => h.trim()).slice(0, 20) });
          throw MISSING;
        }
        return fields;
      },
      skip_empty_lines: true,
      trim: true,
      relax_column_count: false,
      on_record: (row: Record<string, string>) => {
        check(row);
        return null;
      },
    });
  } catch (e: unknown) {
    if (e === MISSING && missing) return { devices: [], errors: [{ line: 1, id: null, problem: missing }], errorRows: 1, refused: null };
    if (e === TOO_MANY) return { devices: [], errors: [], errorRows: 0, refused: errorMessage("import_too_many_rows", { max: maxRows }) };
    const line = (e as { lines?: number }).lines ?? 0;
    return { devices: [], errors: [{ line, id: null, problem: registryMessage("csv_unreadable", { line }) }], errorRows: 1, refused: null };
  }
  if (i === 0) error({ line: 1, id: null, problem: errorMessage("no_rows", {}) });
  return { devices, errors, errorRows, refused: null };
}
