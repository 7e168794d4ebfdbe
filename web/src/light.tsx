import type { Answer, Schemas } from "./api";
import type { Key } from "./i18n";
import { Badge, CONDITION_TONE, ErrorNote, formatNumber, formatTime, Loading, TableWrap, useLoad, useSession } from "./ui";

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
  const { client, t, lang } = useSession();
  const id = encodeURIComponent(props.id);
  const light = useLoad(() => client.get<Schemas["Streetlight"]>(`/api/v1/streetlights/${id}`), [id, lang], 30_000);
  const device = useLoad(() => client.get<Schemas["DeviceDetail"]>(`/api/v1/devices/${id}`), [id], 30_000);
  const nights = useLoad(() => client.get<Answer<"listStreetlightNights">>(`/api/v1/streetlights/${id}/nights`), [id]);
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
    </>
  );
}
