import type { ComponentChildren } from "preact";
import { createContext } from "preact";
import { useCallback, useContext, useEffect, useRef, useState } from "preact/hooks";
import { chinaTime } from "../../src/platform/clock.js";
import { ApiError, type Client, type Me } from "./api";
import type { Key, Lang } from "./i18n";

export type Session = { client: Client; me: Me; lang: Lang; t: (key: Key, vars?: Record<string, string | number>) => string };
export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error("no session");
  return s;
}

/** Loads on mount and when deps change; `every` reloads on a timer (machines report every 10 s). */
export function useLoad<T>(fn: () => Promise<T>, deps: unknown[], every?: number) {
  const [state, setState] = useState<{ data: T | null; error: unknown; loading: boolean }>({ data: null, error: null, loading: true });
  const fnRef = useRef(fn);
  fnRef.current = fn;
  const reload = useCallback(async () => {
    try {
      const data = await fnRef.current();
      setState({ data, error: null, loading: false });
    } catch (error) {
      setState((s) => ({ data: s.data, error, loading: false }));
    }
  }, []);
  useEffect(() => {
    setState((s) => ({ ...s, loading: true }));
    void reload();
    if (!every) return;
    const timer = setInterval(() => void reload(), every);
    return () => clearInterval(timer);
  }, deps);
  return { ...state, reload };
}

/** Listens to one Server-Sent Events type while mounted. */
export function useStream<T>(path: string | null, event: string, onData: (data: T) => void) {
  const { client, lang } = useSession();
  const cb = useRef(onData);
  cb.current = onData;
  useEffect(() => {
    if (!path) return;
    const es = client.stream(path);
    const listener = (e: MessageEvent<string>) => cb.current(JSON.parse(e.data) as T);
    es.addEventListener(event, listener as EventListener);
    return () => es.close();
  }, [path, event, client, lang]); // a stream's texts are in the language it was opened in
}

/** An error as the reader sees it: the API's own message (in the console's language), or a word of the console's. */
export function errorText(t: Session["t"], e: unknown): string {
  if (e instanceof ApiError && e.code === "network") return t("error.network");
  return (e instanceof ApiError && e.message) || t("error.generic");
}

export function ErrorNote(props: { error: unknown }) {
  const { t } = useSession();
  if (!props.error) return null;
  return (
    <p class="error" role="alert">
      {errorText(t, props.error)}
    </p>
  );
}

export function Loading(props: { when: boolean }) {
  const { t } = useSession();
  return props.when ? (
    <p class="muted" aria-live="polite">
      {t("loading")}
    </p>
  ) : null;
}

/** A status word with a colour that is never the only cue: the word itself is always shown. */
export function Badge(props: { tone: "ok" | "warn" | "bad" | "info" | "muted"; children: ComponentChildren; title?: string }) {
  return (
    <span class={`badge ${props.tone}`} title={props.title}>
      {props.children}
    </span>
  );
}

/** Tables scroll sideways on a phone instead of squeezing. */
export function TableWrap(props: { label: string; children: ComponentChildren }) {
  return (
    // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must be reachable by keyboard
    <section class="table-wrap" aria-label={props.label} tabIndex={0}>
      {props.children}
    </section>
  );
}

/**
 * A list loaded from the API as a table: the loading note, the error, what to say when it is empty, and the table with
 * its column heads; `children` are the rows.
 */
export function ListTable(props: {
  res: { loading: boolean; data: unknown; error: unknown };
  label: string;
  columns: string[];
  empty?: string | null | undefined;
  children: ComponentChildren;
}) {
  return (
    <>
      <Loading when={props.res.loading && !props.res.data} />
      <ErrorNote error={props.res.error} />
      {props.empty && <p class="muted">{props.empty}</p>}
      <TableWrap label={props.label}>
        <table>
          <thead>
            <tr>
              {props.columns.map((c) => (
                <th scope="col" key={c}>
                  {c}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>{props.children}</tbody>
        </table>
      </TableWrap>
    </>
  );
}

/** A time as people read it, in either language: China time, `YYYY-MM-DD HH:mm` (src/platform/clock.ts). */
export function formatTime(iso: string | number | null | undefined): string {
  if (iso === null || iso === undefined) return "—";
  const ms = new Date(iso).getTime();
  return Number.isNaN(ms) ? "—" : chinaTime(ms);
}
export function formatNumber(lang: Lang, n: number | null | undefined, digits = 1): string {
  if (n === null || n === undefined || Number.isNaN(n)) return "—";
  return new Intl.NumberFormat(lang === "zh" ? "zh-CN" : "en-GB", { maximumFractionDigits: digits }).format(n);
}
export function formatPct(lang: Lang, share: number | null | undefined): string {
  if (share === null || share === undefined) return "—";
  return `${formatNumber(lang, share * 100, 1)} %`;
}

/** The technician's condition words and colours; the map and the lists share them. */
export const CONDITION_TONE: Record<string, "ok" | "warn" | "bad" | "info" | "muted"> = {
  lit: "ok",
  off: "muted",
  dark: "bad",
  dim_mismatch: "warn",
  day_burner: "warn",
  energy_limited: "info",
  charge_fault: "bad",
  cycling: "warn",
  offline: "bad",
  moved: "warn",
};
export const CONDITION_COLOUR: Record<string, string> = {
  lit: "#2e7d32",
  off: "#757575",
  dark: "#c62828",
  dim_mismatch: "#ef6c00",
  day_burner: "#f9a825",
  energy_limited: "#1565c0",
  charge_fault: "#6a1b9a",
  cycling: "#ad1457",
  offline: "#000000",
  moved: "#00838f",
};

/** The town filter the alerts, map and finance pages share: "all" first, then the towns given. */
export function TownSelect(props: { value: string; towns: string[]; onChange: (town: string) => void }) {
  const { t } = useSession();
  return (
    <label>
      {t("town")}
      <select value={props.value} onChange={(e) => props.onChange((e.currentTarget as HTMLSelectElement).value)}>
        <option value="">{t("all")}</option>
        {props.towns.map((x) => (
          <option key={x} value={x}>
            {x}
          </option>
        ))}
      </select>
    </label>
  );
}
