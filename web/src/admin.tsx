import { useState } from "preact/hooks";
import { type Answer, q, type Role, type Schemas } from "./api";
import type { Key } from "./i18n";
import { Badge, ErrorNote, errorText, formatTime, ListTable, TableWrap, useLoad, useSession } from "./ui";

type User = Schemas["User"];
const ROLES: Role[] = ["admin", "operator", "technician", "finance", "metrics"];
/** "来苏镇, 朱沱镇" (or 、 or ，) → a list, or undefined when empty. */
const places = (s: string) => {
  const list = s
    .split(/[,，、\s]+/)
    .map((x) => x.trim())
    .filter(Boolean);
  return list.length ? list : undefined;
};
const scope = (x: { towns: string[] | null; stations: string[] | null }) => [...(x.towns ?? []), ...(x.stations ?? [])].join("、") || "—";

/** A secret shown once (a one-time password, a new key), with the words saying so. */
function ShownOnce(props: { label: string; value: string }) {
  const { t } = useSession();
  return (
    <div class="card" role="status">
      <p>{t("admin.shownOnce")}</p>
      <p>
        {props.label}: <code>{props.value}</code>
      </p>
    </div>
  );
}

/** Changing one's own password; `forced` when a password someone else set must be changed before anything else. */
export function PasswordForm(props: { forced: boolean; onChanged: () => void }) {
  const { client, t } = useSession();
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState(false);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    const next = String(data.get("newPassword") ?? "");
    if (next !== String(data.get("again") ?? "")) return setError(t("password.mismatch"));
    setBusy(true);
    setError(null);
    try {
      await client.post("/api/v1/me/password", { currentPassword: String(data.get("currentPassword") ?? ""), newPassword: next });
      form.reset();
      setDone(true);
      props.onChanged();
    } catch (err) {
      setError(errorText(t, err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="card signin" onSubmit={submit} aria-labelledby="password-title">
      <h1 id="password-title">{t("password.title")}</h1>
      {props.forced && <p>{t("password.forced")}</p>}
      <label for="currentPassword">{t("password.current")}</label>
      <input id="currentPassword" name="currentPassword" type="password" autocomplete="current-password" required />
      <label for="newPassword">{t("password.new")}</label>
      <input id="newPassword" name="newPassword" type="password" autocomplete="new-password" minLength={10} maxLength={200} required />
      <label for="again">{t("password.again")}</label>
      <input id="again" name="again" type="password" autocomplete="new-password" minLength={10} maxLength={200} required />
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {done && !props.forced && <p role="status">{t("password.done")}</p>}
      <button type="submit" disabled={busy}>
        {t("password.submit")}
      </button>
    </form>
  );
}
/** Admin: people's accounts. */
export function UsersPage() {
  const { client, t, me } = useSession();
  const list = useLoad(() => client.get<Answer<"listUsers">>("/api/v1/users"), []);
  const [error, setError] = useState<unknown>(null);
  const [shown, setShown] = useState<{ name: string; password: string } | null>(null);
  const act = async (fn: () => Promise<unknown>) => {
    setError(null);
    try {
      await fn();
      await list.reload();
    } catch (err) {
      setError(err);
    }
  };
  const create = async (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    await act(async () => {
      const made = await client.post<Answer<"createUser", 201>>("/api/v1/users", {
        name: String(data.get("name") ?? "").trim(),
        role: String(data.get("role")),
        towns: places(String(data.get("towns") ?? "")),
        stations: places(String(data.get("stations") ?? "")),
      });
      if (made.password) setShown({ name: made.user.name, password: made.password });
      form.reset();
    });
  };
  const reset = (u: User) =>
    act(async () => {
      const r = await client.post<Answer<"resetUserPassword">>(`/api/v1/users/${encodeURIComponent(u.id)}/password`, {});
      if (r.password) setShown({ name: u.name, password: r.password });
    });
  return (
    <>
      <h1>{t("users.title")}</h1>
      <form class="card filters" onSubmit={create} aria-label={t("users.create")}>
        <label>
          {t("users.name")}
          <input name="name" required maxLength={100} autocomplete="off" />
        </label>
        <RoleAndScope roles={ROLES.filter((r) => r !== "metrics")} />
        <button type="submit">{t("users.create")}</button>
      </form>
      {shown && <ShownOnce label={t("users.oneTimePassword", { name: shown.name })} value={shown.password} />}
      <ErrorNote error={error} />
      <ListTable
        res={list}
        label={t("users.title")}
        columns={[t("users.name"), t("users.role"), t("users.scope"), t("users.state"), t("users.actions")]}
      >
        {(list.data?.users ?? []).map((u) => (
          <tr key={u.id}>
            <th scope="row">{u.name}</th>
            <td>{t(`role.${u.role}` as Key)}</td>
            <td>{scope(u)}</td>
            <td>
              {u.disabled ? <Badge tone="muted">{t("users.disabled")}</Badge> : <Badge tone="ok">{t("users.active")}</Badge>}{" "}
              {u.mustChangePassword && <Badge tone="warn">{t("users.mustChange")}</Badge>}
            </td>
            <td>
              <div class="actions">
                {u.name !== me.name && (
                  <button
                    type="button"
                    class="secondary"
                    onClick={() => act(() => client.patch(`/api/v1/users/${encodeURIComponent(u.id)}`, { disabled: !u.disabled }))}
                  >
                    {t(u.disabled ? "users.enable" : "users.disable")} <span class="sr-only">{u.name}</span>
                  </button>
                )}
                <button type="button" class="secondary" onClick={() => reset(u)}>
                  {t("users.reset")} <span class="sr-only">{u.name}</span>
                </button>
                {u.name !== me.name && (
                  <button
                    type="button"
                    class="secondary"
                    onClick={() =>
                      window.confirm(t("users.confirmDelete", { name: u.name })) && act(() => client.del(`/api/v1/users/${encodeURIComponent(u.id)}`))
                    }
                  >
                    {t("users.delete")} <span class="sr-only">{u.name}</span>
                  </button>
                )}
              </div>
            </td>
          </tr>
        ))}
      </ListTable>
    </>
  );
}

/** Admin: API keys for machines and integrations (a Prometheus scrape job gets a `metrics` key). */
export function KeysPage() {
  const { client, t } = useSession();
  const list = useLoad(() => client.get<Answer<"listKeys">>("/api/v1/keys"), []);
  const [error, setError] = useState<unknown>(null);
  const [shown, setShown] = useState<{ name: string; key: string } | null>(null);
  const create = async (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    setError(null);
    try {
      const name = String(data.get("name") ?? "").trim();
      const made = await client.post<Answer<"createKey", 201>>("/api/v1/keys", {
        name,
        role: String(data.get("role")),
        towns: places(String(data.get("towns") ?? "")),
        stations: places(String(data.get("stations") ?? "")),
      });
      setShown({ name, key: made.key });
      form.reset();
      await list.reload();
    } catch (err) {
      setError(err);
    }
  };
  const revoke = async (id: string) => {
    setError(null);
    try {
      await client.del(`/api/v1/keys/${encodeURIComponent(id)}`);
      await list.reload();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <>
      <h1>{t("keys.title")}</h1>
      <p class="muted">{t("keys.help")}</p>
      <form class="card filters" onSubmit={create} aria-label={t("keys.create")}>
        <label>
          {t("keys.name")}
          <input name="name" required maxLength={100} autocomplete="off" />
        </label>
        <RoleAndScope roles={ROLES} />
        <button type="submit">{t("keys.create")}</button>
      </form>
      {shown && <ShownOnce label={t("keys.newKey", { name: shown.name })} value={shown.key} />}
      <ErrorNote error={error} />
      <ListTable
        res={list}
        label={t("keys.title")}
        columns={[t("keys.name"), t("users.role"), t("users.scope"), t("keys.created"), t("users.actions")]}
      >
        {(list.data?.keys ?? []).map((k) => (
          <tr key={k.id}>
            <th scope="row">{k.name}</th>
            <td>{t(`role.${k.role}` as Key)}</td>
            <td>{scope(k)}</td>
            <td>{formatTime(k.createdAt)}</td>
            <td>
              <button type="button" class="secondary" onClick={() => window.confirm(t("keys.confirmRevoke", { name: k.name })) && revoke(k.id)}>
                {t("keys.revoke")} <span class="sr-only">{k.name}</span>
              </button>
            </td>
          </tr>
        ))}
      </ListTable>
    </>
  );
}

/** Admin: the audit log, newest first, filtered by who and by route. */
export function AuditPage() {
  const { client, t } = useSession();
  const [actor, setActor] = useState("");
  const [route, setRoute] = useState("");
  const log = useLoad(() => client.get<Answer<"listAudit">>(`/api/v1/audit${q({ actor, route, limit: 200 })}`), [actor, route]);
  return (
    <>
      <h1>{t("audit.title")}</h1>
      <form
        class="filters"
        aria-label={t("filters")}
        onSubmit={(e) => {
          e.preventDefault();
          const data = new FormData(e.currentTarget as HTMLFormElement);
          setActor(String(data.get("actor") ?? "").trim());
          setRoute(String(data.get("route") ?? "").trim());
        }}
      >
        <label>
          {t("audit.actor")}
          <input name="actor" autocomplete="off" />
        </label>
        <label>
          {t("audit.route")}
          <input name="route" autocomplete="off" placeholder="/api/v1/devices" />
        </label>
        <button type="submit">{t("audit.filter")}</button>
      </form>
      <ListTable
        res={log}
        label={t("audit.title")}
        empty={log.data && log.data.entries.length === 0 ? t("audit.none") : null}
        columns={[t("audit.at"), t("audit.actor"), t("audit.what"), t("audit.object"), t("audit.status"), t("audit.ip")]}
      >
        {(log.data?.entries ?? []).map((e) => (
          <tr key={e.id}>
            <td>{formatTime(e.at)}</td>
            <td>
              {e.actor.name ?? "—"}
              {e.actor.kind && <span class="muted"> ({t(e.actor.kind === "key" ? "audit.key" : "audit.user")})</span>}
            </td>
            <td>
              <code>
                {e.method} {e.route}
              </code>
            </td>
            <td>{e.objectId ?? "—"}</td>
            <td>
              <Badge tone={e.status < 400 ? "ok" : "bad"}>{e.status}</Badge>
            </td>
            <td>{e.ip ?? "—"}</td>
          </tr>
        ))}
      </ListTable>
    </>
  );
}

type Device = Schemas["Device"];
type Credentials = Schemas["DeviceCredentials"];

/** Admin: devices: register one streetlight or import many from CSV, disable or enable, rotate a secret. */
export function DevicesPage() {
  const { client, t } = useSession();
  const [offset, setOffset] = useState(0);
  const list = useLoad(() => client.get<Answer<"listDevices">>(`/api/v1/devices${q({ limit: 100, offset })}`), [offset]);
  const [error, setError] = useState<unknown>(null);
  const [shown, setShown] = useState<Credentials[]>([]);
  const act = async (fn: () => Promise<unknown>) => {
    setError(null);
    try {
      await fn();
      await list.reload();
    } catch (err) {
      setError(err);
    }
  };
  const register = (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    const num = (k: string) => (String(data.get(k) ?? "").trim() === "" ? undefined : Number(data.get(k)));
    const text = (k: string) => String(data.get(k) ?? "").trim() || undefined;
    return act(async () => {
      const made = await client.post<Credentials>("/api/v1/devices", {
        id: text("id"),
        family: "streetlight",
        town: text("town"),
        village: text("village"),
        lat: num("lat"),
        lon: num("lon"),
        lampW: num("lampW"),
      });
      setShown([made]);
      form.reset();
    });
  };
  const importCsv = (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const file = (form.elements.namedItem("file") as HTMLInputElement).files?.[0];
    if (!file) return;
    return act(async () => {
      // the file's bytes as they are: the service reads UTF-8 or GBK (file.text() would turn GBK into U+FFFD first)
      const made = await client.postText<Answer<"importDevices", 201>>("/api/v1/devices/import", file, "text/csv");
      setShown(made.devices);
      form.reset();
    });
  };
  const total = list.data?.total ?? 0;
  return (
    <>
      <h1>{t("devices.title")}</h1>
      <form class="card filters" onSubmit={register} aria-label={t("devices.register")}>
        <label>
          {t("devices.id")}
          <input name="id" required maxLength={64} autocomplete="off" />
        </label>
        <label>
          {t("town")}
          <input name="town" required autocomplete="off" />
        </label>
        <label>
          {t("village")}
          <input name="village" autocomplete="off" />
        </label>
        <label>
          {t("devices.lat")}
          <input name="lat" required inputMode="decimal" autocomplete="off" />
        </label>
        <label>
          {t("devices.lon")}
          <input name="lon" required inputMode="decimal" autocomplete="off" />
        </label>
        <label>
          {t("devices.lampW")}
          <input name="lampW" inputMode="decimal" autocomplete="off" />
        </label>
        <button type="submit">{t("devices.register")}</button>
      </form>
      <form class="card filters" onSubmit={importCsv} aria-label={t("devices.import")}>
        <label>
          {t("devices.csv")}
          <input name="file" type="file" accept=".csv,text/csv" required />
        </label>
        <button type="submit">{t("devices.import")}</button>
      </form>
      {shown.length > 0 && (
        <div class="card" role="status">
          <p>{t("admin.shownOnce")}</p>
          <TableWrap label={t("devices.secrets")}>
            <table>
              <thead>
                <tr>
                  <th scope="col">{t("devices.id")}</th>
                  <th scope="col">{t("devices.secret")}</th>
                </tr>
              </thead>
              <tbody>
                {shown.map((c) => (
                  <tr key={c.id}>
                    <th scope="row">{c.id}</th>
                    <td>
                      <code>{c.secret}</code>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
        </div>
      )}
      <ErrorNote error={error} />
      <ListTable res={list} label={t("devices.title")} columns={[t("devices.id"), t("devices.place"), t("users.state"), t("users.actions")]}>
        {(list.data?.devices ?? []).map((d: Device) => (
          <tr key={d.id}>
            <th scope="row">{d.id}</th>
            <td>{[d.town, d.village, d.station].filter(Boolean).join(" · ") || "—"}</td>
            <td>
              {d.disabled ? (
                <Badge tone="muted">{t("users.disabled")}</Badge>
              ) : (
                <Badge tone={d.online ? "ok" : "muted"}>{t(d.online ? "online" : "offline")}</Badge>
              )}
            </td>
            <td>
              <div class="actions">
                <button
                  type="button"
                  class="secondary"
                  onClick={() => act(() => client.post(`/api/v1/devices/${encodeURIComponent(d.id)}/${d.disabled ? "enable" : "disable"}`))}
                >
                  {t(d.disabled ? "users.enable" : "users.disable")} <span class="sr-only">{d.id}</span>
                </button>
                <button
                  type="button"
                  class="secondary"
                  onClick={() =>
                    window.confirm(t("devices.confirmRotate", { id: d.id })) &&
                    act(async () => setShown([await client.post<Credentials>(`/api/v1/devices/${encodeURIComponent(d.id)}/secret`)]))
                  }
                >
                  {t("devices.rotate")} <span class="sr-only">{d.id}</span>
                </button>
              </div>
            </td>
          </tr>
        ))}
      </ListTable>
      {total > 100 && (
        <nav class="actions" aria-label={t("pager")}>
          <button type="button" class="secondary" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - 100))}>
            {t("pager.prev")}
          </button>
          <span>{t("pager.of", { page: offset / 100 + 1, pages: Math.ceil(total / 100) })}</span>
          <button type="button" class="secondary" disabled={offset + 100 >= total} onClick={() => setOffset(offset + 100)}>
            {t("pager.next")}
          </button>
        </nav>
      )}
    </>
  );
}

const XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
const CHANNEL_TYPES = ["dingtalk", "wecom", "webhook", "mqtt"] as const;

/** Admin: where alerts go (channels) and when they do not (silences, maintenance windows). */
export function AlertingPage() {
  const { client, t } = useSession();
  const channels = useLoad(() => client.get<Answer<"listChannels">>("/api/v1/channels"), []);
  const silences = useLoad(() => client.get<Answer<"listSilences">>("/api/v1/silences"), []);
  const [error, setError] = useState<unknown>(null);
  const act = async (fn: () => Promise<unknown>) => {
    setError(null);
    try {
      await fn();
      await Promise.all([channels.reload(), silences.reload()]);
    } catch (err) {
      setError(err);
    }
  };
  const text = (data: FormData, k: string) => String(data.get(k) ?? "").trim() || undefined;
  const addChannel = (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    return act(async () => {
      await client.post("/api/v1/channels", {
        name: text(data, "name"),
        type: String(data.get("type")),
        url: text(data, "url"),
        secret: text(data, "secret"),
        towns: places(String(data.get("towns") ?? "")),
      });
      form.reset();
    });
  };
  const addSilence = (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    const hours = Number(data.get("hours") ?? 0);
    return act(async () => {
      await client.post("/api/v1/silences", {
        town: text(data, "town"),
        deviceId: text(data, "deviceId"),
        until: new Date(Date.now() + hours * 3_600_000).toISOString(),
        reason: text(data, "reason"),
      });
      form.reset();
    });
  };
  return (
    <>
      <h1>{t("alerting.title")}</h1>
      <ErrorNote error={error} />
      <h2>{t("alerting.channels")}</h2>
      <form class="card filters" onSubmit={addChannel} aria-label={t("alerting.addChannel")}>
        <label>
          {t("keys.name")}
          <input name="name" required maxLength={100} autocomplete="off" />
        </label>
        <label>
          {t("alerting.type")}
          <select name="type">
            {CHANNEL_TYPES.map((x) => (
              <option key={x} value={x}>
                {t(`alerting.type.${x}` as Key)}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t("alerting.url")}
          <input name="url" type="url" autocomplete="off" />
        </label>
        <label>
          {t("alerting.secret")}
          <input name="secret" type="password" autocomplete="off" />
        </label>
        <label>
          {t("users.towns")}
          <input name="towns" autocomplete="off" />
        </label>
        <button type="submit">{t("alerting.addChannel")}</button>
      </form>
      <ListTable res={channels} label={t("alerting.channels")} columns={[t("keys.name"), t("alerting.type"), t("users.scope"), t("users.actions")]}>
        {(channels.data?.channels ?? []).map((c) => (
          <tr key={c.id}>
            <th scope="row">{c.name}</th>
            <td>{t(`alerting.type.${c.type}` as Key)}</td>
            <td>{scope({ towns: c.towns ?? null, stations: c.stations ?? null })}</td>
            <td>
              <button
                type="button"
                class="secondary"
                onClick={() =>
                  window.confirm(t("alerting.confirmRemove", { name: c.name })) &&
                  act(() => client.del(`/api/v1/channels/${encodeURIComponent(c.id)}`))
                }
              >
                {t("alerting.remove")} <span class="sr-only">{c.name}</span>
              </button>
            </td>
          </tr>
        ))}
      </ListTable>

      <h2>{t("alerting.silences")}</h2>
      <form class="card filters" onSubmit={addSilence} aria-label={t("alerting.addSilence")}>
        <label>
          {t("town")}
          <input name="town" autocomplete="off" />
        </label>
        <label>
          {t("devices.id")}
          <input name="deviceId" autocomplete="off" />
        </label>
        <label>
          {t("alerting.hours")}
          <input name="hours" type="number" min={1} max={720} required defaultValue="4" />
        </label>
        <label>
          {t("alerting.reason")}
          <input name="reason" required maxLength={500} autocomplete="off" />
        </label>
        <button type="submit">{t("alerting.addSilence")}</button>
      </form>
      <ListTable
        res={silences}
        label={t("alerting.silences")}
        empty={silences.data && silences.data.silences.length === 0 ? t("alerting.noSilences") : null}
        columns={[t("alerting.what"), t("alerting.until"), t("alerting.reason"), t("alerting.by"), t("users.actions")]}
      >
        {(silences.data?.silences ?? []).map((x) => (
          <tr key={x.id}>
            <th scope="row">{[x.town, x.deviceId, x.type].filter(Boolean).join(" · ")}</th>
            <td>{formatTime(x.until)}</td>
            <td>{x.reason}</td>
            <td>{x.by}</td>
            <td>
              <button type="button" class="secondary" onClick={() => act(() => client.del(`/api/v1/silences/${encodeURIComponent(x.id)}`))}>
                {t("alerting.remove")} <span class="sr-only">{x.reason}</span>
              </button>
            </td>
          </tr>
        ))}
      </ListTable>
    </>
  );
}

/** Admin: the finance bureau's claims list (CSV or XLSX): all rows or none, each bad row said. */
export function ClaimsPage() {
  const { client, t } = useSession();
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState<Answer<"importProjects"> | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const file = (form.elements.namedItem("file") as HTMLInputElement).files?.[0];
    if (!file) return;
    setError(null);
    setDone(null);
    try {
      const xlsx = file.name.toLowerCase().endsWith(".xlsx");
      setDone(
        // the file's bytes as they are (a GBK CSV read as text here would reach the service as U+FFFD)
        await client.postText<Answer<"importProjects">>("/api/v1/projects/import", file, xlsx ? XLSX_TYPE : "text/csv"),
      );
      form.reset();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <>
      <h1>{t("claims.title")}</h1>
      <p class="muted">{t("claims.help")}</p>
      <form class="card filters" onSubmit={submit} aria-label={t("claims.import")}>
        <label>
          {t("claims.file")}
          <input name="file" type="file" accept=".csv,.xlsx,text/csv" required />
        </label>
        <button type="submit">{t("claims.import")}</button>
      </form>
      <ErrorNote error={error} />
      {done && (
        <p role="status">{t("claims.done", { projects: done.projects, created: done.created, updated: done.updated, unchanged: done.unchanged })}</p>
      )}
    </>
  );
}

/** The role and the towns and stations an account or a key is limited to (comma-separated; empty: no limit). */
function RoleAndScope({ roles }: { roles: readonly Role[] }) {
  const { t } = useSession();
  return (
    <>
      <label>
        {t("users.role")}
        <select name="role">
          {roles.map((r) => (
            <option key={r} value={r}>
              {t(`role.${r}` as Key)}
            </option>
          ))}
        </select>
      </label>
      <label>
        {t("users.towns")}
        <input name="towns" autocomplete="off" />
      </label>
      <label>
        {t("users.stations")}
        <input name="stations" autocomplete="off" />
      </label>
    </>
  );
}
