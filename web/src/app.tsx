import { useEffect, useLayoutEffect, useMemo, useState } from "preact/hooks";
import { AlertingPage, AuditPage, ClaimsPage, DevicesPage, KeysPage, PasswordForm, UsersPage } from "./admin";
import { AlertsPage } from "./alerts";
import { createClient, type Me, type Role, signIn, whoAmI } from "./api";
import { ControlPage } from "./control";
import { FiguresPage } from "./figures";
import { FinancePage } from "./finance";
import { type Key, type Lang, translate } from "./i18n";
import { LightPage } from "./light";
import { MapPage } from "./map";
import { StationsPage } from "./stations";
import { errorText, type Session, SessionContext, useSession } from "./ui";
import { VisitsPage } from "./visits";
import { WorkPage } from "./work";

type Page =
  | "work"
  | "visits"
  | "figures"
  | "stations"
  | "alerts"
  | "map"
  | "control"
  | "light"
  | "finance"
  | "devices"
  | "alerting"
  | "claims"
  | "users"
  | "keys"
  | "audit"
  | "password";
/** What each role is shown; the API enforces the same, this only keeps the menu honest. */
const PAGES: Record<Role, Page[]> = {
  admin: ["stations", "alerts", "work", "figures", "map", "control", "finance", "visits", "devices", "alerting", "claims", "users", "keys", "audit"],
  operator: ["stations", "alerts"],
  technician: ["alerts", "work", "figures", "map", "control"],
  finance: ["finance", "visits"],
  // (a Prometheus key: nothing to show, and it does not sign in here)
  metrics: [],
};
const NAV_LABEL: Record<Exclude<Page, "light" | "password">, Key> = {
  work: "nav.work",
  visits: "nav.visits",
  figures: "nav.figures",
  stations: "nav.stations",
  alerts: "nav.alerts",
  map: "nav.map",
  control: "nav.control",
  finance: "nav.finance",
  devices: "nav.devices",
  alerting: "nav.alerting",
  claims: "nav.claims",
  users: "nav.users",
  keys: "nav.keys",
  audit: "nav.audit",
};

/** Set while this browser has signed in (the cookie itself is HttpOnly): a fresh browser does not ask /me just to hear 401. */
const SIGNED_IN = "agrilume.signedIn";
const LANG_STORE = "agrilume.lang";

function parseHash(): { page: string; arg: string } {
  const [, page = "", arg = ""] = window.location.hash.replace(/^#/, "").split("/");
  return { page, arg: decodeURIComponent(arg) };
}

function useHash() {
  const [hash, setHash] = useState(parseHash());
  useEffect(() => {
    const on = () => setHash(parseHash());
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  return hash;
}

export function App() {
  const [lang, setLang] = useState<Lang>(() => (localStorage.getItem(LANG_STORE) === "en" ? "en" : "zh"));
  const [me, setMe] = useState<Me | null>(null);
  const [checking, setChecking] = useState(() => localStorage.getItem(SIGNED_IN) === "1");
  const t = useMemo(() => (k: Key, vars?: Record<string, string | number>) => translate(lang, k, vars), [lang]);

  // Before the browser paints, so the page is never read in one language with the other's lang attribute.
  useLayoutEffect(() => {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    document.title = t("app.title");
    localStorage.setItem(LANG_STORE, lang);
  }, [lang, t]);

  // A session kept by the browser (the cookie, which scripts cannot read): ask who it is.
  useEffect(() => {
    if (!checking) return;
    whoAmI()
      .then(setMe, () => signedOut())
      .finally(() => setChecking(false));
  }, []);
  const signedOut = () => {
    localStorage.removeItem(SIGNED_IN);
    setMe(null);
  };

  const langRef = useMemo(() => ({ current: lang }), []);
  langRef.current = lang;
  const csrf = me?.csrfToken ?? null;
  const client = useMemo(() => (csrf ? createClient(csrf, () => langRef.current, signedOut) : null), [csrf, langRef]);
  const signOut = () => {
    void client
      ?.del("/api/v1/session")
      .catch(() => undefined)
      .finally(signedOut);
  };

  const langSwitch = (
    <button type="button" class="link" onClick={() => setLang(lang === "zh" ? "en" : "zh")} lang={lang === "zh" ? "en" : "zh-CN"}>
      {lang === "zh" ? "English" : "中文"}
    </button>
  );

  if (!client || !me || me.mustChangePassword) {
    return (
      <>
        <header class="top">
          <span class="brand">Agrilume</span>
          {langSwitch}
          {client && me ? (
            <button type="button" class="link" onClick={signOut}>
              {t("signOut")}
            </button>
          ) : null}
        </header>
        <main id="main">
          {checking ? null : client && me ? (
            <SessionContext.Provider value={{ client, me, lang, t }}>
              <PasswordForm forced onChanged={() => whoAmI().then(setMe, signedOut)} />
            </SessionContext.Provider>
          ) : (
            <SignIn
              t={t}
              lang={lang}
              onSignedIn={(m) => {
                localStorage.setItem(SIGNED_IN, "1");
                setMe(m);
              }}
            />
          )}
        </main>
      </>
    );
  }
  const session: Session = { client, me, lang, t };
  return (
    <SessionContext.Provider value={session}>
      <Shell langSwitch={langSwitch} onSignOut={signOut} />
    </SessionContext.Provider>
  );
}

function Shell(props: { langSwitch: preact.ComponentChildren; onSignOut: () => void }) {
  const { me, t } = useSession();
  const { page, arg } = useHash();
  const allowed = PAGES[me.role];
  const current: Page =
    page === "lights" && allowed.includes("map")
      ? "light"
      : page === "password"
        ? "password"
        : allowed.includes(page as Page)
          ? (page as Page)
          : (allowed[0] ?? "password");
  useEffect(() => {
    if (current !== "light" && page !== current) window.location.replace(`#/${current}`);
  }, [current, page]);

  return (
    <>
      <button type="button" class="skip" onClick={() => document.getElementById("main")?.focus()}>
        {t("skip")}
      </button>
      <header class="top">
        <span class="brand">Agrilume</span>
        <nav aria-label={t("nav.label")}>
          <ul>
            {allowed.map((p) => (
              <li key={p}>
                <a href={`#/${p}`} aria-current={current === p || (current === "light" && p === "map") ? "page" : undefined}>
                  {t(NAV_LABEL[p as keyof typeof NAV_LABEL])}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <span class="who">
          <span class="muted">
            {me.name} · {t(`role.${me.role}` as Key)}
            {me.towns ? ` · ${me.towns.join("、")}` : ""}
            {me.stations ? ` · ${me.stations.join("、")}` : ""}
          </span>
          {props.langSwitch}
          <a href="#/password" class="link" aria-current={current === "password" ? "page" : undefined}>
            {t("password.link")}
          </a>
          <button type="button" class="link" onClick={props.onSignOut}>
            {t("signOut")}
          </button>
        </span>
      </header>
      <main id="main" tabIndex={-1}>
        {current === "stations" && <StationsPage />}
        {current === "alerts" && <AlertsPage />}
        {current === "work" && <WorkPage />}
        {current === "visits" && <VisitsPage />}
        {current === "figures" && <FiguresPage />}
        {current === "map" && <MapPage />}
        {current === "control" && <ControlPage />}
        {current === "light" && <LightPage id={arg} />}
        {current === "finance" && <FinancePage />}
        {current === "devices" && <DevicesPage />}
        {current === "alerting" && <AlertingPage />}
        {current === "claims" && <ClaimsPage />}
        {current === "users" && <UsersPage />}
        {current === "keys" && <KeysPage />}
        {current === "audit" && <AuditPage />}
        {current === "password" && <PasswordForm forced={false} onChanged={() => undefined} />}
      </main>
    </>
  );
}

function SignIn(props: { t: Session["t"]; lang: Lang; onSignedIn: (me: Me) => void }) {
  const { t } = props;
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget as HTMLFormElement);
    const name = String(form.get("name") ?? "").trim();
    const password = String(form.get("password") ?? "");
    if (!name || !password) return setError(t("signIn.empty"));
    setBusy(true);
    setError(null);
    try {
      await signIn(name, password, props.lang);
      props.onSignedIn(await whoAmI());
    } catch (err) {
      setError(errorText(t, err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="card signin" onSubmit={submit} aria-labelledby="signin-title">
      <h1 id="signin-title">{t("signIn.title")}</h1>
      <p class="muted">{t("signIn.help")}</p>
      <label for="name">{t("signIn.name")}</label>
      <input id="name" name="name" autocomplete="username" spellcheck={false} required />
      <label for="password">{t("signIn.password")}</label>
      <input
        id="password"
        name="password"
        type="password"
        autocomplete="current-password"
        required
        aria-describedby={error ? "signin-error" : undefined}
      />
      {error && (
        <p id="signin-error" class="error" role="alert">
          {error}
        </p>
      )}
      <button type="submit" disabled={busy}>
        {t("signIn.submit")}
      </button>
    </form>
  );
}
