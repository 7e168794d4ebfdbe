import { useState } from "preact/hooks";
import { type Answer, q, type Schemas } from "./api";
import type { Key } from "./i18n";
import { Badge, ErrorNote, formatNumber, formatPct, formatTime, ListTable, Loading, TownSelect, useLoad, useSession } from "./ui";

type Campaign = Schemas["LightCampaign"];
type Estimate = NonNullable<Answer<"estimateLightCampaign">["estimate"]>;
type Command = Schemas["LightCommand"];

/** The profiles a campaign offers (PROTOCOL.md §3a; DOMAIN.md §2's winter dimming first). */
export const PROFILES = {
  winter: {
    mode: "dusk_to_dawn",
    stages: [
      { afterDuskH: 0, pct: 100 },
      { afterDuskH: 4, pct: 50 },
      { beforeDawnH: 1, pct: 100 },
    ],
  },
  saving: {
    mode: "dusk_to_dawn",
    stages: [
      { afterDuskH: 0, pct: 70 },
      { afterDuskH: 3, pct: 30 },
      { beforeDawnH: 1, pct: 70 },
    ],
  },
  full: { mode: "dusk_to_dawn", stages: [{ afterDuskH: 0, pct: 100 }] },
} as const;
type ProfileName = keyof typeof PROFILES;
const ACTIONS = ["dim", "on", "off"] as const;

/** Technicians and admins of a town control its lights (the API refuses the others: this only keeps the page honest). */
export const mayControl = (role: string) => role === "admin" || role === "technician";

/** An override as a request's command (a dim level only for `dim`). */
const overrideOf = (action: (typeof ACTIONS)[number], pct: number, minutes: number) =>
  action === "dim" ? { action, pct, minutes } : { action, minutes };

/** The override's fields, shared by the campaign page and a light's page. */
function OverrideFields(props: {
  action: (typeof ACTIONS)[number];
  pct: number;
  minutes: number;
  onChange: (o: { action: (typeof ACTIONS)[number]; pct: number; minutes: number }) => void;
}) {
  const { t } = useSession();
  const o = { action: props.action, pct: props.pct, minutes: props.minutes };
  return (
    <>
      <label>
        {t("control.action")}
        <select value={o.action} onChange={(e) => props.onChange({ ...o, action: (e.currentTarget as HTMLSelectElement).value as typeof o.action })}>
          {ACTIONS.map((a) => (
            <option key={a} value={a}>
              {t(`control.action.${a}` as Key)}
            </option>
          ))}
        </select>
      </label>
      {o.action === "dim" && (
        <label>
          {t("control.pct")}
          <input
            type="number"
            min={0}
            max={100}
            value={o.pct}
            onInput={(e) => props.onChange({ ...o, pct: Number((e.currentTarget as HTMLInputElement).value) })}
          />
        </label>
      )}
      <label>
        {t("control.minutes")}
        <input
          type="number"
          min={1}
          max={1440}
          value={o.minutes}
          onInput={(e) => props.onChange({ ...o, minutes: Number((e.currentTarget as HTMLInputElement).value) })}
        />
      </label>
    </>
  );
}

/** Campaigns: choose the lights and the command, see the estimate, send, follow the counts; and the energy report. */
export function ControlPage() {
  const { me, t } = useSession();
  return (
    <>
      <h1>{t("control.title")}</h1>
      {mayControl(me.role) && <NewCampaign />}
      <Campaigns />
      <EnergyReport />
    </>
  );
}

function NewCampaign() {
  const { client, t, me, lang } = useSession();
  const [kind, setKind] = useState<"town" | "village" | "road" | "list">("village");
  const [town, setTown] = useState(me.towns?.[0] ?? "");
  const [village, setVillage] = useState("");
  const [road, setRoad] = useState("");
  const [list, setList] = useState("");
  const [name, setName] = useState("");
  const [what, setWhat] = useState<"profile" | "override">("profile");
  const [profile, setProfile] = useState<ProfileName>("winter");
  const [override, setOverride] = useState({ action: "dim" as (typeof ACTIONS)[number], pct: 50, minutes: 120 });
  const [estimate, setEstimate] = useState<{ lights: number; estimate: Estimate | null } | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [sent, setSent] = useState<string | null>(null);
  const towns = me.towns ?? [];

  const target =
    kind === "list"
      ? {
          deviceIds: list
            .split(/[\s,，、]+/)
            .map((x) => x.trim())
            .filter(Boolean),
        }
      : { town, ...(kind !== "town" && village ? { village } : {}), ...(kind === "road" && road ? { road } : {}) };
  const command =
    what === "profile"
      ? { name: "profile", profile: PROFILES[profile] }
      : { name: "override", override: overrideOf(override.action, override.pct, override.minutes) };
  const request = { name: name.trim() || t("control.unnamed"), target, command };
  const changed = () => {
    setEstimate(null);
    setSent(null);
  };
  const run = async (fn: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await fn();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const doEstimate = () =>
    run(async () => setEstimate(await client.post<Answer<"estimateLightCampaign">>("/api/v1/control/campaigns/estimate", request)));
  const send = () =>
    run(async () => {
      const k = await client.post<Campaign>("/api/v1/control/campaigns", request);
      setSent(k.id);
      setEstimate(null);
    });
  const e = estimate?.estimate ?? null;
  return (
    <section class="card" aria-labelledby="new-campaign">
      <h2 id="new-campaign">{t("control.new")}</h2>
      <form
        class="filters"
        onSubmit={(ev) => {
          ev.preventDefault();
          void doEstimate();
        }}
        onInput={changed}
      >
        <label>
          {t("control.name")}
          <input value={name} maxLength={100} onInput={(ev) => setName((ev.currentTarget as HTMLInputElement).value)} />
        </label>
        <label>
          {t("control.target")}
          <select value={kind} onChange={(ev) => setKind((ev.currentTarget as HTMLSelectElement).value as typeof kind)}>
            {(["town", "village", "road", "list"] as const).map((k) => (
              <option key={k} value={k}>
                {t(`control.target.${k}` as Key)}
              </option>
            ))}
          </select>
        </label>
        {kind !== "list" &&
          (towns.length > 0 ? (
            <TownSelect value={town} towns={towns} onChange={setTown} />
          ) : (
            <label>
              {t("town")}
              <input value={town} onInput={(ev) => setTown((ev.currentTarget as HTMLInputElement).value)} />
            </label>
          ))}
        {(kind === "village" || kind === "road") && (
          <label>
            {t("control.village")}
            <input value={village} onInput={(ev) => setVillage((ev.currentTarget as HTMLInputElement).value)} />
          </label>
        )}
        {kind === "road" && (
          <label>
            {t("control.road")}
            <input value={road} onInput={(ev) => setRoad((ev.currentTarget as HTMLInputElement).value)} />
          </label>
        )}
        {kind === "list" && (
          <label>
            {t("control.list")}
            <textarea rows={3} value={list} onInput={(ev) => setList((ev.currentTarget as HTMLTextAreaElement).value)} />
          </label>
        )}
        <label>
          {t("control.command")}
          <select value={what} onChange={(ev) => setWhat((ev.currentTarget as HTMLSelectElement).value as typeof what)}>
            <option value="profile">{t("control.cmd.profile")}</option>
            <option value="override">{t("control.cmd.override")}</option>
          </select>
        </label>
        {what === "profile" ? (
          <label>
            {t("control.profile")}
            <select value={profile} onChange={(ev) => setProfile((ev.currentTarget as HTMLSelectElement).value as ProfileName)}>
              {(Object.keys(PROFILES) as ProfileName[]).map((p) => (
                <option key={p} value={p}>
                  {t(`control.profile.${p}` as Key)}
                </option>
              ))}
            </select>
          </label>
        ) : (
          <OverrideFields
            {...override}
            onChange={(o) => {
              setOverride(o);
              changed();
            }}
          />
        )}
        <button type="submit" disabled={busy}>
          {t("control.estimate")}
        </button>
      </form>
      <ErrorNote error={error} />
      {estimate && (
        <div aria-live="polite">
          <p>{t("control.reach", { n: estimate.lights })}</p>
          {e ? (
            <dl class="facts">
              <dt>{t("control.est.night")}</dt>
              <dd>
                {formatNumber(lang, e.nightKWhNow)} → {formatNumber(lang, e.nightKWhNew)} kWh (
                {t("control.est.saving", { pct: formatNumber(lang, e.savingPct) })})
              </dd>
              <dt>{t("control.est.autonomy")}</dt>
              <dd>
                {formatNumber(lang, e.autonomyDaysNow)} → {formatNumber(lang, e.autonomyDaysNew)} {t("control.days")}
              </dd>
              <dt>{t("control.est.recent", { from: e.nightsFrom, to: e.nightsTo })}</dt>
              <dd>{t("control.est.loadPv", { load: formatNumber(lang, e.recentLoadKWh), pv: formatNumber(lang, e.recentPvKWh) })}</dd>
              <dt>{t("control.est.short")}</dt>
              <dd>{e.lightsShortOfPv}</dd>
            </dl>
          ) : (
            <p class="muted">{t("control.est.none")}</p>
          )}
          <button type="button" disabled={busy} onClick={() => void send()}>
            {t("control.send", { n: estimate.lights })}
          </button>
        </div>
      )}
      {sent && (
        <p role="status">
          {t("control.sent")} <a href={`#/control/${encodeURIComponent(sent)}`}>{sent}</a>
        </p>
      )}
    </section>
  );
}

const STATE_TONE = { running: "info", paused: "warn", cancelled: "muted", done: "ok" } as const;

function Campaigns() {
  const { client, t, me } = useSession();
  const list = useLoad(() => client.get<Answer<"listLightCampaigns">>("/api/v1/control/campaigns?limit=20"), [], 3000);
  const [error, setError] = useState<unknown>(null);
  const act = async (id: string, action: "pause" | "resume" | "cancel") => {
    setError(null);
    try {
      await client.post<Campaign>(`/api/v1/control/campaigns/${encodeURIComponent(id)}/${action}`, {});
      await list.reload();
    } catch (e) {
      setError(e);
    }
  };
  const ks = list.data?.campaigns ?? [];
  return (
    <section aria-labelledby="campaigns">
      <h2 id="campaigns">{t("control.campaigns")}</h2>
      <ErrorNote error={error} />
      <ListTable
        res={list}
        label={t("control.campaigns")}
        columns={[
          t("control.name"),
          t("control.state"),
          t("control.c.sent"),
          t("control.c.applied"),
          t("control.c.rejected"),
          t("control.c.waiting"),
          "",
        ]}
        empty={list.data && ks.length === 0 ? t("control.none") : null}
      >
        {ks.map((k) => (
          <tr key={k.id}>
            <td>
              {k.name}
              <br />
              <span class="muted">
                {[k.target.town, k.target.village, k.target.road].filter(Boolean).join(" · ") || t("control.target.list")} · {formatTime(k.createdAt)}{" "}
                · {k.createdBy}
              </span>
            </td>
            <td>
              <Badge tone={STATE_TONE[k.state]}>{t(`control.state.${k.state}` as Key)}</Badge>
            </td>
            <td>
              {k.counts?.sent ?? 0} / {k.counts?.lights ?? 0}
            </td>
            <td>{k.counts?.applied ?? 0}</td>
            <td>{k.counts?.rejected ?? 0}</td>
            <td>{(k.counts?.waitingOffline ?? 0) + (k.counts?.awaitingAnswer ?? 0)}</td>
            <td>
              {mayControl(me.role) && k.state === "running" && (
                <button type="button" class="secondary" onClick={() => void act(k.id, "pause")}>
                  {t("control.pause")}
                </button>
              )}
              {mayControl(me.role) && k.state === "paused" && (
                <button type="button" class="secondary" onClick={() => void act(k.id, "resume")}>
                  {t("control.resume")}
                </button>
              )}
              {mayControl(me.role) && (k.state === "running" || k.state === "paused") && (
                <button type="button" class="secondary" onClick={() => void act(k.id, "cancel")}>
                  {t("control.cancel")}
                </button>
              )}
              <Outcome id={k.id} />
            </td>
          </tr>
        ))}
      </ListTable>
    </section>
  );
}

/** The estimate checked afterwards, loaded when opened. */
function Outcome(props: { id: string }) {
  const { client, t, lang } = useSession();
  const [open, setOpen] = useState(false);
  const r = useLoad(
    async () => (open ? client.get<Answer<"getLightCampaignOutcome">>(`/api/v1/control/campaigns/${encodeURIComponent(props.id)}/outcome`) : null),
    [open, props.id],
  );
  const o = r.data?.outcome;
  const e = r.data?.estimate;
  return (
    <details onToggle={(ev) => setOpen((ev.currentTarget as HTMLDetailsElement).open)}>
      <summary>{t("control.outcome")}</summary>
      <Loading when={open && r.loading} />
      <ErrorNote error={r.error} />
      {o && (
        <dl class="facts">
          <dt>{t("control.out.nights", { from: o.nightsFrom, to: o.nightsTo })}</dt>
          <dd>{t("control.out.lights", { lights: o.lights, nights: o.nights })}</dd>
          <dt>{t("control.out.load")}</dt>
          <dd>
            {formatNumber(lang, o.loadKWh)} kWh · {t("control.out.model")} {formatNumber(lang, o.modelledLoadKWh)} kWh
            {o.loadVsModelPct !== null ? ` (${o.loadVsModelPct > 0 ? "+" : ""}${formatNumber(lang, o.loadVsModelPct)} %)` : ""}
          </dd>
          <dt>{t("control.out.saving")}</dt>
          <dd>
            {t("control.out.measured")} {formatNumber(lang, o.savingPct)} % · {t("control.out.estimated")} {formatNumber(lang, e?.savingPct)} %
          </dd>
          <dt>{t("control.est.autonomy")}</dt>
          <dd>
            {t("control.out.measured")} {formatNumber(lang, o.autonomyDays)} · {t("control.out.estimated")} {formatNumber(lang, e?.autonomyDaysNew)}{" "}
            {t("control.days")}
          </dd>
          <dt>{t("control.out.pv")}</dt>
          <dd>
            {formatNumber(lang, o.pvKWh)} kWh · {t("control.est.short")} {o.lightsShortOfPv}
          </dd>
        </dl>
      )}
    </details>
  );
}

const thisMonth = () => new Date(Date.now() + 8 * 3600_000).toISOString().slice(0, 7);

/** Energy and availability per light, village or town and month, with the XLSX download. */
function EnergyReport() {
  const { client, t, me, lang } = useSession();
  const [month, setMonth] = useState(thisMonth());
  const [by, setBy] = useState<"light" | "village" | "town">("village");
  const [town, setTown] = useState("");
  const query = q({ month, by, town });
  const r = useLoad(() => client.get<Answer<"getStreetlightEnergy">>(`/api/v1/streetlights/energy${query}`), [query]);
  const [error, setError] = useState<unknown>(null);
  const download = async () => {
    setError(null);
    try {
      await client.download(`/api/v1/streetlights/energy.xlsx${query}`);
    } catch (e) {
      setError(e);
    }
  };
  const rows = r.data ? [...r.data.rows, { ...r.data.total, key: t("control.total") }] : [];
  return (
    <section aria-labelledby="energy">
      <h2 id="energy">{t("energy.title")}</h2>
      <form class="filters" onSubmit={(ev) => ev.preventDefault()} aria-label={t("filters")}>
        <label>
          {t("energy.month")}
          <input type="month" value={month} onInput={(ev) => setMonth((ev.currentTarget as HTMLInputElement).value || thisMonth())} />
        </label>
        <label>
          {t("energy.by")}
          <select value={by} onChange={(ev) => setBy((ev.currentTarget as HTMLSelectElement).value as typeof by)}>
            {(["light", "village", "town"] as const).map((b) => (
              <option key={b} value={b}>
                {t(`energy.by.${b}` as Key)}
              </option>
            ))}
          </select>
        </label>
        <TownSelect value={town} towns={me.towns ?? [...new Set((r.data?.rows ?? []).map((x) => x.town ?? "").filter(Boolean))]} onChange={setTown} />
        <button type="button" class="secondary" onClick={() => void download()}>
          {t("energy.xlsx")}
        </button>
      </form>
      <ErrorNote error={error} />
      <ListTable
        res={r}
        label={t("energy.title")}
        columns={[
          t(`energy.by.${by}` as Key),
          t("energy.lights"),
          t("energy.nights"),
          t("energy.burn"),
          t("energy.used"),
          t("energy.made"),
          t("energy.availability"),
          t("energy.flat"),
        ]}
        empty={r.data && r.data.rows.length === 0 ? t("energy.none") : null}
      >
        {rows.map((x) => (
          <tr key={`${x.town}/${x.key}`}>
            <td>{by === "light" && x.town !== null ? <a href={`#/lights/${encodeURIComponent(x.key)}`}>{x.key}</a> : x.key}</td>
            <td>{x.lights}</td>
            <td>{x.nights}</td>
            <td>{formatNumber(lang, x.burnHours)}</td>
            <td>{formatNumber(lang, x.kWhConsumed, 2)}</td>
            <td>{formatNumber(lang, x.kWhGenerated, 2)}</td>
            <td>{formatPct(lang, x.availability)}</td>
            <td>{x.flatBatteryNights}</td>
          </tr>
        ))}
      </ListTable>
    </section>
  );
}

const COMMAND_TONE: Record<Command["state"], "ok" | "warn" | "bad" | "info" | "muted"> = {
  created: "muted",
  sent: "info",
  applied: "ok",
  rejected: "bad",
  expired: "warn",
  cancelled: "muted",
};

/** A light's control, on its page: what it applied, its commands with their states, and an override for those who may. */
export function LightControlSection(props: { id: string }) {
  const { client, t, me, lang } = useSession();
  const id = encodeURIComponent(props.id);
  const view = useLoad(() => client.get<Answer<"getLightControl">>(`/api/v1/streetlights/${id}/control`), [id], 10_000);
  const history = useLoad(
    () => client.get<Answer<"listLightCommands">>(`/api/v1/control/commands${q({ deviceId: props.id, limit: 20 })}`),
    [id],
    10_000,
  );
  const [o, setO] = useState({ action: "dim" as (typeof ACTIONS)[number], pct: 50, minutes: 60 });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const send = async (ev: Event) => {
    ev.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await client.post<Command>("/api/v1/control/commands", {
        deviceId: props.id,
        command: { name: "override", override: overrideOf(o.action, o.pct, o.minutes) },
      });
      await Promise.all([view.reload(), history.reload()]);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const v = view.data;
  const stagesText = (p: unknown) =>
    ((p as { stages?: { afterDuskH?: number; beforeDawnH?: number; at?: string; pct: number }[] } | null)?.stages ?? [])
      .map((s) =>
        s.at !== undefined
          ? `${s.at} ${s.pct}%`
          : s.beforeDawnH !== undefined
            ? t("control.beforeDawn", { h: s.beforeDawnH, pct: s.pct })
            : t("control.afterDusk", { h: s.afterDuskH ?? 0, pct: s.pct }),
      )
      .join(" → ");
  return (
    <section aria-labelledby="light-control">
      <h2 id="light-control">{t("control.light")}</h2>
      <Loading when={view.loading && !v} />
      <ErrorNote error={view.error} />
      {v && (
        <dl class="facts">
          <dt>{t("control.judgedBy")}</dt>
          <dd>
            <Badge tone={v.profileStatus === "applied" ? "ok" : v.profileStatus === "rejected" ? "bad" : "muted"}>
              {t(`control.profileStatus.${v.profileStatus}` as Key)}
            </Badge>{" "}
            {stagesText(v.judgedBy === "applied" ? v.appliedProfile : v.registeredProfile)}
          </dd>
          {v.override && (
            <>
              <dt>{t("control.cmd.override")}</dt>
              <dd>
                {t(`control.action.${v.override.action}` as Key)}
                {v.override.pct !== null ? ` ${v.override.pct} %` : ""} · {t("control.until")} {formatTime(v.override.until)}
              </dd>
            </>
          )}
          {v.lastRejected && (
            <>
              <dt>{t("control.lastRejected")}</dt>
              <dd>
                {v.lastRejected.name}: {v.lastRejected.reason} · {formatTime(v.lastRejected.at)}
              </dd>
            </>
          )}
          {v.clockOffsetS !== null && (
            <>
              <dt>{t("control.clock")}</dt>
              <dd>{formatNumber(lang, v.clockOffsetS, 0)} s</dd>
            </>
          )}
        </dl>
      )}
      <ListTable
        res={history}
        label={t("control.history")}
        columns={[t("control.when"), t("control.command"), t("control.state"), t("control.by"), t("control.answer")]}
        empty={history.data && history.data.commands.length === 0 ? t("control.noCommands") : null}
      >
        {(history.data?.commands ?? []).map((c) => (
          <tr key={c.id}>
            <td>{formatTime(c.createdAt)}</td>
            <td>{t(`control.cmd.${c.name}` as Key)}</td>
            <td>
              <Badge tone={COMMAND_TONE[c.state]}>{t(`control.cstate.${c.state}` as Key)}</Badge>
            </td>
            <td>{c.createdBy}</td>
            <td>{c.reason ?? (c.answeredAt ? formatTime(c.answeredAt) : "—")}</td>
          </tr>
        ))}
      </ListTable>
      {mayControl(me.role) && (
        <form class="filters" onSubmit={(ev) => void send(ev)} aria-label={t("control.sendOverride")}>
          <OverrideFields {...o} onChange={setO} />
          <button type="submit" disabled={busy}>
            {t("control.sendOverride")}
          </button>
          <ErrorNote error={error} />
        </form>
      )}
    </section>
  );
}
