import { useEffect, useMemo, useState } from "preact/hooks";
import { chinaDate } from "../../src/platform/clock.js";
import { q, type Schemas } from "./api";
import type { Key } from "./i18n";
import { Badge, ErrorNote, formatNumber, formatPct, Loading, TableWrap, TownSelect, useLoad, useSession } from "./ui";

type Report = Schemas["VerificationReport"];
type Summary = Report["summary"];
const PAGE = 50;
const today = () => chinaDate(Date.now());

/** Finance bureau: verdicts by town and project, each light's evidence, the files for Excel. */
export function FinancePage() {
  const { client, t, lang } = useSession();
  const [until, setUntil] = useState(today());
  const [nights, setNights] = useState(30);
  // What is typed stays typed while a report loads; the report follows when the field is left.
  const [nightsDraft, setNightsDraft] = useState("30");
  const [town, setTown] = useState("");
  const [project, setProject] = useState("");
  const [verdict, setVerdict] = useState("");
  const [page, setPage] = useState(0);
  const [downloading, setDownloading] = useState<string | null>(null);
  const [downloadError, setDownloadError] = useState<unknown>(null);
  const [downloaded, setDownloaded] = useState("");
  const [made, setMade] = useState<string | null>(null);
  // (a report recorded is said only while its parameters are the ones shown)
  useEffect(() => setMade(null), [until, nights, town, project]);
  // (again when the language changes: the evidence is worded by the API in the reader's language)
  const report = useLoad(() => client.get<Report>(`/api/v1/verification${q({ until, nights })}`), [until, nights, lang]);
  const r = report.data;

  const lights = useMemo(
    () => (r?.lights ?? []).filter((l) => (!town || l.town === town) && (!project || l.projectId === project) && (!verdict || l.verdict === verdict)),
    [r, town, project, verdict],
  );
  const projects = (r?.byProject ?? []).filter((p) => !town || p.town === town);
  const verdicts = useMemo(() => [...new Set((r?.lights ?? []).map((l) => l.verdict))].sort(), [r]);
  const drill = (next: { town?: string; project?: string }) => {
    setTown(next.town ?? "");
    setProject(next.project ?? "");
    setVerdict("");
    setPage(0);
    requestAnimationFrame(() => document.getElementById("detail")?.focus());
  };
  /** Generates the report on purpose: it is recorded (viewing and filtering are not). */
  const make = async () => {
    setDownloading("json");
    setDownloadError(null);
    try {
      const body = { until, nights, ...(town ? { town } : {}), ...(project ? { project } : {}) };
      setMade((await client.post<Report>("/api/v1/verification/reports", body)).reportId);
    } catch (e) {
      setDownloadError(e);
    } finally {
      setDownloading(null);
    }
  };
  const download = async (format: "xlsx" | "csv") => {
    setDownloading(format);
    setDownloadError(null);
    try {
      setDownloaded(await client.download(`/api/v1/verification/report.${format}${q({ until, nights, town, project })}`));
    } catch (e) {
      setDownloadError(e);
    } finally {
      setDownloading(null);
    }
  };

  return (
    <>
      <h1>{t("finance.title")}</h1>
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label={t("filters")}>
        <label>
          {t("finance.until")}
          <input type="date" value={until} max={today()} onChange={(e) => setUntil((e.currentTarget as HTMLInputElement).value || today())} />
        </label>
        <label>
          {t("finance.nights")}
          <input
            type="number"
            min={1}
            max={366}
            value={nightsDraft}
            onInput={(e) => setNightsDraft((e.currentTarget as HTMLInputElement).value)}
            onChange={() => {
              const n = Math.max(1, Math.min(366, Math.round(Number(nightsDraft)) || 30));
              setNightsDraft(String(n));
              setNights(n);
            }}
          />
        </label>
        <TownSelect value={town} towns={(r?.byTown ?? []).map((x) => x.town)} onChange={(x) => drill({ town: x })} />
        <label>
          {t("finance.project")}
          <select value={project} onChange={(e) => drill({ town, project: (e.currentTarget as HTMLSelectElement).value })}>
            <option value="">{t("all")}</option>
            {projects.map((x) => (
              <option key={x.projectId} value={x.projectId}>
                {x.projectId} {x.village} {x.road}
              </option>
            ))}
          </select>
        </label>
      </form>
      <div class="actions">
        <button type="button" disabled={!r || downloading !== null} onClick={() => void download("xlsx")}>
          {t("finance.downloadXlsx")}
        </button>
        <button type="button" class="secondary" disabled={!r || downloading !== null} onClick={() => void download("csv")}>
          {t("finance.downloadCsv")}
        </button>
        <button type="button" class="secondary" disabled={!r || downloading !== null} onClick={() => void make()}>
          {t("finance.make")}
        </button>
        <span class="muted" aria-live="polite">
          {downloading === "json"
            ? t("finance.making")
            : downloading
              ? t("finance.downloading")
              : made
                ? t("finance.made", { id: made })
                : downloaded
                  ? t("finance.downloaded", { name: downloaded })
                  : ""}
        </span>
      </div>
      <ErrorNote error={downloadError} />
      <Loading when={report.loading} />
      <ErrorNote error={report.error} />
      {r && r.summary.claimed === 0 && <p class="muted">{t("finance.noClaims")}</p>}
      {r && r.summary.claimed > 0 && (
        <>
          <p class="muted">
            {t("finance.window", { from: r.window.from ?? "—", to: r.window.to ?? "—", n: r.window.nights })}
            {(project || town) && ` · ${project || town}`}
          </p>
          <SummaryTiles
            s={(project && r.byProject.find((p) => p.projectId === project)) || (town && r.byTown.find((x) => x.town === town)) || r.summary}
          />

          <h2>{t("finance.byTown")}</h2>
          <TableWrap label={t("finance.byTown")}>
            <table>
              <thead>
                <tr>
                  <th scope="col">{t("town")}</th>
                  <SummaryHeads />
                </tr>
              </thead>
              <tbody>
                {r.byTown.map((x) => (
                  <tr key={x.town} class={x.town === town ? "selected" : undefined}>
                    <th scope="row">{x.town}</th>
                    <SummaryCells s={x} name={x.town} onDetail={() => drill({ town: x.town })} />
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>

          <h2>{t("finance.byProject")}</h2>
          <TableWrap label={t("finance.byProject")}>
            <table>
              <thead>
                <tr>
                  <th scope="col">{t("finance.project")}</th>
                  <th scope="col">{t("town")}</th>
                  <th scope="col">{t("village")}</th>
                  <th scope="col" class="num">
                    {t("finance.approved")}
                  </th>
                  <SummaryHeads />
                </tr>
              </thead>
              <tbody>
                {projects.map((x) => (
                  <tr key={x.projectId} class={x.projectId === project ? "selected" : undefined}>
                    <th scope="row">{x.projectId}</th>
                    <td>{x.town}</td>
                    <td>
                      {x.village} {x.road}
                    </td>
                    <td class="num">{x.approvedLights ?? "—"}</td>
                    <SummaryCells s={x} name={x.projectId} onDetail={() => drill({ town: x.town, project: x.projectId })} />
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>

          <h2 id="detail" tabIndex={-1}>
            {t("finance.lights")} {town && `· ${town}`} {project && `· ${project}`} <span class="muted">({lights.length})</span>
          </h2>
          <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label={t("filters")}>
            <label>
              {t("finance.verdict")}
              <select
                value={verdict}
                onChange={(e) => {
                  setVerdict((e.currentTarget as HTMLSelectElement).value);
                  setPage(0);
                }}
              >
                <option value="">{t("all")}</option>
                {verdicts.map((v) => (
                  <option key={v} value={v}>
                    {t(`verdict.${v}` as Key)}
                  </option>
                ))}
              </select>
            </label>
          </form>
          <TableWrap label={t("finance.lights")}>
            <table>
              <thead>
                <tr>
                  <th scope="col">{t("finance.device")}</th>
                  <th scope="col">{t("finance.project")}</th>
                  <th scope="col">{t("village")}</th>
                  <th scope="col">{t("finance.verdict")}</th>
                  <th scope="col">{t("finance.evidence")}</th>
                </tr>
              </thead>
              <tbody>
                {lights.slice(page * PAGE, (page + 1) * PAGE).map((l) => (
                  <tr key={`${l.projectId}-${l.deviceId}`}>
                    <th scope="row">{l.deviceId}</th>
                    <td>{l.projectId}</td>
                    <td>
                      {l.village} {l.road}
                    </td>
                    <td>
                      <Badge tone={l.verdict === "verified" ? "ok" : "bad"}>{t(`verdict.${l.verdict}` as Key)}</Badge>
                    </td>
                    <td class="evidence-cell">{l.evidenceText}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
          {lights.length > PAGE && (
            <nav class="pager" aria-label={t("pager")}>
              <button type="button" class="secondary" disabled={page === 0} onClick={() => setPage(page - 1)}>
                {t("pager.prev")}
              </button>
              <span>{t("pager.of", { page: page + 1, pages: Math.ceil(lights.length / PAGE) })}</span>
              <button type="button" class="secondary" disabled={(page + 1) * PAGE >= lights.length} onClick={() => setPage(page + 1)}>
                {t("pager.next")}
              </button>
            </nav>
          )}
          <p class="muted small">
            {r.reportId ? `${t("finance.reportId")} ${r.reportId} · ` : ""}SHA-256 {r.digest.slice(0, 16)}… · {t("finance.notRecorded")}
          </p>
        </>
      )}
    </>
  );
}

function SummaryTiles(props: { s: Summary }) {
  const { t, lang } = useSession();
  const s = props.s;
  return (
    <dl class="tiles">
      <div>
        <dt>{t("finance.claimed")}</dt>
        <dd>{formatNumber(lang, s.claimed, 0)}</dd>
      </div>
      <div>
        <dt>{t("finance.reporting")}</dt>
        <dd>{formatNumber(lang, s.reporting, 0)}</dd>
      </div>
      <div>
        <dt>{t("finance.verified")}</dt>
        <dd>
          {formatNumber(lang, s.verified, 0)} <span class="muted small">({formatPct(lang, s.claimed ? s.verified / s.claimed : null)})</span>
        </dd>
      </div>
      <div>
        <dt>{t("finance.claimedYuan")}</dt>
        <dd>¥{formatNumber(lang, s.claimedSubsidyYuan, 0)}</dd>
      </div>
      <div>
        <dt>{t("finance.subsidy")}</dt>
        <dd>¥{formatNumber(lang, s.verifiedSubsidyYuan, 0)}</dd>
      </div>
      <div class={s.withheldSubsidyYuan > 0 ? "bad-tile" : undefined}>
        <dt>{t("finance.withheldYuan")}</dt>
        <dd>¥{formatNumber(lang, s.withheldSubsidyYuan, 0)}</dd>
      </div>
      {Object.entries(s.byReason)
        .filter(([, n]) => n > 0)
        .map(([reason, n]) => (
          <div key={reason} class="bad-tile">
            <dt>{t(`verdict.${reason}` as Key)}</dt>
            <dd>{formatNumber(lang, n, 0)}</dd>
          </div>
        ))}
    </dl>
  );
}

function SummaryHeads() {
  const { t } = useSession();
  return (
    <>
      <th scope="col" class="num">
        {t("finance.claimed")}
      </th>
      <th scope="col" class="num">
        {t("finance.reporting")}
      </th>
      <th scope="col" class="num">
        {t("finance.verified")}
      </th>
      <th scope="col" class="num">
        {t("finance.claimedYuan")}
      </th>
      <th scope="col" class="num">
        {t("finance.subsidy")}
      </th>
      <th scope="col" class="num">
        {t("finance.withheldYuan")}
      </th>
      <th scope="col">
        <span class="sr-only">{t("finance.detail")}</span>
      </th>
    </>
  );
}
/** A row's numbers and its drill-down button. */
function SummaryCells(props: { s: Summary; name: string; onDetail: () => void }) {
  const { lang, t } = useSession();
  const s = props.s;
  return (
    <>
      <td class="num">{formatNumber(lang, s.claimed, 0)}</td>
      <td class="num">{formatNumber(lang, s.reporting, 0)}</td>
      <td class="num">
        {formatNumber(lang, s.verified, 0)} ({formatPct(lang, s.claimed ? s.verified / s.claimed : null)})
      </td>
      <td class="num">¥{formatNumber(lang, s.claimedSubsidyYuan, 0)}</td>
      <td class="num">¥{formatNumber(lang, s.verifiedSubsidyYuan, 0)}</td>
      <td class="num">¥{formatNumber(lang, s.withheldSubsidyYuan, 0)}</td>
      <td>
        <button type="button" class="link" onClick={props.onDetail} aria-label={`${t("finance.detail")} ${props.name}`}>
          {t("finance.detail")}
        </button>
      </td>
    </>
  );
}
