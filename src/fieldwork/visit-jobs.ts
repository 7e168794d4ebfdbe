import type { Lang } from "../platform/i18n.js";
import { createCatalogue } from "../platform/i18n.js";
import { type Host, hostApi, jobModule, ownBytes, Transfer, transfer, type WorkerPool } from "../platform/workers.js";
import { type BigText, readBigText } from "../storage/sql.js";
import { type ReportHost, type ReportParams, VERIFICATION_WORDS, type VerifySettings, verificationReport } from "../verification/index.js";
import { FIELDWORK_WORDS } from "./messages.js";
import { visitReportBody, visitReportRows, visitReportXlsx } from "./visit-report.js";
import type { Visit, VisitStore } from "./visits.js";

/**
 * The field-visit report (each claim's data verdict beside its latest visit) and its XLSX, made in a worker thread: for
 * a district (18,105 claims) the verification report under it, the join, the JSON and the workbook held the service's
 * thread, which sends every PUBACK (docs/BENCHMARKS.md). The thread makes the data verdicts itself with the verification
 * feature's report job (asking the service's thread for the claims and the nightly summaries, as that job does), asks
 * for the visits as one JSON text, and hands back the answer's bytes, moved rather than copied: the JSON as the API
 * sends it, or the workbook. Texts are said in the reader's language with the two features' own words, the catalogue
 * made in the thread.
 */
type VisitHost = ReportHost & {
  /** The visits of these towns (all: null), newest first, as the text of a JSON array (read here: `readBigText`). */
  visits: (towns: string[] | null) => Promise<BigText>;
};

/** The job: the report as JSON bytes (the API's answer) or as the workbook's bytes. */
export async function visitReport(
  input: {
    params: ReportParams;
    /** The towns whose visits count (all: null). */
    visitTowns: string[] | null;
    kind: "json" | "xlsx";
    lang: Lang;
    /** Where the workbook's links point (this service, as the caller reached it). */
    base: string;
    settings: VerifySettings;
  },
  host: Host,
) {
  const data = await verificationReport(
    { params: input.params, kind: "json", why: "view", lang: input.lang, keyName: null, settings: input.settings },
    host,
  );
  const report = data instanceof Transfer ? null : data.report;
  if (!report) throw new Error("the verification report job returned no report");
  const visits = JSON.parse(readBigText(await hostApi<VisitHost>(host)("visits", input.visitTowns))) as Visit[];
  const render = createCatalogue({ verification: VERIFICATION_WORDS, fieldwork: FIELDWORK_WORDS }).in(input.lang);
  const claims = visitReportRows(report.lights, visits, render);
  const bytes = ownBytes(
    input.kind === "xlsx" ? await visitReportXlsx(claims, input.base, render) : Buffer.from(JSON.stringify(visitReportBody(claims))),
  );
  return transfer(bytes as Uint8Array, [bytes.buffer]);
}

/** This module, whose job a thread runs. */
const jobs = jobModule<{ visitReport: typeof visitReport }>(import.meta.url);

/** The service's side: the report's JSON (bytes to send as they are) or its workbook. */
export function visitReportJobs(deps: { pool: WorkerPool; visits: VisitStore; verification: { host: ReportHost; settings: VerifySettings } }) {
  const host: VisitHost = { ...deps.verification.host, visits: (towns) => deps.visits.listText(towns ?? undefined) };
  return async (q: { params: ReportParams; visitTowns: readonly string[] | undefined; kind: "json" | "xlsx"; lang: Lang; base: string }) => {
    const out = await deps.pool.run(
      jobs,
      "visitReport",
      {
        params: q.params,
        visitTowns: q.visitTowns ? [...q.visitTowns] : null,
        kind: q.kind,
        lang: q.lang,
        base: q.base,
        settings: deps.verification.settings,
      },
      { host },
    );
    return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
  };
}
export type VisitReportJobs = ReturnType<typeof visitReportJobs>;
