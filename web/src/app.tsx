import { useEffect, useLayoutEffect, useMemo, useState } from "preact/hooks";
import { AlertsPage } from "./alerts";
import { createClient, type Me, type Role, whoIs } from "./api";
import { FinancePage } from "./finance";
import { type Key, type Lang, translate } from "./i18n";
import { LightPage } from "./light";
import { MapPage } from "./map";
import { StationsPage } from "./stations";
import { errorText, type Session, SessionContext, useSession } from "./ui";

type Page = "stations" | "alerts" | "map" | "light" | "finance";
/** What each role is shown; the API enforces the same, this only keeps the menu honest. */
const PAGES: Record<Role, Page[]> = {
  admin: ["stations", "alerts", "map", "finance"],
  operator: ["stations", "alerts"],
  technician: ["alerts", "map"],
  finance: ["finance"],
};
const NAV_LABEL: Record<Exclude<Page, "light">, Key> = { stations: "nav.stations", alerts: "nav.alerts", map: "nav.map", finance: "nav.finance" };

const KEY_STORE = "agrilume.key";
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
  const [key, setKey] = useState<string | null>(() => sessionStorage.getItem(KEY_STORE));
  const [me, setMe] = useState<Me | null>(null);
  const [checking, setChecking] = useState(!!key);
  const t = useMemo(() => (k: Key, vars?: Record<string, string | number>) => translate(lang, k, vars), [lang]);

  // Before the browser paints, so the page is never read in one language with the other's lang attribute.
  useLayoutEffect(() => {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    document.title = t("app.title");
    localStorage.setItem(LANG_STORE, lang);
  }, [lang, t]);

  const signOut = () => {
    sessionStorage.removeItem(KEY_STORE);
    setKey(null);
    setMe(null);
  };
  // A key kept from earlier in this browser tab: check it is still good.
  useEffect(() => {
    if (!key || me) return;
    whoIs(key)
      .then(setMe, signOut)
      .finally(() => setChecking(false));
  }, [key, me]);

  const langRef = useMemo(() => ({ current: lang }), []);
  langRef.current = lang;
  const client = useMemo(() => (key ? createClient(key, () => langRef.current, signOut) : null), [key, langRef]);

  const langSwitch = (
    <button type="button" class="link" onClick={() => setLang(lang === "zh" ? "en" : "zh")} lang={lang === "zh" ? "en" : "zh-CN"}>
      {lang === "zh" ? "English" : "中文"}
    </button>
  );

  if (!client || !me) {
    return (
      <>
        <header class="top">
          <span class="brand">Agrilume</span>
          {langSwitch}
        </header>
        <main id="main">
          {checking ? null : (
            <SignIn
              t={t}
              onSignedIn={(k, m) => {
                sessionStorage.setItem(KEY_STORE, k);
                setKey(k);
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
    page === "lights" && allowed.includes("map") ? "light" : allowed.includes(page as Page) ? (page as Page) : (allowed[0] ?? "alerts");
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
                  {t(NAV_LABEL[p as Exclude<Page, "light">])}
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
          <button type="button" class="link" onClick={props.onSignOut}>
            {t("signOut")}
          </button>
        </span>
      </header>
      <main id="main" tabIndex={-1}>
        {current === "stations" && <StationsPage />}
        {current === "alerts" && <AlertsPage />}
        {current === "map" && <MapPage />}
        {current === "light" && <LightPage id={arg} />}
        {current === "finance" && <FinancePage />}
      </main>
    </>
  );
}

function SignIn(props: { t: Session["t"]; onSignedIn: (key: string, me: Me) => void }) {
  const { t } = props;
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const key = String(new FormData(e.currentTarget as HTMLFormElement).get("key") ?? "").trim();
    if (!key) return setError(t("signIn.empty"));
    setBusy(true);
    setError(null);
    try {
      props.onSignedIn(key, await whoIs(key));
    } catch (err) {
      setError(err instanceof Error && "code" in err && err.code === "unauthorized" ? t("signIn.bad") : errorText(t, err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="card signin" onSubmit={submit} aria-labelledby="signin-title">
      <h1 id="signin-title">{t("signIn.title")}</h1>
      <p class="muted">{t("signIn.help")}</p>
      <label for="key">{t("signIn.key")}</label>
      <input
        id="key"
        name="key"
        type="password"
        autocomplete="off"
        spellcheck={false}
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
