import type { Family } from "../../devices/index.js";
import type { ImportLimits } from "../platform/config.js";
import type { CsvEncoding } from "../platform/csv.js";
import { DomainError, MAX_ROW_ERRORS, rowsRejected } from "../platform/errors.js";
import type { Message } from "../platform/i18n.js";
import { createCatalogue, type Lang } from "../platform/i18n.js";
import { collectGarbage, type Host, hostApi, jobModule, ownBytes, PART, sendInParts, transfer, type WorkerPool } from "../platform/workers.js";
import type { Registry } from "../registry/registry.js";
import type { DeviceRecord } from "../registry/store.js";
import type { DashboardPoint } from "../storage/dashboard-points.js";
import { type BigText, readBigText } from "../storage/sql.js";
import { lightWindows, type NightStore } from "../streetlights/index.js";
import { type Claim, type ClaimLines, type ClaimsLimits, type Project, type RowError, readClaims } from "./claims.js";
import { VERIFICATION_WORDS } from "./messages.js";
import { createVerification, type ReportParams, toCsv, toXlsx, type Verification } from "./service.js";
import type { ReportLog, VerificationStore } from "./store.js";
import type { VerifySettings } from "./verdict.js";

/**
 * The verification report (with its XLSX or CSV) and the claims file's parse, run in a worker thread: for a district
 * they cost the service's thread 0.9 s, 1.8 s and 1.3–1.6 s at a stretch, and every PUBACK waited (docs/BENCHMARKS.md).
 * The thread runs the same functions (`createVerification(...).report`, `toXlsx`, `toCsv`, `parseClaims`); what lives
 * in the service's thread (the state database, the registry) it asks for through the host calls below, and the report is
 * logged there too. A file is written in the reader's language with this feature's own words (every message a report
 * holds and its files render is one of them: src/verification/messages.ts), the catalogue made in the thread: the
 * service's catalogue, a set of functions, cannot be sent to it.
 */
type Report = Awaited<ReturnType<Verification["report"]>>;

/** What the report job asks the service's thread for. */
export type ReportHost = {
  projects: () => Promise<Project[]>;
  /** The claims, as the text of a JSON array (`claimsText`: read here with `readBigText`). */
  claims: () => Promise<BigText>;
  /** The registry's family of each device (null: not registered). */
  families: (ids: string[]) => (Family | null)[];
  /** `NightStore.summaryText`: one text, read here (`lightWindows`). */
  summaryText: (a: { from: string; to: string; pvWh: number }) => Promise<BigText>;
  latestDate: () => Promise<string | null>;
  logReport: (r: ReportLog) => Promise<void>;
  points: (points: DashboardPoint[]) => Promise<void> | undefined;
};

const FAMILIES_PART = 2000;
const notInWorker = (what: string) => () => Promise.reject(new Error(`${what} is not available to a report in a worker thread`));

/** The job: a report, as `createVerification(...).report` makes it, and its file. */
export async function report(
  input: {
    params: ReportParams;
    kind: "json" | "visits" | "xlsx" | "csv" | "points";
    why: "made" | "view";
    lang: Lang;
    keyName: string | null;
    settings: VerifySettings;
  },
  host: Host,
) {
  const ask = hostApi<ReportHost>(host);
  const families = new Map<string, Family | null>();
  const store: VerificationStore = {
    projects: () => ask("projects"),
    claims: async () => {
      const claims = JSON.parse(readBigText(await ask("claims"))) as Claim[];
      const ids = claims.map((c) => c.deviceId);
      // (asked in parts: 18,105 ids and their answer copied in one go held the service's thread ~15 ms, profiled)
      for (let i = 0; i < ids.length; i += FAMILIES_PART) {
        const part = ids.slice(i, i + FAMILIES_PART);
        (await ask("families", part)).forEach((f, k) => {
          families.set(part[k] as string, f);
        });
      }
      return claims;
    },
    claimsText: notInWorker("claimsText"),
    logReport: (r) => ask("logReport", r),
    upsert: notInWorker("upsert"),
    reports: notInWorker("reports"),
    claimAt: notInWorker("claimAt"),
  };
  const nights: NightStore = {
    summary: async (from, to, pvWh) => lightWindows(readBigText(await ask("summaryText", { from, to, pvWh }))),
    summaryText: notInWorker("nights.summaryText"),
    write: notInWorker("nights.write"),
    recordedOn: notInWorker("nights.recordedOn"),
    on: notInWorker("nights.on"),
    of: notInWorker("nights.of"),
    latestDate: () => ask("latestDate"),
    classesOn: notInWorker("nights.classesOn"),
    unlitOn: notInWorker("nights.unlitOn"),
    energy: notInWorker("nights.energy"),
  };
  // The report reads a claimed device's family from the registry, and nothing else of it.
  const registry = {
    get: (id: string) => {
      if (!families.has(id)) throw new Error(`the report asked for device ${id}, which is not among the claims it was given`);
      const family = families.get(id);
      return family ? ({ family } as DeviceRecord) : undefined;
    },
  } as unknown as Registry;
  const verification = createVerification({
    store,
    nights,
    registry,
    settings: input.settings,
    // best effort, as in the service's thread: a failed write of dashboard points is not the report's failure
    writeDashboardPoints: (points) => ask("points", points).catch(() => undefined),
  });
  if (input.kind === "points") {
    const points = await verification.dashboardPoints(input.params);
    return { meta: null, file: null, report: null, points };
  }
  const r = await verification.report(input.params, input.kind, input.keyName, input.why);
  const meta = { reportId: r.reportId, digest: r.digest, params: r.params };
  const render = createCatalogue({ verification: VERIFICATION_WORDS }).in(input.lang);
  if (input.kind === "xlsx") {
    const file = ownBytes(await toXlsx(r, render));
    return transfer({ meta, file: file as Uint8Array | string, report: null, points: 0 }, [file.buffer]);
  }
  if (input.kind === "csv") return { meta, file: toCsv(r.lights, render) as Uint8Array | string, report: null, points: 0 };
  return { meta, file: null, report: r, points: 0 };
}

/**
 * The job: the claims file read and checked row by row (`readClaims`: nothing of a row is kept but its claim, as a line
 * of JSON, joined in parts of PART lines); once the file is read whole, the parts go to the host one at a time, each
 * dropped here as it goes, or, if any row has a problem, only the first MAX_ROW_ERRORS problems: the claims of a file
 * that is refused never reach the service's thread (100,000 of them were ~25 MB of strings it took in and threw away,
 * docs/BENCHMARKS.md). A file refused whole (too many rows, a workbook that would inflate past its cap) is said by
 * `refused`.
 */
export async function claims(
  input: { body: string | Uint8Array; kind: "csv" | "xlsx"; limits: ClaimsLimits },
  host: Host,
): Promise<{ projects: Project[]; claims: number; errorRows: number; refused: Message | null; headerRow: number; encoding: CsvEncoding | null }> {
  const lines: string[] = [];
  const parts: string[] = [];
  const errors: RowError[] = [];
  const body = typeof input.body === "string" ? input.body : Buffer.from(input.body.buffer, input.body.byteOffset, input.body.byteLength);
  let count = 0;
  const r = await readClaims(
    body,
    input.kind,
    input.limits,
    (c) => {
      count++;
      lines.push(JSON.stringify(c));
      if (lines.length === PART) parts.push(lines.splice(0).join("\n"));
    },
    (e) => {
      if (errors.length < MAX_ROW_ERRORS) errors.push(e);
    },
    collectGarbage,
  );
  if (r.refused || r.errorRows > 0) {
    await sendInParts(host, "errors", errors);
    return { projects: [], claims: 0, errorRows: r.errorRows, refused: r.refused, headerRow: r.headerRow, encoding: r.encoding };
  }
  if (lines.length > 0) parts.push(lines.splice(0).join("\n"));
  // the file's reading left its garbage in this thread's heap (a workbook's most), collected before the claims are sent
  // (the thread itself is retired after the job: verificationJobs.parseClaims). The service's peak over idle for
  // 100,000 rows of XLSX: +169 to +202 MB with it, +212 MB without, one run (docs/BENCHMARKS.md).
  collectGarbage();
  for (let part = parts.shift(); part !== undefined; part = parts.shift()) await host.call("claims", part);
  return { projects: r.projects, claims: count, errorRows: 0, refused: null, headerRow: r.headerRow, encoding: r.encoding };
}

/** This module, whose jobs a thread runs (typed by the jobs themselves: a type import of itself would be a cycle). */
const jobs = jobModule<{ report: typeof report; claims: typeof claims }>(import.meta.url);

/** The service's side: the same answers as `Verification.report` with `toXlsx`/`toCsv`, and as `parseClaims`. */
export function verificationJobs(deps: {
  pool: WorkerPool;
  store: VerificationStore;
  nights: Pick<NightStore, "summaryText" | "latestDate">;
  registry: Pick<Registry, "get">;
  settings: VerifySettings;
  /** What a claims file may hold (AGRILUME_IMPORT_MAX_ROWS). */
  limits: ImportLimits;
  writeDashboardPoints?: (points: DashboardPoint[]) => Promise<void>;
}) {
  const host: ReportHost = {
    projects: () => deps.store.projects(),
    claims: () => deps.store.claimsText(),
    families: (ids) => ids.map((id) => deps.registry.get(id)?.family ?? null),
    summaryText: (a) => deps.nights.summaryText(a.from, a.to, a.pvWh),
    latestDate: () => deps.nights.latestDate(),
    logReport: (r) => deps.store.logReport(r),
    points: (points) => deps.writeDashboardPoints?.(points),
  };
  const run = (params: ReportParams, kind: "json" | "visits" | "xlsx" | "csv" | "points", why: "made" | "view", lang: Lang, keyName: string | null) =>
    deps.pool.run(jobs, "report", { params, kind, why, lang, keyName, settings: deps.settings }, { host });
  return {
    /** What a report made in another feature's job asks this thread for (`report` run in that job's thread: index.ts). */
    host,
    settings: deps.settings,
    /** What a claims file may hold (its route's body limit too). */
    limits: deps.limits,
    /** `Verification.report` (`made`: recorded, and a district-wide one writes the dashboard's points; `view`: neither). */
    async report(params: ReportParams, kind: "json" | "visits", why: "made" | "view", keyName: string | null): Promise<Report> {
      const r = await run(params, kind, why, "zh", keyName); // (the report is data: its messages are rendered by the caller)
      if (!r.report) throw new Error("the report job returned no report");
      return r.report;
    },
    /** The report as a file in `lang` (`toXlsx`'s bytes, `toCsv`'s text), with its id, digest and parameters; a download is recorded. */
    async file(params: ReportParams, format: "xlsx" | "csv", lang: Lang, keyName: string | null) {
      const r = await run(params, format, "made", lang, keyName);
      const file = r.file;
      if (file === null || r.meta === null) throw new Error("the report job returned no file");
      return { ...r.meta, body: typeof file === "string" ? file : Buffer.from(file.buffer, file.byteOffset, file.byteLength) };
    },
    /** `Verification.dashboardPoints` in a thread: how many points were written. */
    async dashboardPoints(params: ReportParams): Promise<number> {
      return (await run(params, "points", "view", "zh", null)).points;
    },
    /**
     * `readClaims` in a thread: the projects and the claims (as parts of JSON lines, for `VerificationStore.upsert`),
     * or `rowsRejected` with every row's problem (the first MAX_ROW_ERRORS of them), or a file refused whole. A Buffer
     * `body` that is a whole ArrayBuffer of its own moves to the thread: the caller's is empty afterwards.
     */
    async parseClaims(body: Buffer | string, kind: "csv" | "xlsx"): Promise<ClaimLines> {
      const claims: string[] = [];
      const errors: RowError[] = [];
      const parts = {
        claims: (part: string) => void claims.push(part),
        errors: (part: RowError[]) => void errors.push(...part),
      };
      // the file as bytes of its own, moved to the thread rather than copied (a 100,000-row CSV is 12 MB of UTF-8, 24 as text)
      const bytes = ownBytes(typeof body === "string" ? Buffer.from(body) : body);
      const input = { body: bytes, kind, limits: { maxRows: deps.limits.maxRows, xlsx: deps.limits.xlsx } };
      const r = await deps.pool.run(jobs, "claims", input, { host: parts, transfer: [bytes.buffer], retire: true });
      if (r.refused) throw new DomainError("invalid", r.refused);
      if (r.errorRows > 0) throw rowsRejected(errors, r.errorRows);
      return { projects: r.projects, claims, count: r.claims, errors: [], headerRow: r.headerRow, encoding: r.encoding };
    },
  };
}
export type VerificationJobs = ReturnType<typeof verificationJobs>;
