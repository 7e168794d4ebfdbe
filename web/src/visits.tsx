import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import type { Answer, Schemas } from "./api";
import { NO_EXIF, readTaken, takenQuery } from "./exif";
import type { Key } from "./i18n";
import { type Entry, keep, type Refused, shrink, useOutbox } from "./outbox";
import { preloadScanner, Scanner } from "./scan";
import { Badge, ErrorNote, formatTime, Loading, useLoad, useSession } from "./ui";
import { distanceText, FieldStatus, metres, NavLinks, usePosition, type Where } from "./work";

type ToVisit = Answer<"getVerificationVisits">["visits"][number];
type Visit = Schemas["FieldVisit"];
type Make = (e: Omit<Entry, "key" | "madeAt" | "seq" | "user">) => Promise<string>;
const WHY_TONE = { failed: "bad", silent: "warn", sample: "info" } as const;
const record = (deviceId: string) => `visit:${deviceId}`;

/**
 * An inspector's field visits on the phone: the bureau's visit list (every failure, the silent lights and the sample),
 * nearest first, with navigate links; at the pole, the visit is recorded (found at the claimed pole, pole number and
 * serial typed or scanned, lit at a night visit, a photo resized on the phone, the household's statement, a signature)
 * and kept in the phone's outbox until it is sent, once.
 */
export function VisitsPage() {
  const { client, t, lang, me } = useSession();
  const list = useLoad(() => client.get<Answer<"getVerificationVisits">>("/api/v1/verification/visits"), [lang]);
  const done = useLoad(() => client.get<Answer<"listFieldVisits">>("/api/v1/field-visits?limit=5000"), [lang], 60_000);
  const { at, denied } = usePosition();
  const [search, setSearch] = useState("");
  const [other, setOther] = useState("");
  const { kept, refused, setRefused, online, send } = useOutbox(client, me.name, () => void done.reload());
  useEffect(() => {
    void preloadScanner().catch(() => undefined); // (while there is signal: the scanner then works without)
  }, []);

  const make: Make = async (entry) => {
    setRefused((rs) => rs.filter((r) => r.orderId !== entry.orderId));
    return keep({ ...entry, user: me.name });
  };
  const madeAll = async () => {
    if (navigator.onLine) await send();
  };

  const latest = useMemo(() => {
    const m = new Map<string, Visit>();
    for (const v of done.data?.visits ?? []) if (!m.has(v.deviceId)) m.set(v.deviceId, v);
    return m;
  }, [done.data]);
  const q = search.trim().toLowerCase();
  const rows = useMemo(
    () =>
      (list.data?.visits ?? [])
        .filter((l) => !q || [l.deviceId, l.village, l.road].some((s) => s.toLowerCase().includes(q)))
        .map((l) => ({ l, d: at ? metres(at, l) : null }))
        .sort((a, b) => (a.d ?? Number.POSITIVE_INFINITY) - (b.d ?? Number.POSITIVE_INFINITY) || a.l.deviceId.localeCompare(b.l.deviceId)),
    [list.data, at, q],
  );
  const listed = new Set((list.data?.visits ?? []).map((l) => l.deviceId));
  // claims not on the list with entries waiting or refused (typed in below): shown as cards too
  const extra = [...new Set([...kept.map((e) => e.orderId), ...refused.map((r) => r.orderId)])]
    .filter((o) => o.startsWith("visit:") && !listed.has(o.slice(6)))
    .map((o) => o.slice(6));

  return (
    <>
      <h1>{t("visit.title")}</h1>
      <FieldStatus online={online} at={at} denied={denied} waiting={kept.length} />
      <label for="visit-search">{t("visit.search")}</label>
      <input id="visit-search" type="search" value={search} onInput={(e) => setSearch((e.target as HTMLInputElement).value)} />
      <Loading when={list.loading && !list.data} />
      <ErrorNote error={list.error} />
      <h2>{t("visit.list")}</h2>
      {list.data && rows.length === 0 && <p class="muted">{t("visit.none")}</p>}
      <ul class="cards">
        {rows.map(({ l, d }) => (
          <VisitCard
            key={l.deviceId}
            light={l}
            distance={d}
            at={at}
            visit={latest.get(l.deviceId) ?? null}
            kept={kept.filter((e) => e.orderId === record(l.deviceId))}
            refused={refused.filter((r) => r.orderId === record(l.deviceId))}
            make={make}
            madeAll={madeAll}
          />
        ))}
        {extra.map((id) => (
          <VisitCard
            key={id}
            light={null}
            deviceId={id}
            distance={null}
            at={at}
            visit={latest.get(id) ?? null}
            kept={kept.filter((e) => e.orderId === record(id))}
            refused={refused.filter((r) => r.orderId === record(id))}
            make={make}
            madeAll={madeAll}
          />
        ))}
      </ul>
      <h2>{t("visit.other")}</h2>
      <p class="muted">{t("visit.otherHelp")}</p>
      <label for="visit-other">{t("visit.otherId")}</label>
      <input id="visit-other" value={other} onInput={(e) => setOther((e.target as HTMLInputElement).value.trim())} maxLength={100} />
      {other && !listed.has(other) && !extra.includes(other) && (
        <ul class="cards">
          <VisitCard
            light={null}
            deviceId={other}
            distance={null}
            at={at}
            visit={latest.get(other) ?? null}
            kept={[]}
            refused={[]}
            make={make}
            madeAll={madeAll}
          />
        </ul>
      )}
    </>
  );
}

function VisitCard(props: {
  light: ToVisit | null;
  deviceId?: string;
  distance: number | null;
  at: Where | null;
  visit: Visit | null;
  kept: Entry[];
  refused: Refused[];
  make: Make;
  madeAll: () => Promise<void>;
}) {
  const { t } = useSession();
  const l = props.light;
  const id = l?.deviceId ?? props.deviceId ?? "";
  const [open, setOpen] = useState(false);
  const v = props.visit;
  return (
    <li class="card" aria-label={`${t("visit.claim")} ${id}`}>
      <p>
        <strong>{id}</strong> {l && <Badge tone={WHY_TONE[l.why]}>{t(`visit.why.${l.why}` as Key)}</Badge>}{" "}
        {v && <Badge tone="ok">{t("visit.recorded", { at: formatTime(v.at) })}</Badge>}
      </p>
      {l && (
        <p class="muted">
          {[l.town, l.village, l.road].filter(Boolean).join(" · ")} · {l.verdict === "verified" ? t("visit.dataOk") : l.evidenceText}
          {props.distance !== null && ` · ${t("work.away", { d: distanceText(props.distance) })}`}
        </p>
      )}
      {l && <NavLinks id={id} lat={l.lat} lon={l.lon} />}
      {v && (
        <p class="muted">
          {t(v.foundAtPole ? "visit.wasFound" : "visit.wasNotFound")} · {v.inspector} · {t("visit.distanceWas", { d: distanceText(v.distanceM) })}
        </p>
      )}
      {props.kept.length > 0 && (
        <ul class="plain muted" aria-label={t("work.waitingList")}>
          {props.kept.map((e) => (
            <li key={e.key}>
              {t(`visit.entry.${e.kind}` as Key)} · {formatTime(e.madeAt)} · {t("work.toSend")}
            </li>
          ))}
        </ul>
      )}
      {props.refused.map((r) => (
        <p key={`${r.kind}${r.message}`} class="error" role="alert">
          {t(`visit.entry.${r.kind}` as Key)}: {r.message}
        </p>
      ))}
      {!open && props.kept.length === 0 && (
        <div class="actions">
          <button type="button" onClick={() => setOpen(true)}>
            {v ? t("visit.again") : t("visit.start")}
          </button>
        </div>
      )}
      {open && (
        <VisitForm
          deviceId={id}
          at={props.at}
          make={props.make}
          onDone={async () => {
            setOpen(false);
            await props.madeAll();
          }}
        />
      )}
    </li>
  );
}

/** The record made at the pole: kept as the visit, then its photo and signature (which wait for the visit's id). */
function VisitForm(props: { deviceId: string; at: Where | null; make: Make; onDone: () => Promise<void> }) {
  const { t } = useSession();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [pole, setPole] = useState("");
  const [serial, setSerial] = useState("");
  const [signed, setSigned] = useState(false);
  const pad = useRef<HTMLCanvasElement>(null);
  const id = props.deviceId.replace(/[^A-Za-z0-9_-]/g, "_");
  const submit = async (e: Event) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget as HTMLFormElement);
    const found = form.get("found");
    const lit = form.get("lit");
    const statement = String(form.get("statement") ?? "").trim();
    const file = form.get("photo");
    if (!props.at) return setError(t("visit.needPosition"));
    if (found !== "yes" && found !== "no") return setError(t("visit.needFound"));
    if (!signed || !pad.current) return setError(t("visit.needSignature"));
    setBusy(true);
    setError(null);
    try {
      let photo: Blob | null = null;
      let taken = "";
      if (file instanceof File && file.size > 0) {
        taken = takenQuery(await readTaken(file).catch(() => NO_EXIF));
        photo = await shrink(file).catch(() => null);
        if (!photo) return setError(t("work.photoUnreadable"));
      }
      const signature = await new Promise<Blob | null>((ok) => pad.current?.toBlob(ok, "image/png"));
      if (!signature) return setError(t("visit.needSignature"));
      const orderId = record(props.deviceId);
      const visit = await props.make({
        orderId,
        kind: "visit",
        path: "/api/v1/field-visits",
        json: {
          deviceId: props.deviceId,
          lat: props.at.lat,
          lon: props.at.lon,
          accuracyM: Math.round(props.at.accuracyM),
          foundAtPole: found === "yes",
          ...(pole.trim() ? { poleNumber: pole.trim() } : {}),
          ...(serial.trim() ? { controllerSerial: serial.trim() } : {}),
          ...(lit === "yes" || lit === "no" ? { lit: lit === "yes" } : {}),
          ...(statement ? { statement } : {}),
          at: new Date().toISOString(),
        },
      });
      if (photo)
        await props.make({
          orderId,
          kind: "photo",
          after: visit,
          path: `/api/v1/field-visits/{id}/images?kind=photo${taken ? `&${taken}` : ""}`,
          photo,
        });
      await props.make({ orderId, kind: "signature", after: visit, path: "/api/v1/field-visits/{id}/images?kind=signature", photo: signature });
      await props.onDone();
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="record" onSubmit={submit} aria-label={t("visit.form")}>
      <fieldset>
        <legend>{t("visit.found")}</legend>
        <label class="check">
          <input type="radio" name="found" value="yes" /> {t("visit.foundYes")}
        </label>
        <label class="check">
          <input type="radio" name="found" value="no" /> {t("visit.foundNo")}
        </label>
      </fieldset>
      <label for={`pole-${id}`}>{t("visit.pole")}</label>
      <input id={`pole-${id}`} value={pole} onInput={(e) => setPole((e.target as HTMLInputElement).value)} maxLength={64} />
      <Scanner field={t("visit.pole")} onCode={setPole} />
      <label for={`serial-${id}`}>{t("visit.serial")}</label>
      <input id={`serial-${id}`} value={serial} onInput={(e) => setSerial((e.target as HTMLInputElement).value)} maxLength={64} />
      <Scanner field={t("visit.serial")} onCode={setSerial} />
      <fieldset>
        <legend>{t("visit.lit")}</legend>
        <label class="check">
          <input type="radio" name="lit" value="yes" /> {t("visit.litYes")}
        </label>
        <label class="check">
          <input type="radio" name="lit" value="no" /> {t("visit.litNo")}
        </label>
        <label class="check">
          <input type="radio" name="lit" value="" /> {t("visit.litDay")}
        </label>
      </fieldset>
      <label for={`photo-${id}`}>{t("visit.photo")}</label>
      <input id={`photo-${id}`} name="photo" type="file" accept="image/*" capture="environment" />
      <label for={`statement-${id}`}>{t("visit.statement")}</label>
      <textarea id={`statement-${id}`} name="statement" maxLength={2000} />
      <SignaturePad canvas={pad} signed={signed} onSigned={setSigned} />
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <button type="submit" disabled={busy}>
        {t("visit.submit")}
      </button>
    </form>
  );
}

/** A canvas signed with a finger (or a mouse); sent as a PNG. */
function SignaturePad(props: { canvas: { current: HTMLCanvasElement | null }; signed: boolean; onSigned: (s: boolean) => void }) {
  const { t } = useSession();
  const last = useRef<{ x: number; y: number } | null>(null);
  const clear = () => {
    const c = props.canvas.current;
    const g = c?.getContext("2d");
    if (!c || !g) return;
    g.setTransform(1, 0, 0, 1, 0, 0);
    g.fillStyle = "#fff";
    g.fillRect(0, 0, c.width, c.height);
    props.onSigned(false);
  };
  useEffect(() => {
    const c = props.canvas.current;
    if (!c) return;
    c.width = Math.round(c.clientWidth * (window.devicePixelRatio || 1));
    c.height = Math.round(c.clientHeight * (window.devicePixelRatio || 1));
    clear();
  }, []);
  const point = (e: PointerEvent) => {
    const c = props.canvas.current as HTMLCanvasElement;
    const r = c.getBoundingClientRect();
    return { x: ((e.clientX - r.left) * c.width) / r.width, y: ((e.clientY - r.top) * c.height) / r.height };
  };
  const down = (e: PointerEvent) => {
    (e.currentTarget as HTMLCanvasElement).setPointerCapture(e.pointerId);
    last.current = point(e);
  };
  const move = (e: PointerEvent) => {
    const from = last.current;
    const g = props.canvas.current?.getContext("2d");
    if (!from || !g) return;
    const to = point(e);
    g.strokeStyle = "#111";
    g.lineWidth = 2.5 * (window.devicePixelRatio || 1);
    g.lineCap = "round";
    g.beginPath();
    g.moveTo(from.x, from.y);
    g.lineTo(to.x, to.y);
    g.stroke();
    last.current = to;
    if (!props.signed) props.onSigned(true);
  };
  const up = () => {
    last.current = null;
  };
  return (
    <div class="signature">
      <p id="signature-label">{t("visit.signature")}</p>
      <canvas
        ref={props.canvas}
        class="signature-pad"
        role="img"
        aria-label={props.signed ? t("visit.signed") : t("visit.signHere")}
        onPointerDown={down}
        onPointerMove={move}
        onPointerUp={up}
        onPointerCancel={up}
        style={{ touchAction: "none" }}
      />
      <button type="button" class="secondary" onClick={clear}>
        {t("visit.clearSignature")}
      </button>
    </div>
  );
}
