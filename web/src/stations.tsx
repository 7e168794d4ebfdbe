import { useState } from "preact/hooks";
import { type Answer, q, type Schemas } from "./api";
import { Badge, ErrorNote, formatNumber, formatTime, Loading, TableWrap, useLoad, useSession, useStream } from "./ui";

type Station = Schemas["Station"];
type Machine = Extract<Schemas["Device"], { family: "blender" }>;
type MachineDetail = Extract<Schemas["DeviceDetail"], { family: "blender" }>;
type Order = Schemas["Order"];
/** What the order streams send. */
type Progress = Answer<"streamOrders", 200, "text/event-stream">;

/** Operator: each station's machines and open orders, progress live from the order streams. */
export function StationsPage() {
  const { client, t } = useSession();
  const stations = useLoad(() => client.get<Answer<"listStations">>("/api/v1/stations"), []);
  // One live stream for every order on the page: browsers allow only six connections to a server.
  const [progress, setProgress] = useState<Map<string, Progress>>(new Map());
  useStream<Progress>("/api/v1/orders/stream", "progress", (p) => setProgress((m) => new Map(m).set(p.orderId, p)));
  return (
    <>
      <h1>{t("stations.title")}</h1>
      <Loading when={stations.loading && !stations.data} />
      <ErrorNote error={stations.error} />
      {stations.data?.stations.length === 0 && <p class="muted">{t("stations.none")}</p>}
      {stations.data?.stations.map((s) => (
        <StationView key={s.id} station={s} progress={progress} />
      ))}
    </>
  );
}

/** A material's name in the reader's language (the station's catalogue: its own materials and the built-in ones); its code when unknown. */
type MaterialName = (code: string) => string;

function StationView(props: { station: Station; progress: Map<string, Progress> }) {
  const { client, t, lang } = useSession();
  const s = props.station;
  const materials = useLoad(() => client.get<Answer<"listMaterials">>(`/api/v1/materials${q({ station: s.id })}`), [s.id]);
  const materialName: MaterialName = (code) => {
    const m = materials.data?.materials.find((x) => x.code === code);
    return m ? (lang === "zh" ? m.nameZh : m.nameEn) : code;
  };
  const machines = useLoad(
    async () => {
      const list = await client.get<Answer<"listDevices">>(`/api/v1/devices${q({ family: "blender", station: s.id, limit: 1000 })}`);
      const details = await Promise.all(list.devices.map((m) => client.get<Schemas["DeviceDetail"]>(`/api/v1/devices/${encodeURIComponent(m.id)}`)));
      return details.filter((d): d is MachineDetail => d.family === "blender");
    },
    [s.id],
    10_000,
  );
  const orders = useLoad(() => client.get<Answer<"listOrders">>(`/api/v1/orders${q({ station: s.id })}`), [s.id], 30_000);
  const conditions = useLoad(
    () => client.get<Answer<"listBlendingConditions">>(`/api/v1/blending/conditions${q({ station: s.id })}`),
    [s.id, lang],
    30_000,
  );
  const open = orders.data?.orders.filter((o) => o.state !== "finished") ?? [];
  const lowHoppers = new Set((conditions.data?.conditions ?? []).filter((c) => c.type === "hopper_low").map((c) => `${c.machineId}:${c.material}`));

  return (
    <section class="station" aria-labelledby={`st-${s.id}`}>
      <h2 id={`st-${s.id}`}>
        {s.name} <span class="muted">({s.id})</span>
      </h2>
      {(conditions.data?.conditions.length ?? 0) > 0 && (
        <ul class="conditions" aria-label={t("stations.conditions")}>
          {conditions.data?.conditions.map((c) => (
            <li key={`${c.type}-${c.machineId ?? ""}-${c.orderId ?? ""}-${c.detail}`}>
              <Badge tone={c.type === "out_of_tolerance" || c.type === "offline" ? "bad" : "warn"}>{t(`cond.${c.type}` as never)}</Badge>{" "}
              {c.machineId ?? c.orderId} — {c.detail}
            </li>
          ))}
        </ul>
      )}

      <h3>{t("stations.machines")}</h3>
      <ErrorNote error={machines.error} />
      <div class="cards">
        {machines.data?.map((m) => (
          <article class="card" key={m.id} aria-label={`${t("stations.machine")} ${m.id}`}>
            <h4>
              {m.name ?? m.id} <span class="muted">{m.name ? m.id : ""}</span>
            </h4>
            <p>
              <Badge tone={m.online ? "ok" : "bad"}>{m.online ? t("online") : t("offline")}</Badge>{" "}
              {m.latest && (
                <Badge tone={m.latest.state === "fault" ? "bad" : m.latest.state === "running" ? "ok" : "muted"}>
                  {t(`machine.${m.latest.state}` as never)}
                </Badge>
              )}
              <span class="muted">
                {" "}
                {t("lastSeen")}: {formatTime(m.lastSeen)}
              </span>
            </p>
            {m.latest && (
              <table class="compact">
                <caption>{t("stations.hoppers")}</caption>
                <thead>
                  <tr>
                    <th scope="col">{t("material")}</th>
                    <th scope="col" class="num">
                      kg
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {Object.entries(m.latest.hopperKg).map(([code, kg]) => {
                    const low = lowHoppers.has(`${m.id}:${code}`);
                    return (
                      <tr key={code} class={low ? "bad-row" : undefined}>
                        <td title={code}>{materialName(code)}</td>
                        <td class="num">
                          {formatNumber(lang, kg, 0)} {low && <Badge tone="warn">{t("cond.hopper_low")}</Badge>}
                        </td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            )}
          </article>
        ))}
      </div>
      {machines.data?.length === 0 && <p class="muted">{t("stations.noMachines")}</p>}

      <h3>{t("stations.orders")}</h3>
      <ErrorNote error={orders.error} />
      {orders.data && open.length === 0 && <p class="muted">{t("stations.noOrders")}</p>}
      {open.map((o) => (
        <OrderView
          materialName={materialName}
          key={o.id}
          order={o}
          progress={props.progress.get(o.id) ?? null}
          machines={machines.data ?? []}
          onChange={() => void orders.reload()}
        />
      ))}
    </section>
  );
}

function OrderView(props: { order: Order; progress: Progress | null; machines: Machine[]; onChange: () => void; materialName: MaterialName }) {
  const { client, t, lang } = useSession();
  const o = props.order;
  // Until the stream speaks about this order (an order created after the page opened), ask once.
  const asked = useLoad(
    () => (props.progress ? Promise.resolve(null) : client.get<Answer<"getOrder">>(`/api/v1/orders/${encodeURIComponent(o.id)}`)),
    [o.id],
  );
  const progress = props.progress ?? asked.data;
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [picked, setMachineId] = useState("");
  // The machines load after the order: until the operator picks one, offer the order's own or the first.
  const machineId = picked || o.machineId || props.machines[0]?.id || "";
  const [showBatches, setShowBatches] = useState(false);

  const act = async (action: "start" | "pause") => {
    setBusy(true);
    setError(null);
    try {
      await client.post(`/api/v1/orders/${encodeURIComponent(o.id)}/${action}`, action === "start" ? { machineId } : {});
      props.onChange();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const pct = progress ? Math.min(100, progress.progressPct) : 0;
  const late = progress?.onSchedule === false;
  return (
    <article class="card order" aria-labelledby={`order-${o.id}`}>
      <h4 id={`order-${o.id}`}>
        {o.customer} · {o.crop} <span class="muted">({o.id})</span>{" "}
        <Badge tone={o.state === "running" ? "ok" : o.state === "paused" ? "warn" : "muted"}>{t(`order.${o.state}` as never)}</Badge>
      </h4>
      <div
        class="progress"
        role="progressbar"
        aria-label={t("order.progress")}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={Math.round(pct * 10) / 10}
        aria-valuetext={progress ? `${formatNumber(lang, progress.progressPct)} %` : t("loading")}
      >
        <div class="bar" style={{ width: `${pct}%` }} />
      </div>
      {progress ? (
        <dl class="facts">
          <div>
            <dt>{t("order.produced")}</dt>
            <dd data-testid="produced">
              {formatNumber(lang, progress.producedT)} / {formatNumber(lang, progress.targetT)} t ({formatNumber(lang, progress.progressPct)} %)
            </dd>
          </div>
          <div>
            <dt>{t("order.rate")}</dt>
            <dd>
              {formatNumber(lang, progress.rateTPerHour)} t/h · {formatNumber(lang, progress.rateTPerDay)} t/{t("day")}
            </dd>
          </div>
          <div>
            <dt>{t("order.eta")}</dt>
            <dd>
              {progress.eta ? formatTime(progress.eta) : "—"} · {t("order.due")} {o.dueDate}{" "}
              {progress.onSchedule !== null && <Badge tone={late ? "bad" : "ok"}>{late ? t("order.late") : t("order.onTime")}</Badge>}
            </dd>
          </div>
          <div>
            <dt>{t("order.batches")}</dt>
            <dd>
              {progress.batches} · {progress.bags} {t("bags")}
            </dd>
          </div>
        </dl>
      ) : (
        <Loading when />
      )}
      <div class="actions">
        {o.state !== "running" && (
          <>
            <label for={`machine-${o.id}`}>{t("order.machine")}</label>
            <select id={`machine-${o.id}`} value={machineId} onChange={(e) => setMachineId((e.currentTarget as HTMLSelectElement).value)}>
              {props.machines.map((m) => (
                <option key={m.id} value={m.id}>
                  {m.name ?? m.id}
                </option>
              ))}
            </select>
            <button type="button" disabled={busy || !machineId} onClick={() => void act("start")}>
              {o.state === "paused" ? t("order.resume") : t("order.start")}
            </button>
          </>
        )}
        {o.state === "running" && (
          <button type="button" class="secondary" disabled={busy} onClick={() => void act("pause")}>
            {t("order.pause")}
          </button>
        )}
        <button type="button" class="link" aria-expanded={showBatches} onClick={() => setShowBatches(!showBatches)}>
          {t("order.recentBatches")}
        </button>
      </div>
      <ErrorNote error={error} />
      {showBatches && <Batches orderId={o.id} version={progress?.batches ?? 0} materialName={props.materialName} />}
    </article>
  );
}

function Batches(props: { orderId: string; version: number; materialName: MaterialName }) {
  const { client, t, lang } = useSession();
  const batches = useLoad(
    () => client.get<Answer<"listOrderBatches">>(`/api/v1/orders/${encodeURIComponent(props.orderId)}/batches`),
    [props.orderId, props.version],
  );
  const recent = [...(batches.data?.batches ?? [])].sort((a, b) => (b.startedAt ?? "").localeCompare(a.startedAt ?? "")).slice(0, 10);
  return (
    <>
      <ErrorNote error={batches.error} />
      <TableWrap label={t("order.recentBatches")}>
        <table>
          <thead>
            <tr>
              <th scope="col">{t("batch.id")}</th>
              <th scope="col">{t("batch.ended")}</th>
              <th scope="col">{t("batch.state")}</th>
              <th scope="col">{t("batch.deviation")}</th>
            </tr>
          </thead>
          <tbody>
            {recent.map((b) => (
              <tr key={`${b.machineId}-${b.batchId}`} class={b.inTolerance === false ? "bad-row" : undefined}>
                <td>{b.batchId}</td>
                <td>{formatTime(b.endedAt ?? b.startedAt)}</td>
                <td>
                  {b.inTolerance === false ? (
                    <Badge tone="bad">{t("batch.outOfTolerance")}</Badge>
                  ) : b.inTolerance ? (
                    <Badge tone="ok">{t("batch.inTolerance")}</Badge>
                  ) : (
                    t(`batch.${b.state}` as never)
                  )}
                </td>
                <td>
                  {b.deviation
                    ? Object.entries(b.deviation).map(([code, d]) => (
                        <span key={code} class={d.ok ? "dev" : "dev bad"} title={code}>
                          {props.materialName(code)} {d.kg > 0 ? "+" : ""}
                          {formatNumber(lang, d.kg, 1)} kg{" "}
                        </span>
                      ))
                    : "—"}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </TableWrap>
    </>
  );
}
