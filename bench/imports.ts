import { readFileSync } from "node:fs";
import { claimsCsv, claimsXlsx } from "../harness/claims.js";
import { ADMIN_KEY, tempDir } from "../harness/helpers.js";
import { startServiceProcess } from "../harness/services.js";
import { round } from "./load.js";

type Progress = (label: string, n: number, total: number) => void;

/**
 * Peak resident memory of the service (its own process, as `npm start` runs it; worker threads included) while it
 * imports a `rows`-row claims list, as CSV and as XLSX, each into a fresh service: `VmHWM` from /proc once it is ready
 * (idle) and after the import. Every row is good, so the claims are stored too.
 */
export async function benchImports(opts: {
  rows: number;
  progress: Progress;
  env?: Record<string, string>;
  only?: "CSV" | "XLSX";
  /** The service from dist/ (`npm run build:service`), as `npm start` runs it; else through tsx. */
  compiled?: boolean;
}) {
  const { rows, progress } = opts;
  const csv = claimsCsv(rows);
  progress("CSV made", 1, 2);
  const xlsx = await claimsXlsx(rows);
  progress("XLSX made", 2, 2);
  const files = [
    { kind: "CSV", body: csv as string | Buffer, type: "text/csv", bytes: Buffer.byteLength(csv) },
    { kind: "XLSX", body: xlsx, type: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", bytes: xlsx.length },
  ].filter((f) => opts.only === undefined || f.kind === opts.only);
  const out: {
    kind: string;
    compiled: boolean;
    rows: number;
    bytes: number;
    status: number;
    seconds: number;
    idleMB: number;
    peakMB: number;
    answer: string;
  }[] = [];
  for (const f of files) {
    const dir = tempDir();
    const service = await startServiceProcess(dir.path, { AGRILUME_LOG_LEVEL: "error", ...(opts.env ?? {}) }, { compiled: opts.compiled === true });
    const status = () => readFileSync(`/proc/${service.child.pid}/status`, "utf8");
    const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status())?.[1] ?? 0);
    await new Promise((r) => setTimeout(r, 2000));
    const idle = kb("VmHWM");
    const started = performance.now();
    // the service's memory each second while it imports (a service gone at the end is not an error)
    const watcher = setInterval(() => {
      try {
        progress(`${f.kind} import, ${rows.toLocaleString()} rows: ${Math.round(kb("VmRSS") / 1024)} MB`, 0, 1);
      } catch {
        clearInterval(watcher);
      }
    }, 1000);
    let res: Response;
    let answer: string;
    let seconds: number;
    let peak: number;
    try {
      res = await fetch(`http://127.0.0.1:${service.http}/api/v1/projects/import`, {
        method: "POST",
        body: f.body,
        headers: { authorization: `Bearer ${ADMIN_KEY}`, "content-type": f.type },
      });
      answer = (await res.text()).slice(0, 200);
      seconds = (performance.now() - started) / 1000;
      peak = kb("VmHWM");
    } finally {
      clearInterval(watcher);
      service.child.kill("SIGKILL");
      await service.exited;
      dir.remove();
    }
    out.push({
      kind: f.kind,
      compiled: opts.compiled ?? false,
      rows,
      bytes: f.bytes,
      status: res.status,
      seconds: round(seconds),
      idleMB: Math.round(idle / 1024),
      peakMB: Math.round(peak / 1024),
      answer,
    });
    progress(`${f.kind} import`, out.length, files.length);
  }
  return out;
}

/** The table's rows: the service's peak RSS during each import against the 300 MB target. */
export function importRows(r: Awaited<ReturnType<typeof benchImports>>): [string, string, string][] {
  return r.map((x) => [
    `claims import, ${x.rows.toLocaleString()} rows ${x.kind} (${round(x.bytes / 1048576)} MB${x.compiled ? ", compiled service" : ""}): peak RSS − idle (target ≤ 300 MB)`,
    `+${x.peakMB - x.idleMB} MB (peak ${x.peakMB} MB, idle ${x.idleMB} MB; ${x.status}${x.status === 200 ? "" : ` ${x.answer}`}; ${x.seconds} s)`,
    x.status === 200 && x.peakMB - x.idleMB <= 300 ? "✓" : "✗",
  ]);
}
