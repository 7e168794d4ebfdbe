import { useState } from "preact/hooks";
import type { Answer, Schemas } from "./api";
import { LineChart, type Point } from "./chart";
import { LightControlSection } from "./control";
import type { Key } from "./i18n";
import { Badge, CONDITION_TONE, ErrorNote, formatNumber, formatTime, Loading, TableWrap, useLoad, useSession } from "./ui";

const CHART_DAYS = 3;
/** Work orders shown at first, and added by each "more". */
const WORK_PAGE = 20;
const CHART_FIELDS = ["battery.v", "battery.soc", "pv.w", "load.w"];

const NIGHT_TONE: Record<string, "ok" | "warn" | "bad" | "info" | "muted"> = {
  lit: "ok",
  partial: "warn",
  dark: "bad",
  energy_limited: "info",
  cycling: "warn",
  offline: "bad",
};

/** A light: what it is doing, what is expected of it, and its last nights. */
export function LightPage(props: { id: string }) {
  const { client, t, lang, me } = useSession();
  const id = encodeURIComponent(props.id);
  const light = useLoad(() => client.get<Schemas["Streetlight"]>(`/api/v1/streetlights/${id}`), [id, lang], 30_000);
  const device = useLoad(() => client.get<Schemas["DeviceDetail"]>(`/api/v1/devices/${id}`), [id], 30_000);
  const nights = useLoad(() => client.get<Answer<"listStreetlightNights">>(`/api/v1/streetlights/${id}/nights`), [id]);
  // the last days and nights, hour by hour (an hour's mean)
  const series = useLoad(
    async () => {
      const from = new Date(Date.now() - CHART_DAYS * 86_400_000).toISOString();
      const r = await client.get<{ buckets?: { ts: string; field: string; avg: number | null }[] }>(
        `/api/v1/devices/${id}/telemetry?every=hour&from=${encodeURIComponent(from)}&fields=${CHART_FIELDS.join(",")}&limit=10000`,
      );
      const by: Record<string, Point[]> = {};
      for (const b of r.buckets ?? []) {
        if (b.avg === null) continue;
        by[b.field] ??= [];
        by[b.field]?.push({ ts: Date.parse(b.ts), v: b.avg });
      }
      for (const pts of Object.values(by)) pts.sort((a, b) => a.ts - b.ts);
      return by;
    },
    [id],
    300_000,
  );
  // (the light's work: the orders that name it, filtered by the service in the caller's towns, newest first, a page at a
  // time; only field roles may see work orders)
  const [shown, setShown] = useState(WORK_PAGE);
  const work = useLoad(
    async () =>
      me.role === "finance"
        ? { total: 0, workOrders: [] }
        : await client.get<Answer<"listWorkOrders">>(`/api/v1/work-orders?light=${id}&limit=${shown}`),
    [id, lang, shown],
  );
  const l = light.data;
  const d = device.data;
  // (the light's own reading: a device of another family has no light page)
  const latest = d?.family === "streetlight" ? d.latest : null;
  return (
    <>
      <p>
        <a href="#/map">← {t("nav.map")}</a>
      </p>
      <h1>
        {t("light.title")} {props.id}
      </h1>
      <Loading when={light.loading && !l} />
      <ErrorNote error={light.error} />
      {l && (
        <dl class="facts">
          <div>
            <dt>{t("light.place")}</dt>
            <dd>
              {[l.town, l.village].filter(Boolean).join(" · ")} ({formatNumber(lang, l.lat, 5)}, {formatNumber(lang, l.lon, 5)})
            </dd>
          </div>
          <div>
            <dt>{t("light.condition")}</dt>
            <dd>
              <Badge tone={CONDITION_TONE[l.condition] ?? "muted"}>{t(`cond.${l.condition}` as Key)}</Badge> {l.detail}{" "}
              {l.since && (
                <span class="muted">
                  {t("since")} {formatTime(l.since)}
                </span>
              )}
            </dd>
          </div>
          <div>
            <dt>{t("light.expected")}</dt>
            <dd>
              {t(`expected.${l.expected.state}` as Key)}
              {l.expected.state !== "off" && ` ${l.expected.pct} %`}
              {l.expected.night &&
                ` · ${t("light.dusk")} ${formatTime(l.expected.night.dusk)} · ${t("light.dawn")} ${formatTime(l.expected.night.dawn)}`}
            </dd>
          </div>
          {d && (
            <div>
              <dt>{t("light.latest")}</dt>
              <dd>
                <Badge tone={d.online ? "ok" : "bad"}>{d.online ? t("online") : t("offline")}</Badge>{" "}
                {latest
                  ? `${formatTime(latest.ts)} · ${t("light.load")} ${formatNumber(lang, latest.load.w)} W · ${t("light.battery")} ${formatNumber(lang, latest.battery.soc, 0)} % · ${t("light.pv")} ${formatNumber(lang, latest.pv.w)} W${latest.faults.length ? ` · ${latest.faults.map((f) => t(`fault.${f}` as Key)).join(lang === "zh" ? "、" : ", ")}` : ""}`
                  : t("light.noReadings")}
              </dd>
            </div>
          )}
        </dl>
      )}
      {l && (
        <>
          <h2>{t("light.asset")}</h2>
          <dl class="facts">
            <div>
              <dt>{t("light.lampW")}</dt>
              <dd>{l.lampW !== undefined ? `${formatNumber(lang, l.lampW, 0)} W` : "—"}</dd>
            </div>
            <div>
              <dt>{t("light.panel")}</dt>
              <dd>{l.panelWp !== undefined ? `${formatNumber(lang, l.panelWp, 0)} Wp` : "—"}</dd>
            </div>
            <div>
              <dt>{t("light.batteryAh")}</dt>
              <dd>{l.batteryAh !== undefined ? `${formatNumber(lang, l.batteryAh, 0)} Ah` : "—"}</dd>
            </div>
            <div>
              <dt>{t("light.project")}</dt>
              <dd>{l.projectId ?? "—"}</dd>
            </div>
            <div>
              <dt>{t("light.installed")}</dt>
              <dd>{l.installedOn ?? "—"}</dd>
            </div>
            <div>
              <dt>{t("light.serial")}</dt>
              <dd>{l.controllerSerial ?? "—"}</dd>
            </div>
          </dl>
        </>
      )}
      <h2>{t("light.charts", { days: CHART_DAYS })}</h2>
      <ErrorNote error={series.error} />
      {series.data && Object.keys(series.data).length === 0 && <p class="muted">{t("light.noReadings")}</p>}
      {series.data && (
        <div class="charts">
          <LineChart title={t("light.chartV")} unit="V" points={series.data["battery.v"] ?? []} lang={lang} digits={2} colour="#2563eb" />
          <LineChart title={t("light.chartSoc")} unit="%" points={series.data["battery.soc"] ?? []} lang={lang} digits={0} colour="#15803d" />
          <LineChart title={t("light.chartPv")} unit="W" points={series.data["pv.w"] ?? []} lang={lang} colour="#b45309" />
          <LineChart title={t("light.chartLoad")} unit="W" points={series.data["load.w"] ?? []} lang={lang} colour="#7c3aed" />
        </div>
      )}
      {me.role !== "finance" && (
        <>
          <h2>{t("light.work")}</h2>
          <ErrorNote error={work.error} />
          {work.data && work.data.total === 0 && <p class="muted">{t("light.noWork")}</p>}
          {work.data && work.data.workOrders.length > 0 && (
            <ul class="plain">
              {work.data.workOrders.map((o) => (
                <li key={o.id}>
                  {formatTime(o.createdAt)} · <Badge tone={o.state === "closed" ? "ok" : "info"}>{o.stateText}</Badge>
                  {o.problem ? ` · ${o.problem}` : ""}
                  {o.record ? ` · ${o.record.done.map((d) => t(`did.${d}` as Key)).join(lang === "zh" ? "、" : ", ")}` : ""}
                  {o.assignee ? ` · ${o.assignee}` : ""}
                  {o.reopened > 0 ? ` · ${t("work.reopened", { n: o.reopened })}` : ""}
                </li>
              ))}
            </ul>
          )}
          {work.data && work.data.total > work.data.workOrders.length && (
            <p>
              <button type="button" disabled={work.loading} onClick={() => setShown((n) => n + WORK_PAGE)}>
                {t("light.moreWork", { shown: work.data.workOrders.length, total: work.data.total })}
              </button>
            </p>
          )}
        </>
      )}
      <h2>{t("light.nights")}</h2>
      <ErrorNote error={nights.error} />
      {nights.data && nights.data.nights.length === 0 && <p class="muted">{t("light.noNights")}</p>}
      {nights.data && nights.data.nights.length > 0 && (
        <TableWrap label={t("light.nights")}>
          <table>
            <thead>
              <tr>
                <th scope="col">{t("night.date")}</th>
                <th scope="col">{t("night.class")}</th>
                <th scope="col" class="num">
                  {t("night.lit")}
                </th>
                <th scope="col" class="num">
                  {t("night.covered")}
                </th>
                <th scope="col" class="num">
                  {t("night.loadWh")}
                </th>
                <th scope="col" class="num">
                  {t("night.pvWh")}
                </th>
              </tr>
            </thead>
            <tbody>
              {[...nights.data.nights].reverse().map((n) => (
                <tr key={n.date}>
                  <td>{n.date}</td>
                  <td>
                    <Badge tone={NIGHT_TONE[n.classification] ?? "muted"}>{t(`nightClass.${n.classification}` as Key)}</Badge>
                    {n.flags.length > 0 && <span class="muted"> {n.flags.map((f) => t(`cond.${f}` as Key)).join(lang === "zh" ? "、" : ", ")}</span>}
                  </td>
                  <td class="num">
                    {Math.round(n.litMin)} / {Math.round(n.expectedMin)} min
                  </td>
                  <td class="num">{Math.round(n.coveredMin)} min</td>
                  <td class="num">{formatNumber(lang, n.loadWh, 0)}</td>
                  <td class="num">{formatNumber(lang, n.pvWhDayBefore, 0)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      )}
      <LightControlSection id={props.id} />
    </>
  );
}
