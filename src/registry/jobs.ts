import type { ImportLimits } from "../platform/config.js";
import { csvText } from "../platform/csv.js";
import { DomainError, rowsRejected } from "../platform/errors.js";
import type { Message } from "../platform/i18n.js";
import { type Host, hostApi, jobModule, ownBytes, sendInParts, type WorkerPool } from "../platform/workers.js";
import { parseDeviceCsv, type RowError } from "./csv-import.js";
import type { DeviceInput } from "./registry.js";

/**
 * The device list's parse (`parseDeviceCsv`) in a worker thread: 100,000 rows held the service's thread 1.3–1.6 s
 * (docs/BENCHMARKS.md). Which ids are registered already only the service's thread knows: the thread parses once asking
 * nothing, then asks about the ids the parse wanted to check, in parts, and parses again with the answers only if any
 * id is taken (an id the second parse checks is one the first checked: a row is checked unless its id was seen before).
 */
type DeviceCsvHost = {
  taken: (ids: string[]) => string[];
  devices: (part: DeviceInput[]) => void;
  errors: (part: RowError[]) => void;
};

/** The job: how many rows had problems (the first MAX_ROW_ERRORS are sent), or why the file is refused whole. */
export async function deviceCsv(input: { bytes: Uint8Array; maxRows: number }, host: Host): Promise<{ errorRows: number; refused: Message | null }> {
  const ask = hostApi<DeviceCsvHost>(host);
  // UTF-8, or GBK as Excel on Chinese Windows saves a CSV (a GBK file read as UTF-8 would register towns no one can name)
  const read = csvText(Buffer.from(input.bytes.buffer, input.bytes.byteOffset, input.bytes.byteLength)).text;
  const text = typeof read === "string" ? read : new TextDecoder("utf-8").decode(read); // (drops a BOM)
  const checked: string[] = [];
  let parsed = parseDeviceCsv(
    text,
    (id) => {
      checked.push(id);
      return false;
    },
    input.maxRows,
  );
  if (parsed.refused) return { errorRows: 0, refused: parsed.refused };
  const taken = new Set<string>();
  for (let i = 0; i < checked.length; i += 5000) for (const id of await ask("taken", checked.slice(i, i + 5000))) taken.add(id);
  if (taken.size > 0) parsed = parseDeviceCsv(text, (id) => taken.has(id), input.maxRows);
  if (parsed.errorRows === 0) await sendInParts(host, "devices", parsed.devices);
  await sendInParts(host, "errors", parsed.errors);
  return { errorRows: parsed.errorRows, refused: null };
}

/** This module, whose job a thread runs (typed by the job itself: a type import of itself would be a cycle). */
const jobs = jobModule<{ deviceCsv: typeof deviceCsv }>(import.meta.url);

/**
 * `parseDeviceCsv` of the file's UTF-8 text, in a worker thread; `existing` is asked in the service's thread. A file with a row
 * problem is refused here (`rowsRejected`, the first MAX_ROW_ERRORS rows' problems), as is one past `limits.maxRows`
 * rows (`import_too_many_rows`); `errors` is then always empty.
 */
export async function parseDeviceCsvInWorker(
  pool: WorkerPool,
  file: Buffer | string,
  existing: (id: string) => boolean,
  limits: Pick<ImportLimits, "maxRows">,
): Promise<{ devices: DeviceInput[]; errors: RowError[] }> {
  const devices: DeviceInput[] = [];
  const errors: RowError[] = [];
  const host: DeviceCsvHost = {
    taken: (ids) => ids.filter(existing),
    devices: (part) => void devices.push(...part),
    errors: (part) => void errors.push(...part),
  };
  // the file's bytes moved to the thread, not copied (a Buffer that is a whole ArrayBuffer of its own is empty afterwards)
  const bytes = ownBytes(typeof file === "string" ? Buffer.from(file) : file);
  // (retire: its thread's heap, grown by reading 100,000 rows, is freed at once rather than kept beside the service's work)
  const r = await pool.run(jobs, "deviceCsv", { bytes, maxRows: limits.maxRows }, { host, transfer: [bytes.buffer], retire: true });
  if (r.refused) throw new DomainError("invalid", r.refused);
  if (r.errorRows > 0) throw rowsRejected(errors, r.errorRows);
  return { devices, errors: [] };
}
