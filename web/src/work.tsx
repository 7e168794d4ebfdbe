import { useEffect, useMemo, useState } from "preact/hooks";
import type { Answer, Schemas } from "./api";
import { NO_EXIF, readTaken, takenQuery } from "./exif";
import type { Key } from "./i18n";
import { type Entry, keep, type Refused, shrink, useOutbox } from "./outbox";
import { Badge, ErrorNote, formatTime, Loading, useLoad, useSession } from "./ui";

type Order = Schemas["WorkOrder"];
type Alert = Schemas["Alert"];
export type Where = { lat: number; lon: number; accuracyM: number };

const FOUND = ["lamp", "battery", "controller", "panel", "wiring", "relay", "dirt", "nothing_found"] as const;
const DONE = [
  "lamp_replaced",
  "battery_replaced",
  "controller_replaced",
  "panel_replaced",
  "wiring_replaced",
  "relay_replaced",
  "cleaned",
  "nothing_done",
] as const;
const PRIORITY_TONE = { critical: "bad", major: "warn", minor: "info" } as const;
/** What a kept entry makes of the order's state, until the service has it. */
const AFTER: Record<string, Order["state"]> = {
  assigned: "assigned",
  on_the_way: "on_the_way",
  check_in: "on_site",
  done: "done",
};

export function metres(a: { lat: number; lon: number }, b: { lat: number; lon: number }): number {
  const rad = Math.PI / 180;
  const h = Math.sin(((b.lat - a.lat) * rad) / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(((b.lon - a.lon) * rad) / 2) ** 2;
  return 2 * 6_371_000 * Math.asin(Math.min(1, Math.sqrt(h)));
}
const nearest = (o: Order, at: Where | null): number | null => {
  if (!at) return null;
  const d = o.lights.filter((l) => l.lat !== null && l.lon !== null).map((l) => metres(at, { lat: l.lat as number, lon: l.lon as number }));
  return d.length ? Math.min(...d) : null;
};
export const distanceText = (m: number) => (m < 1000 ? `${Math.round(m)} m` : `${(m / 1000).toFixed(1)} km`);

/** The phone's position while the page is open (null until the phone says, or when it may not). */
export function usePosition(): { at: Where | null; denied: boolean } {
  const [at, setAt] = useState<Where | null>(null);
  const [denied, setDenied] = useState(false);
  useEffect(() => {
    if (!("geolocation" in navigator)) return setDenied(true);
    const id = navigator.geolocation.watchPosition(
      (p) => {
        setAt({ lat: p.coords.latitude, lon: p.coords.longitude, accuracyM: p.coords.accuracy });
        setDenied(false);
      },
      () => setDenied(true),
      { enableHighAccuracy: true, maximumAge: 30_000 },
    );
    return () => navigator.geolocation.clearWatch(id);
  }, []);
  return { at, denied };
}

/** A technician's day on the phone: open work nearest first, the alerts still without an order, entries kept while offline. */
export function WorkPage() {
  const { client, t, lang, me } = useSession();
  const orders = useLoad(() => client.get<Answer<"listWorkOrders">>("/api/v1/work-orders?state=active"), [lang], 30_000);
  const alerts = useLoad(() => client.get<Answer<"listAlerts">>("/api/v1/alerts?state=open"), [lang], 30_000);
  const { at, denied } = usePosition();
  const [search, setSearch] = useState("");
  const { kept, refused, setRefused, online, send } = useOutbox(client, me.name, () => {
    void orders.reload();
    void alerts.reload();
  });

  const make = async (entry: Omit<Entry, "key" | "madeAt" | "seq" | "user">) => {
    setRefused((rs) => rs.filter((r) => r.orderId !== entry.orderId));
    await keep({ ...entry, user: me.name });
    if (navigator.onLine) await send();
  };

  const taken = new Set((orders.data?.workOrders ?? []).flatMap((o) => o.alertIds));
  const q = search.trim().toLowerCase();
  const matches = (ids: string[]) => !q || ids.some((id) => id.toLowerCase().includes(q));
  const list = useMemo(
    () =>
      (orders.data?.workOrders ?? [])
        .filter((o) => o.state !== "done")
        .filter((o) => matches(o.lights.flatMap((l) => [l.id, l.village ?? ""])))
        .map((o) => ({ o, d: nearest(o, at) }))
        .sort((a, b) => (a.d ?? Number.POSITIVE_INFINITY) - (b.d ?? Number.POSITIVE_INFINITY) || Date.parse(a.o.dueAt) - Date.parse(b.o.dueAt)),
    [orders.data, at, q],
  );
  const waitingProof = (orders.data?.workOrders ?? []).filter((o) => o.state === "done" && matches(o.lights.map((l) => l.id)));
  const free = (alerts.data?.alerts ?? []).filter(
    (a) => !taken.has(a.id) && (a.family === "streetlight" || a.family === "village") && matches([a.deviceId]),
  );

  return (
    <>
      <h1>{t("work.title")}</h1>
      <FieldStatus online={online} at={at} denied={denied} waiting={kept.length} />
      <label for="work-search">{t("work.search")}</label>
      <input id="work-search" type="search" value={search} onInput={(e) => setSearch((e.target as HTMLInputElement).value)} />
      <Loading when={orders.loading && !orders.data} />
      <ErrorNote error={orders.error} />
      <h2>{t("work.mine")}</h2>
      {orders.data && list.length === 0 && <p class="muted">{t("work.none")}</p>}
      <ul class="cards">
        {list.map(({ o, d }) => (
          <OrderCard
            key={o.id}
            order={o}
            distance={d}
            at={at}
            me={me.name}
            kept={kept.filter((e) => e.orderId === o.id)}
            refused={refused.filter((r) => r.orderId === o.id)}
            make={make}
          />
        ))}
      </ul>
      {free.length > 0 && (
        <>
          <h2>{t("work.alerts")}</h2>
          <ul class="cards">
            {free.map((a) => (
              <AlertCard
                key={a.id}
                alert={a}
                onTaken={async () => {
                  await orders.reload();
                  await alerts.reload();
                }}
              />
            ))}
          </ul>
        </>
      )}
      {waitingProof.length > 0 && (
        <>
          <h2>{t("work.proof")}</h2>
          <ul class="cards">
            {waitingProof.map((o) => (
              <li key={o.id} class="card">
                {o.lights.map((l) => l.id).join("、")} · <Badge tone="info">{o.stateText}</Badge>
              </li>
            ))}
          </ul>
        </>
      )}
    </>
  );
}

function AlertCard(props: { alert: Alert; onTaken: () => Promise<void> }) {
  const { client, t, me } = useSession();
  const a = props.alert;
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const take = async () => {
    setBusy(true);
    setError(null);
    try {
      // (made online only: an order is the service's to number; the moves after it may wait for a signal)
      await client.post("/api/v1/work-orders", { alertIds: [a.id], assignee: me.name }, { "idempotency-key": `take-${a.id}` });
      await props.onTaken();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <li class="card" aria-label={`${t("work.alert")} ${a.deviceId}`}>
      <p>
        <strong>{a.deviceId}</strong> <Badge tone={PRIORITY_TONE[a.severity]}>{t(`severity.${a.severity}` as Key)}</Badge>{" "}
        {[a.town, a.village].filter(Boolean).join(" · ")}
      </p>
      <p class="muted">
        {a.detail} · {t("since")} {formatTime(a.since)}
      </p>
      <ErrorNote error={error} />
      <button type="button" onClick={take} disabled={busy}>
        {t("work.takeAlert")}
      </button>
    </li>
  );
}

/** Where the phone is, whether it has signal, and how many entries wait in its outbox (the work and visit pages). */
export function FieldStatus(props: { online: boolean; at: Where | null; denied: boolean; waiting: number }) {
  const { t } = useSession();
  const { at } = props;
  return (
    <>
      <p class="muted" aria-live="polite">
        {props.online ? "" : `${t("work.offline")} · `}
        {at ? t("work.here", { m: Math.round(at.accuracyM) }) : props.denied ? t("work.noPosition") : t("work.locating")}
      </p>
      {props.waiting > 0 && (
        <p class="note" role="status" data-testid="outbox">
          {t("work.waiting", { n: props.waiting })}
        </p>
      )}
    </>
  );
}

export function NavLinks(props: { id: string; lat: number; lon: number }) {
  const { t } = useSession();
  const name = encodeURIComponent(props.id);
  const amap = `https://uri.amap.com/marker?position=${props.lon},${props.lat}&name=${name}&coordinate=wgs84&callnative=1&src=agrilume`;
  const baidu = `baidumap://map/marker?location=${props.lat},${props.lon}&title=${name}&content=${name}&coord_type=wgs84&src=agrilume`;
  const baiduWeb = `https://api.map.baidu.com/marker?location=${props.lat},${props.lon}&title=${name}&content=${name}&output=html&coord_type=wgs84&src=agrilume`;
  return (
    <span class="nav-links">
      {t("work.navigate")}:{" "}
      <a class="maplink" href={amap} target="_blank" rel="noopener noreferrer" aria-label={`${t("work.amap")} ${props.id}`}>
        {t("work.amap")}
      </a>{" "}
      <a class="maplink" href={baidu} aria-label={`${t("work.baidu")} ${props.id}`}>
        {t("work.baidu")}
      </a>{" "}
      <a class="maplink" href={baiduWeb} target="_blank" rel="noopener noreferrer" aria-label={`${t("work.baiduWeb")} ${props.id}`}>
        {t("work.baiduWeb")}
      </a>
    </span>
  );
}

function OrderCard(props: {
  order: Order;
  distance: number | null;
  at: Where | null;
  me: string;
  kept: Entry[];
  refused: Refused[];
  make: (e: Omit<Entry, "key" | "madeAt" | "seq" | "user">) => Promise<void>;
}) {
  const { t } = useSession();
  const o = props.order;
  const base = `/api/v1/work-orders/${encodeURIComponent(o.id)}`;
  // the state as the phone knows it: the service's, moved on by what waits to be sent
  const state = props.kept.reduce<Order["state"]>((s, e) => AFTER[e.kind] ?? s, o.state);
  const where = () => (props.at ? { lat: props.at.lat, lon: props.at.lon } : {});
  const now = () => new Date().toISOString();
  const move = (to: "assigned" | "on_the_way") =>
    props.make({
      orderId: o.id,
      kind: to,
      path: `${base}/moves`,
      json: { to, ...(to === "assigned" ? { assignee: props.me } : {}), at: now(), ...where() },
    });
  const checkIn = () =>
    props.at &&
    props.make({
      orderId: o.id,
      kind: "check_in",
      path: `${base}/check-ins`,
      json: { lat: props.at.lat, lon: props.at.lon, accuracyM: Math.round(props.at.accuracyM), at: now() },
    });
  const label = o.lights.map((l) => l.id).join("、");
  return (
    <li class="card" aria-label={`${t("work.order")} ${label}`} data-order={o.id}>
      <p>
        <strong>{label}</strong> <Badge tone="info">{state === o.state ? o.stateText : t(`work.state.${state}` as Key)}</Badge>{" "}
        <Badge tone={PRIORITY_TONE[o.priority]}>{t(`severity.${o.priority}` as Key)}</Badge>
      </p>
      <p class="muted">
        {o.problem ? `${o.problem} · ` : ""}
        {t("work.due")} {formatTime(o.dueAt)}
        {props.distance !== null && ` · ${t("work.away", { d: distanceText(props.distance) })}`}
        {o.reopened > 0 && ` · ${t("work.reopened", { n: o.reopened })}`}
      </p>
      <ul class="plain">
        {o.lights.map((l) => (
          <li key={l.id}>
            <a href={`#/lights/${encodeURIComponent(l.id)}`}>{l.id}</a> {l.village ?? ""}{" "}
            {l.lat !== null && l.lon !== null && <NavLinks id={l.id} lat={l.lat} lon={l.lon} />}
          </li>
        ))}
      </ul>
      {props.kept.length > 0 && (
        <ul class="plain muted" aria-label={t("work.waitingList")}>
          {props.kept.map((e) => (
            <li key={e.key}>
              {t(`work.entry.${e.kind}` as Key)} · {formatTime(e.madeAt)} · {t("work.toSend")}
            </li>
          ))}
        </ul>
      )}
      {props.refused.map((r) => (
        <p key={`${r.kind}${r.message}`} class="error" role="alert">
          {t(`work.entry.${r.kind}` as Key)}: {r.message}
        </p>
      ))}
      <div class="actions">
        {state === "open" && (
          <button type="button" onClick={() => void move("assigned")}>
            {t("work.take")}
          </button>
        )}
        {(state === "open" || state === "assigned") && (
          <button type="button" onClick={() => void move("on_the_way")}>
            {t("work.onTheWay")}
          </button>
        )}
        {(state === "open" || state === "assigned" || state === "on_the_way") && (
          <button type="button" onClick={() => void checkIn()} disabled={!props.at}>
            {t("work.checkIn")}
          </button>
        )}
      </div>
      {state === "on_site" && <Record order={o} at={props.at} make={props.make} base={base} />}
    </li>
  );
}

/** On site: what was found and done, parts, notes, a photo; sent (or kept) as the photo first, then the record. */
function Record(props: { order: Order; at: Where | null; base: string; make: (e: Omit<Entry, "key" | "madeAt" | "seq" | "user">) => Promise<void> }) {
  const { t } = useSession();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const id = props.order.id.slice(0, 8);
  const submit = async (e: Event) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget as HTMLFormElement);
    const found = form.getAll("found").map(String);
    const done = form.getAll("done").map(String);
    if (!found.length || !done.length) return setError(t("work.recordEmpty"));
    const part = String(form.get("part") ?? "").trim();
    const qty = Number(form.get("qty") ?? 1) || 1;
    const notes = String(form.get("notes") ?? "").trim();
    const file = form.get("photo");
    setBusy(true);
    setError(null);
    try {
      if (file instanceof File && file.size > 0) {
        // (its time and place read before the resize loses them, and sent beside it)
        const taken = takenQuery(await readTaken(file).catch(() => NO_EXIF));
        const photo = await shrink(file).catch(() => null);
        if (!photo) return setError(t("work.photoUnreadable"));
        await props.make({ orderId: props.order.id, kind: "photo", path: `${props.base}/photos${taken ? `?${taken}` : ""}`, photo });
      }
      await props.make({
        orderId: props.order.id,
        kind: "done",
        path: `${props.base}/done`,
        json: {
          found,
          done,
          parts: part ? [{ name: part, qty }] : [],
          ...(notes ? { notes } : {}),
          at: new Date().toISOString(),
          ...(props.at ? { lat: props.at.lat, lon: props.at.lon } : {}),
        },
      });
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="record" onSubmit={submit} aria-label={t("work.record")}>
      <fieldset>
        <legend>{t("work.found")}</legend>
        {FOUND.map((f) => (
          <label key={f} class="check">
            <input type="checkbox" name="found" value={f} /> {t(`found.${f}` as Key)}
          </label>
        ))}
      </fieldset>
      <fieldset>
        <legend>{t("work.did")}</legend>
        {DONE.map((d) => (
          <label key={d} class="check">
            <input type="checkbox" name="done" value={d} /> {t(`did.${d}` as Key)}
          </label>
        ))}
      </fieldset>
      <label for={`part-${id}`}>{t("work.part")}</label>
      <input id={`part-${id}`} name="part" maxLength={100} />
      <label for={`qty-${id}`}>{t("work.qty")}</label>
      <input id={`qty-${id}`} name="qty" type="number" min={1} max={1000} value={1} inputMode="numeric" />
      <label for={`notes-${id}`}>{t("work.notes")}</label>
      <textarea id={`notes-${id}`} name="notes" maxLength={2000} />
      <label for={`photo-${id}`}>{t("work.photo")}</label>
      <input id={`photo-${id}`} name="photo" type="file" accept="image/*" capture="environment" />
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <button type="submit" disabled={busy}>
        {t("work.markDone")}
      </button>
    </form>
  );
}
