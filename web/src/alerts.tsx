import { useEffect, useState } from "preact/hooks";
import { type Answer, q, type Schemas } from "./api";
import type { Key } from "./i18n";
import { Badge, ErrorNote, formatTime, Loading, TownSelect, useLoad, useSession, useStream } from "./ui";

type Alert = Schemas["Alert"];
const STATES = ["open", "firing", "acknowledged", "resolved", ""] as const;

/** Technician (and operator): the alerts of their towns or stations, live; acknowledge, resolve with a comment. */
export function AlertsPage() {
  const { client, t, me, lang } = useSession();
  const [state, setState] = useState<(typeof STATES)[number]>("open");
  const [town, setTown] = useState("");
  const [type, setType] = useState("");
  // (again when the language changes: the details are worded by the API in the reader's language)
  const list = useLoad(() => client.get<Answer<"listAlerts">>(`/api/v1/alerts${q({ state, town, type, limit: 500 })}`), [state, town, type, lang]);
  const [live, setLive] = useState<Map<string, Alert>>(new Map());
  // what the stream said was worded in the other language: the list reloads in the new one
  useEffect(() => setLive(new Map()), [lang]);
  const [announce, setAnnounce] = useState("");
  useStream<Answer<"streamAlerts", 200, "text/event-stream">>("/api/v1/alerts/stream", "alert", (a) => {
    setLive((m) => new Map(m).set(a.id, a));
    if (a.state === "firing" && a.history.length === 1) setAnnounce(t("alerts.new", { device: a.deviceId, type: t(`alert.${a.type}` as Key) }));
  });

  const matches = (a: Alert) =>
    (!state || (state === "open" ? a.state !== "resolved" : a.state === state)) && (!town || a.town === town) && (!type || a.type === type);
  const merged = new Map((list.data?.alerts ?? []).map((a) => [a.id, a]));
  for (const [id, a] of live) {
    const known = merged.get(id);
    if (!known || known.history.length <= a.history.length) merged.set(id, a);
  }
  const alerts = [...merged.values()].filter(matches).sort((a, b) => b.since.localeCompare(a.since));
  const types = [...new Set([...(list.data?.alerts ?? []), ...live.values()].map((a) => a.type))].sort();
  const towns = me.towns ?? [...new Set([...(list.data?.alerts ?? [])].map((a) => a.town).filter((x): x is string => !!x))].sort();

  return (
    <>
      <h1>{t("alerts.title")}</h1>
      <p class="sr-only" aria-live="polite">
        {announce}
      </p>
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label={t("filters")}>
        <label>
          {t("alerts.state")}
          <select value={state} onChange={(e) => setState((e.currentTarget as HTMLSelectElement).value as typeof state)}>
            {STATES.map((s) => (
              <option key={s} value={s}>
                {t(`alerts.state.${s || "all"}` as Key)}
              </option>
            ))}
          </select>
        </label>
        <TownSelect value={town} towns={towns} onChange={setTown} />
        <label>
          {t("alerts.type")}
          <select value={type} onChange={(e) => setType((e.currentTarget as HTMLSelectElement).value)}>
            <option value="">{t("all")}</option>
            {types.map((x) => (
              <option key={x} value={x}>
                {t(`alert.${x}` as Key)}
              </option>
            ))}
          </select>
        </label>
      </form>
      <Loading when={list.loading && !list.data} />
      <ErrorNote error={list.error} />
      {list.data && alerts.length === 0 && <p class="muted">{t("alerts.none")}</p>}
      <ul class="alert-list">
        {alerts.map((a) => (
          <li key={a.id}>
            <AlertCard alert={a} onChanged={(x) => setLive((m) => new Map(m).set(x.id, x))} />
          </li>
        ))}
      </ul>
    </>
  );
}

const SEVERITY_TONE = { critical: "bad", major: "warn", minor: "info" } as const;
const STATE_TONE = { firing: "bad", acknowledged: "warn", resolved: "ok" } as const;

function AlertCard(props: { alert: Alert; onChanged: (a: Alert) => void }) {
  const { client, t } = useSession();
  const a = props.alert;
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [resolving, setResolving] = useState(false);
  const [comment, setComment] = useState("");
  const act = async (path: string, body: unknown) => {
    setBusy(true);
    setError(null);
    try {
      props.onChanged(await client.post<Alert>(`/api/v1/alerts/${encodeURIComponent(a.id)}/${path}`, body));
      setResolving(false);
      setComment("");
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const light = a.family === "streetlight";
  return (
    <article class="card alert" aria-labelledby={`al-${a.id}`} data-state={a.state}>
      <h2 id={`al-${a.id}`} class="h4">
        <Badge tone={SEVERITY_TONE[a.severity]}>{t(`severity.${a.severity}` as Key)}</Badge> {t(`alert.${a.type}` as Key)} ·{" "}
        {light ? <a href={`#/lights/${encodeURIComponent(a.deviceId)}`}>{a.deviceId}</a> : a.deviceId}
      </h2>
      <p>
        <Badge tone={STATE_TONE[a.state]}>{t(`alerts.state.${a.state}` as Key)}</Badge> {[a.town, a.village, a.station].filter(Boolean).join(" · ")} ·{" "}
        {t("since")} {formatTime(a.since)}
        {a.suppressedBy && <span class="muted"> · {t("alerts.suppressed")}</span>}
      </p>
      <p>{a.detail}</p>
      {a.history.length > 1 && (
        <details>
          <summary>{t("alerts.history")}</summary>
          <ol class="history">
            {a.history.map((h) => (
              <li key={`${h.at}-${h.action}`}>
                {formatTime(h.at)} · {h.who} · {t(`history.${h.action}` as Key)}
                {h.text ? `: ${h.text}` : ""}
              </li>
            ))}
          </ol>
        </details>
      )}
      {a.state !== "resolved" && (
        <div class="actions">
          {a.state === "firing" && (
            <button type="button" disabled={busy} onClick={() => void act("ack", {})}>
              {t("alerts.ack")}
            </button>
          )}
          {!resolving && (
            <button type="button" class="secondary" disabled={busy} onClick={() => setResolving(true)}>
              {t("alerts.resolve")}
            </button>
          )}
        </div>
      )}
      {resolving && (
        <form
          class="resolve"
          onSubmit={(e) => {
            e.preventDefault();
            void act("resolve", { comment });
          }}
        >
          <label for={`c-${a.id}`}>{t("alerts.comment")}</label>
          <textarea id={`c-${a.id}`} required rows={2} value={comment} onInput={(e) => setComment((e.currentTarget as HTMLTextAreaElement).value)} />
          <div class="actions">
            <button type="submit" disabled={busy || !comment.trim()}>
              {t("alerts.resolveConfirm")}
            </button>
            <button type="button" class="link" onClick={() => setResolving(false)}>
              {t("cancel")}
            </button>
          </div>
        </form>
      )}
      <ErrorNote error={error} />
    </article>
  );
}
