import { useState } from "preact/hooks";
import { type Answer, q } from "./api";
import type { Key } from "./i18n";
import { ErrorNote, formatNumber, formatPct, formatTime, Loading, TableWrap, TownSelect, useLoad, useSession } from "./ui";

type Figures = Answer<"getFieldFigures">;
type Repair = Figures["timeToRepair"][number];
/** The periods a manager picks from (days before now). */
const PERIODS = [7, 30, 90, 365] as const;

/**
 * A district manager's figures of field work (the API's, for the caller's towns): open work, time to repair by town
 * and cause, the first-time-fix rate, the lights dark more than 3 nights (each a link to its page), over a period.
 */
export function FiguresPage() {
  const { client, t, lang, me } = useSession();
  const [days, setDays] = useState<number>(30);
  const [town, setTown] = useState("");
  const figures = useLoad(() => client.get<Figures>(`/api/v1/work-orders/figures${q({ days })}`), [days], 300_000);
  const f = figures.data;
  const towns = (f?.byTown ?? []).filter((x) => !town || x.town === town);
  // the whole (or the town picked): the district's own figures, or the town's row
  const whole = town
    ? towns[0]
    : f && {
        open: Object.values(f.openByTown).reduce((n, x) => n + x.open, 0),
        overdue: Object.values(f.openByTown).reduce((n, x) => n + x.overdue, 0),
        closed: f.closed,
        firstTimeFix: f.firstTimeFix,
        darkOver3Nights: Object.values(f.darkOver3Nights).reduce((n, x) => n + x.count, 0),
        timeToRepair: f.timeToRepair,
      };
  const cause = (c: string) => t(`found.${c}` as Key);
  const repairRows: { town: string; r: Repair }[] = [
    ...(!town && f ? f.timeToRepair.map((r) => ({ town: t("all"), r })) : []),
    ...towns.flatMap((x) => x.timeToRepair.map((r) => ({ town: x.town, r }))),
  ];
  const dark = f ? Object.entries(f.darkOver3Nights).filter(([x]) => !town || x === town) : [];

  return (
    <>
      <h1>{t("figures.title")}</h1>
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label={t("filters")}>
        <label>
          {t("figures.period")}
          <select value={String(days)} onChange={(e) => setDays(Number((e.currentTarget as HTMLSelectElement).value))}>
            {PERIODS.map((n) => (
              <option key={n} value={String(n)}>
                {t("figures.days", { n })}
              </option>
            ))}
          </select>
        </label>
        <TownSelect value={town} towns={me.towns ?? (f?.byTown ?? []).map((x) => x.town)} onChange={setTown} />
      </form>
      <Loading when={figures.loading && !f} />
      <ErrorNote error={figures.error} />
      {f && (
        <p class="muted" data-window>
          {t("figures.window", { from: formatTime(f.from), to: formatTime(f.to) })}
          {" · "}
          {f.darkNights ? t("figures.darkNights", f.darkNights) : t("figures.noNights")}
        </p>
      )}
      {f && (f.byTown.length === 0 || whole === undefined) && <p class="muted">{t("figures.none")}</p>}
      {f && whole && (
        <dl class="tiles" aria-label={town || t("all")}>
          <div>
            <dt>{t("figures.open")}</dt>
            <dd data-figure="open">
              {formatNumber(lang, whole.open, 0)}{" "}
              <span class="muted small">
                ({t("figures.overdue")} <span data-figure="overdue">{formatNumber(lang, whole.overdue, 0)}</span>)
              </span>
            </dd>
          </div>
          <div>
            <dt>{t("figures.closed")}</dt>
            <dd data-figure="closed">{formatNumber(lang, whole.closed, 0)}</dd>
          </div>
          <div>
            <dt>{t("figures.firstTimeFix")}</dt>
            <dd data-figure="firstTimeFix">{formatPct(lang, whole.firstTimeFix)}</dd>
          </div>
          <div class={whole.darkOver3Nights > 0 ? "bad-tile" : undefined}>
            <dt>{t("figures.dark")}</dt>
            <dd data-figure="dark">{formatNumber(lang, whole.darkOver3Nights, 0)}</dd>
          </div>
        </dl>
      )}
      {f && towns.length > 0 && (
        <>
          <h2>{t("figures.byTown")}</h2>
          <TableWrap label={t("figures.byTown")}>
            <table data-table="towns">
              <thead>
                <tr>
                  <th scope="col">{t("town")}</th>
                  <th scope="col" class="num">
                    {t("figures.open")}
                  </th>
                  <th scope="col" class="num">
                    {t("figures.overdue")}
                  </th>
                  <th scope="col" class="num">
                    {t("figures.closed")}
                  </th>
                  <th scope="col" class="num">
                    {t("figures.firstTimeFix")}
                  </th>
                  <th scope="col" class="num">
                    {t("figures.dark")}
                  </th>
                </tr>
              </thead>
              <tbody>
                {towns.map((x) => (
                  <tr key={x.town}>
                    <th scope="row">
                      <button type="button" class="link" onClick={() => setTown(x.town)}>
                        {x.town}
                      </button>
                    </th>
                    <td class="num">{formatNumber(lang, x.open, 0)}</td>
                    <td class="num">{formatNumber(lang, x.overdue, 0)}</td>
                    <td class="num">{formatNumber(lang, x.closed, 0)}</td>
                    <td class="num">{formatPct(lang, x.firstTimeFix)}</td>
                    <td class="num">{formatNumber(lang, x.darkOver3Nights, 0)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
        </>
      )}
      {f && (
        <>
          <h2>{t("figures.repair")}</h2>
          {repairRows.length === 0 && <p class="muted">{t("figures.noRepairs")}</p>}
          {repairRows.length > 0 && (
            <TableWrap label={t("figures.repair")}>
              <table data-table="repairs">
                <thead>
                  <tr>
                    <th scope="col">{t("town")}</th>
                    <th scope="col">{t("figures.cause")}</th>
                    <th scope="col" class="num">
                      {t("figures.repairs")}
                    </th>
                    <th scope="col" class="num">
                      {t("figures.median")}
                    </th>
                    <th scope="col" class="num">
                      {t("figures.p90")}
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {repairRows.map(({ town: x, r }) => (
                    <tr key={`${x}/${r.cause}`}>
                      <th scope="row">{x}</th>
                      <td>{cause(r.cause)}</td>
                      <td class="num">{formatNumber(lang, r.repairs, 0)}</td>
                      <td class="num">{formatNumber(lang, r.medianH, 1)}</td>
                      <td class="num">{formatNumber(lang, r.p90H, 1)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </TableWrap>
          )}
        </>
      )}
      {dark.length > 0 && (
        <>
          <h2>{t("figures.darkLights")}</h2>
          {dark.map(([x, d]) => (
            <section key={x} aria-label={x}>
              <h3>
                {x}{" "}
                <span class="muted small">{d.count > d.ids.length ? t("figures.firstOf", { n: d.ids.length, total: d.count }) : `(${d.count})`}</span>
              </h3>
              <ul class="light-links" data-town={x}>
                {d.ids.map((id) => (
                  <li key={id}>
                    <a href={`#/lights/${encodeURIComponent(id)}`}>{id}</a>
                  </li>
                ))}
              </ul>
            </section>
          ))}
        </>
      )}
    </>
  );
}
