import { DomainError } from "../platform/errors.js";
import type { Accounts } from "./accounts.js";
import type { ApiKeys, Principal } from "./api-keys.js";
import { accessMessage } from "./messages.js";
import type { AuditEntry } from "./users-store.js";

/** The session cookie's name. */
export const SESSION_COOKIE = "agrilume_session";
/** Methods that change nothing: no CSRF token needed. */
const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);
/** What a user who must change their password may still do. */
const WHILE_PASSWORD_MUST_CHANGE = new Set(["GET /api/v1/me", "POST /api/v1/me/password", "DELETE /api/v1/session"]);

/** What authentication reads of a request (fastify's request has all of it). */
export type AuthRequest = {
  method: string;
  /** The route's pattern (`/api/v1/users/:id`). */
  route: string;
  headers: { authorization?: string | undefined; cookie?: string | undefined; "x-csrf-token"?: string | string[] | undefined };
  /** `?key=` where the route takes it (live streams, for machines; browsers use the cookie). */
  queryKey?: string | undefined;
};

/** A cookie's value from a Cookie header, or undefined. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** The Set-Cookie value for a session: HttpOnly, SameSite=Strict, Secure when the request came over TLS. */
export function sessionCookie(token: string, opts: { secure: boolean; maxAgeS: number }): string {
  return `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${opts.maxAgeS}${opts.secure ? "; Secure" : ""}`;
}
export const clearedSessionCookie = (secure: boolean) => sessionCookie("", { secure, maxAgeS: 0 });

/**
 * Authentication in one place: a bearer key (machines, integrations; also `?key=` on live streams), else the session
 * cookie (people). A request with a key is judged by the key alone, cookie or not. A write by cookie must carry the
 * session's CSRF token in `x-csrf-token` (403 `csrf_missing`); a user whose password must change may do nothing else
 * (403 `password_change_required`). Null: nobody (401).
 */
export function createAuthenticator(apiKeys: ApiKeys, accounts: Accounts) {
  return (req: AuthRequest): Principal | null => {
    if (req.headers.authorization !== undefined) return apiKeys.verify(req.headers.authorization);
    if (req.queryKey !== undefined) return apiKeys.verify(`Bearer ${req.queryKey}`);
    const token = readCookie(req.headers.cookie, SESSION_COOKIE);
    const found = token ? accounts.session(token) : null;
    if (!found) return null;
    const { session, user } = found;
    const csrf = req.headers["x-csrf-token"];
    if (!SAFE.has(req.method) && !accounts.csrfMatches(session, typeof csrf === "string" ? csrf : undefined))
      throw new DomainError("forbidden", accessMessage("csrf_missing", {}));
    if (user.mustChangePassword && !WHILE_PASSWORD_MUST_CHANGE.has(`${req.method} ${req.route}`))
      throw new DomainError("forbidden", accessMessage("password_change_required", {}));
    return {
      keyId: user.id,
      name: user.name,
      role: user.role,
      towns: user.towns,
      stations: user.stations,
      kind: "user",
      session: { id: session.id, csrfToken: session.csrfToken },
      mustChangePassword: user.mustChangePassword,
    };
  };
}
export type Authenticate = ReturnType<typeof createAuthenticator>;

/** What the audit log keeps of an answered request. */
export type AuditedRequest = {
  method: string;
  route: string | undefined;
  principal: Principal | null;
  params: unknown;
  body: unknown;
  ip: string;
  status: number;
};

/**
 * The audit log's entry for a request, or null for one not kept: every change (a request that is not GET/HEAD/
 * OPTIONS) that succeeded or was refused to someone known (403), and every sign-in, failed or not; not the 401s of
 * nobody (they name no one, and would let anybody fill the log) nor 429s.
 */
export function auditEntry(r: AuditedRequest, at: number): AuditEntry | null {
  if (SAFE.has(r.method) || !r.route?.startsWith("/api/")) return null;
  const signIn = r.route === "/api/v1/session" && r.method === "POST";
  if (!(r.status < 400 || (r.status === 403 && r.principal) || (signIn && r.status === 401))) return null;
  const params = (r.params ?? {}) as Record<string, unknown>;
  const body = r.body && typeof r.body === "object" ? (r.body as Record<string, unknown>) : {};
  const named = Object.values(params).find((v) => typeof v === "string") ?? (signIn ? undefined : (body.id ?? body.name));
  return {
    at,
    actorKind: r.principal?.kind ?? (signIn ? "user" : null),
    actorId: r.principal?.keyId ?? null,
    actorName: r.principal?.name ?? (signIn && typeof body.name === "string" ? body.name : null),
    method: r.method,
    route: r.route,
    objectId: typeof named === "string" ? named : null,
    status: r.status,
    ip: r.ip,
  };
}
