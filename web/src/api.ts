/** The console's one way to the API: the session cookie (sent by the browser), the CSRF token on writes, errors as the API words them. */
import type { components, operations } from "./api-types";

/**
 * The API's shapes, generated from its OpenAPI document (`npm run api:types` writes api-types.d.ts): the console
 * writes none by hand, so a change to a route's answer that the console does not follow fails `tsc -p web`.
 */
export type Schemas = components["schemas"];
/** What an operation answers (by default: 200, as JSON; a live stream's events are its `text/event-stream` answer). */
export type Answer<
  Op extends keyof operations,
  Status extends number = 200,
  Media extends string = "application/json",
> = operations[Op]["responses"] extends { [S in Status]: { content: infer C } } ? (Media extends keyof C ? C[Media] : never) : never;
export type Me = Schemas["Me"];
export type Role = Me["role"];

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export type Client = {
  get<T>(path: string): Promise<T>;
  /** `headers`: extra ones (an `Idempotency-Key`, for an entry the phone may send again). */
  post<T>(path: string, body?: unknown, headers?: Record<string, string>): Promise<T>;
  patch<T>(path: string, body: unknown): Promise<T>;
  /** POST of a file as it is (a CSV or XLSX import). */
  postText<T>(path: string, body: string | Blob, type: string, headers?: Record<string, string>): Promise<T>;
  /** DELETE; answers nothing (204). */
  del(path: string): Promise<void>;
  /** Fetches a file and hands it to the browser as a download; returns the file name. */
  download(path: string): Promise<string>;
  /** A live stream (Server-Sent Events): the browser sends the session cookie; the language goes in the query. */
  stream(path: string): EventSource;
};

/** `csrf`: the session's CSRF token (from sign-in or /api/v1/me), sent on every write. */
export function createClient(csrf: string, lang: () => string, onUnauthorized: () => void): Client {
  const headers = (method: string) => ({
    "accept-language": lang() === "en" ? "en" : "zh-CN",
    ...(method === "GET" ? {} : { "x-csrf-token": csrf }),
  });
  const call = async (path: string, init: RequestInit = {}): Promise<Response> => {
    let res: Response;
    try {
      res = await fetch(path, {
        ...init,
        credentials: "same-origin",
        headers: { ...headers(init.method ?? "GET"), ...(init.headers as Record<string, string> | undefined) },
      });
    } catch {
      throw new ApiError(0, "network", "");
    }
    if (res.ok) return res;
    const body = (await res.json().catch(() => null)) as { error?: { code?: string; message?: string } } | null;
    if (res.status === 401) onUnauthorized();
    // The API words its errors in the console's language; without a body, the page says a generic word of its own.
    throw new ApiError(res.status, body?.error?.code ?? "http", body?.error?.message ?? "");
  };
  return {
    async get<T>(path: string) {
      return (await (await call(path)).json()) as T;
    },
    async post<T>(path: string, body: unknown = {}, extra: Record<string, string> = {}) {
      const res = await call(path, { method: "POST", body: JSON.stringify(body), headers: { ...extra, "content-type": "application/json" } });
      return (res.status === 204 ? undefined : await res.json()) as T;
    },
    async postText<T>(path: string, body: string | Blob, type: string, extra: Record<string, string> = {}) {
      const res = await call(path, { method: "POST", body, headers: { ...extra, "content-type": type } });
      return (await res.json()) as T;
    },
    async patch<T>(path: string, body: unknown) {
      const res = await call(path, { method: "PATCH", body: JSON.stringify(body), headers: { "content-type": "application/json" } });
      return (await res.json()) as T;
    },
    async del(path: string) {
      await call(path, { method: "DELETE" });
    },
    async download(path: string) {
      const res = await call(path);
      const disposition = res.headers.get("content-disposition") ?? "";
      const star = /filename\*=UTF-8''([^;]+)/i.exec(disposition)?.[1];
      const plain = /filename="([^"]+)"/i.exec(disposition)?.[1];
      const name = star ? decodeURIComponent(star) : (plain ?? "download");
      const url = URL.createObjectURL(await res.blob());
      const a = document.createElement("a");
      a.href = url;
      a.download = name;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      return name;
    },
    stream(path: string) {
      // (the language: EventSource sends the browser's Accept-Language, not the console's; no key: the cookie authenticates)
      return new EventSource(`${path}${path.includes("?") ? "&" : "?"}lang=${lang() === "en" ? "en" : "zh"}`);
    },
  };
}

/** Who this browser's session is (the cookie survives a reload); 401 when nobody is signed in. */
export async function whoAmI(): Promise<Me> {
  const res = await fetch("/api/v1/me", { credentials: "same-origin" }).catch(() => null);
  if (!res) throw new ApiError(0, "network", "");
  if (!res.ok) throw new ApiError(res.status, res.status === 401 ? "unauthorized" : "http", "");
  return (await res.json()) as Me;
}

/** Signs in with user name and password: the service sets the session cookie. */
export async function signIn(name: string, password: string, lang: string): Promise<void> {
  const res = await fetch("/api/v1/session", {
    method: "POST",
    credentials: "same-origin",
    headers: { "content-type": "application/json", "accept-language": lang === "en" ? "en" : "zh-CN" },
    body: JSON.stringify({ name, password }),
  }).catch(() => null);
  if (!res) throw new ApiError(0, "network", "");
  if (!res.ok) {
    const body = (await res.json().catch(() => null)) as { error?: { code?: string; message?: string } } | null;
    throw new ApiError(res.status, body?.error?.code ?? "http", body?.error?.message ?? "");
  }
}

export const q = (params: Record<string, string | number | undefined | null>) => {
  const s = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") s.set(k, String(v));
  const str = s.toString();
  return str ? `?${str}` : "";
};
