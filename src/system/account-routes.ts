import { z } from "zod";
import { type Accounts, generatePassword, type PublicUser } from "../access/accounts.js";
import type { Principal } from "../access/api-keys.js";
import { clearedSessionCookie, sessionCookie } from "../access/authenticate.js";
import { accessMessage } from "../access/messages.js";
import { ROLES } from "../access/roles.js";
import type { UsersStore } from "../access/users-store.js";
import { errors, IdParam, IsoTime, NoContent, withExample } from "../http/schemas.js";
import { ALL_ROLES, type Api } from "../http/server.js";
import { DomainError, errorMessage } from "../platform/errors.js";

const RoleSchema = z.enum(ROLES);
/** People's roles: `metrics` is for a scrape key, not a person. */
const UserRole = z.enum(ROLES).exclude(["metrics"]);
const Places = z.array(z.string().min(1)).min(1);
const Password = z.string().min(10).max(200);

const UserView = withExample(
  z.object({
    id: z.string(),
    name: z.string(),
    role: RoleSchema,
    towns: z.array(z.string()).nullable(),
    stations: z.array(z.string()).nullable(),
    disabled: z.boolean(),
    mustChangePassword: z.boolean(),
    createdAt: IsoTime,
    passwordChangedAt: IsoTime,
  }),
  {
    id: "7b0e4c1a-2f3d-4e5f-8a9b-0c1d2e3f4a5b",
    name: "wanggong",
    role: "technician",
    towns: ["来苏镇"],
    stations: null,
    disabled: false,
    mustChangePassword: true,
    createdAt: "2026-03-01T02:00:00.000Z",
    passwordChangedAt: "2026-03-01T02:00:00.000Z",
  },
  { id: "User", description: "A person's account: role, the towns or stations it is limited to (null: all), and whether it may sign in" },
);
const view = (u: PublicUser): z.input<typeof UserView> => ({
  id: u.id,
  name: u.name,
  role: u.role,
  towns: u.towns,
  stations: u.stations,
  disabled: u.disabled,
  mustChangePassword: u.mustChangePassword,
  createdAt: new Date(u.createdAt).toISOString(),
  passwordChangedAt: new Date(u.passwordChangedAt).toISOString(),
});
const SignedIn = withExample(
  z.object({ user: UserView, csrfToken: z.string(), expiresAt: IsoTime }),
  {
    user: {
      id: "7b0e4c1a-2f3d-4e5f-8a9b-0c1d2e3f4a5b",
      name: "wanggong",
      role: "technician",
      towns: ["来苏镇"],
      stations: null,
      disabled: false,
      mustChangePassword: false,
      createdAt: "2026-03-01T02:00:00.000Z",
      passwordChangedAt: "2026-03-02T02:00:00.000Z",
    },
    csrfToken: "q3Zk9v_Xr2m8TqW1yN5pL7sB0dF4hJ6uC8aE2gI9oK0",
    expiresAt: "2026-03-02T14:00:00.000Z",
  },
  {
    id: "SignedIn",
    description:
      "Signed in: the session is in the HttpOnly cookie `agrilume_session`; every write (not GET) must send `csrfToken` in the `x-csrf-token` header",
  },
);
const OneTimePassword = withExample(
  z.object({ user: UserView, password: z.string().nullable() }),
  {
    user: {
      id: "7b0e4c1a-2f3d-4e5f-8a9b-0c1d2e3f4a5b",
      name: "wanggong",
      role: "technician",
      towns: ["来苏镇"],
      stations: null,
      disabled: false,
      mustChangePassword: true,
      createdAt: "2026-03-01T02:00:00.000Z",
      passwordChangedAt: "2026-03-01T02:00:00.000Z",
    },
    password: "k7Qm2xTp9WzR4hNa",
  },
  {
    id: "OneTimePassword",
    description:
      "The account and its one-time password (shown only here; null when the admin chose it): the holder must change it at the first sign-in",
  },
);
const AuditList = withExample(
  z.object({
    entries: z.array(
      z.object({
        id: z.number().int(),
        at: IsoTime,
        actor: z.object({ kind: z.enum(["key", "user"]).nullable(), id: z.string().nullable(), name: z.string().nullable() }),
        method: z.string(),
        route: z.string(),
        objectId: z.string().nullable(),
        status: z.number().int(),
        ip: z.string().nullable(),
      }),
    ),
  }),
  {
    entries: [
      {
        id: 42,
        at: "2026-03-01T02:00:00.000Z",
        actor: { kind: "user", id: "7b0e4c1a-2f3d-4e5f-8a9b-0c1d2e3f4a5b", name: "admin" },
        method: "POST",
        route: "/api/v1/devices/:id/disable",
        objectId: "YC-LS-0001",
        status: 200,
        ip: "10.0.0.7",
      },
    ],
  },
  {
    id: "AuditLog",
    description: "Changes, newest first: who (user or key), what (method, route, object), when, from where, and the answer's status",
  },
);

/** Signing in and out, one's own password, user accounts (admins) and the audit log (admins). */
export function accountRoutes(app: Api, deps: { accounts: Accounts; audit: Pick<UsersStore, "audit"> }) {
  const { accounts } = deps;
  /** Secure cookies where the request came over TLS (directly, or by X-Forwarded-Proto behind a trusted proxy). */
  const secure = (req: { protocol: string }) => req.protocol === "https";

  app.post(
    "/api/v1/session",
    {
      config: { roles: "public", touches: "public" },
      schema: {
        tags: ["accounts"],
        operationId: "signIn",
        summary: "Sign in with user name and password (sets the session cookie)",
        description:
          "Sets the HttpOnly, SameSite=Strict session cookie (Secure over TLS) and answers the CSRF token that writes must send in `x-csrf-token`. A wrong name or password and a disabled account are refused alike (401 `login_failed`). Too many attempts from one address (`too_many_logins`) or too many failures of one account (`account_locked`, the right password refused too, the lock doubling with each failure) answer 429 with Retry-After. An account whose password was set by someone else signs in with `mustChangePassword: true` and may only change it (POST /api/v1/me/password).",
        body: withExample(z.object({ name: z.string().trim().min(1).max(100), password: z.string().min(1).max(200) }), {
          name: "wanggong",
          password: "correct horse battery",
        }),
        response: { 200: SignedIn, ...errors(429) },
      },
    },
    async (req, reply) => {
      try {
        const { token, session, user } = await accounts.login(req.body.name, req.body.password, req.ip);
        // (for the audit log: the sign-in is the user's)
        req.principal = { keyId: user.id, name: user.name, role: user.role, towns: user.towns, stations: user.stations, kind: "user" };
        reply.header(
          "set-cookie",
          sessionCookie(token, { secure: secure(req), maxAgeS: Math.floor((session.expiresAt - session.createdAt) / 1000) }),
        );
        reply.header("cache-control", "no-store");
        return { user: view(user), csrfToken: session.csrfToken, expiresAt: new Date(session.expiresAt).toISOString() };
      } catch (e) {
        if (e instanceof DomainError && e.kind === "too_many") reply.header("retry-after", String(e.detail.params.retryAfterS));
        throw e;
      }
    },
  );

  app.delete(
    "/api/v1/session",
    {
      config: { roles: ALL_ROLES, touches: "caller" },
      schema: {
        tags: ["accounts"],
        operationId: "signOut",
        summary: "Sign out (ends this session and clears the cookie)",
        description:
          "Ends the session of the cookie at once; with a key, there is no session and nothing changes. Needs the CSRF token like every write by cookie.",
        response: { 204: NoContent },
      },
    },
    async (req, reply) => {
      const p = req.principal as Principal;
      if (p.session) await accounts.logout(p.session.id);
      return reply
        .header("set-cookie", clearedSessionCookie(secure(req)))
        .status(204)
        .send();
    },
  );

  app.post(
    "/api/v1/me/password",
    {
      config: { roles: ALL_ROLES, touches: "caller" },
      schema: {
        tags: ["accounts"],
        operationId: "changeOwnPassword",
        summary: "Change one's own password (ends one's other sessions)",
        description:
          "The signed-in user gives the current password and a new one (10 to 200 characters). The user's other sessions end; this one goes on. A wrong current password answers 403 and counts as a failed sign-in; an API key has no password (422).",
        body: withExample(z.object({ currentPassword: z.string().min(1).max(200), newPassword: Password }), {
          currentPassword: "k7Qm2xTp9WzR4hNa",
          newPassword: "correct horse battery",
        }),
        response: { 204: NoContent, ...errors(422) },
      },
    },
    async (req, reply) => {
      const p = req.principal as Principal;
      if (p.kind !== "user") throw new DomainError("invalid", accessMessage("not_a_user", {}));
      await accounts.changePassword(p.keyId, req.body.currentPassword, req.body.newPassword, p.session?.id ?? null);
      return reply.status(204).send();
    },
  );

  app.get(
    "/api/v1/users",
    {
      config: { roles: ["admin"], touches: "everything" },
      schema: {
        tags: ["accounts"],
        operationId: "listUsers",
        summary: "List user accounts (never their passwords)",
        description: "Every account not deleted, disabled ones included, with role, limits and whether a password change is pending.",
        response: { 200: withExample(z.object({ users: z.array(UserView) }), { users: [] }, { description: "The accounts" }) },
      },
    },
    async () => ({ users: accounts.list().map(view) }),
  );

  app.post(
    "/api/v1/users",
    {
      config: { roles: ["admin"], touches: "everything" },
      schema: {
        tags: ["accounts"],
        operationId: "createUser",
        summary: "Create a user account with a role (optionally limited to towns or stations)",
        description:
          "The answer holds the one-time password (generated unless given): hand it to the person, who must change it at the first sign-in. Names are unique, whatever the case (409).",
        body: withExample(
          z.object({
            name: z.string().trim().min(1).max(100),
            role: UserRole,
            towns: Places.optional(),
            stations: Places.optional(),
            password: Password.optional(),
          }),
          { name: "wanggong", role: "technician", towns: ["来苏镇"] },
        ),
        response: { 201: OneTimePassword, ...errors(409) },
      },
    },
    async (req, reply) => {
      const password = req.body.password ?? generatePassword();
      const user = await accounts.create({ ...req.body, password });
      return reply.status(201).send({ user: view(user), password: req.body.password ? null : password });
    },
  );

  app.patch(
    "/api/v1/users/:id",
    {
      config: { roles: ["admin"], touches: "everything" },
      schema: {
        tags: ["accounts"],
        operationId: "updateUser",
        summary: "Change an account's role or limits, or disable or enable it",
        description:
          "Only the fields given change; `towns`/`stations` null lifts the limit. Disabling ends the account's sessions at once; a role or limit applies from the account's next request. Admins cannot disable or demote themselves (409).",
        params: IdParam,
        body: withExample(
          z.object({
            role: RoleSchema.optional(),
            towns: Places.nullable().optional(),
            stations: Places.nullable().optional(),
            disabled: z.boolean().optional(),
          }),
          { disabled: true },
        ),
        response: { 200: UserView, ...errors(404, 409) },
      },
    },
    async (req) =>
      view(await accounts.update(req.params.id, req.body, (req.principal as Principal).kind === "user" ? (req.principal as Principal).keyId : null)),
  );

  app.delete(
    "/api/v1/users/:id",
    {
      config: { roles: ["admin"], touches: "everything" },
      schema: {
        tags: ["accounts"],
        operationId: "deleteUser",
        summary: "Delete an account (its sessions end)",
        description: "The account can no longer sign in and is no longer listed; the audit log keeps its id. Admins cannot delete themselves (409).",
        params: IdParam,
        response: { 204: NoContent, ...errors(404, 409) },
      },
    },
    async (req, reply) => {
      const p = req.principal as Principal;
      await accounts.remove(req.params.id, p.kind === "user" ? p.keyId : null);
      return reply.status(204).send();
    },
  );

  app.post(
    "/api/v1/users/:id/password",
    {
      config: { roles: ["admin"], touches: "everything" },
      schema: {
        tags: ["accounts"],
        operationId: "resetUserPassword",
        summary: "Give an account a new one-time password (its sessions end; its lock is lifted)",
        description:
          "For a person who forgot theirs: the answer holds the new password (generated unless given), which must be changed at the next sign-in.",
        params: IdParam,
        body: withExample(z.object({ password: Password.optional() }), {}),
        response: { 200: OneTimePassword, ...errors(404) },
      },
    },
    async (req) => {
      const password = req.body.password ?? generatePassword();
      await accounts.resetPassword(req.params.id, password);
      return { user: view(accounts.get(req.params.id)), password: req.body.password ? null : password };
    },
  );

  app.get(
    "/api/v1/audit",
    {
      config: { roles: ["admin"], touches: "everything" },
      schema: {
        tags: ["accounts"],
        operationId: "listAudit",
        summary: "The audit log: every change, who made it, when and from where (newest first)",
        description:
          "Each change (any request that is not a read) that succeeded or that a known caller was refused (403), and every sign-in, failed or not. Page back with `before` (the last id seen); filter by `actor` (name or id), `route` (its start, e.g. /api/v1/users) and `from`/`to` (ISO 8601).",
        querystring: z.object({
          limit: z.coerce.number().int().min(1).max(1000).default(100),
          before: z.coerce.number().int().positive().optional(),
          actor: z.string().min(1).max(200).optional(),
          route: z.string().min(1).max(200).optional(),
          from: IsoTime.optional(),
          to: IsoTime.optional(),
        }),
        response: { 200: AuditList, ...errors(422) },
      },
    },
    async (req) => {
      const q = req.query;
      const time = (s: string | undefined) => (s === undefined ? undefined : Date.parse(s));
      if (q.from && q.to && Date.parse(q.from) >= Date.parse(q.to))
        throw new DomainError("invalid", errorMessage("range_order", { from: Date.parse(q.from), to: Date.parse(q.to) }));
      const rows = await deps.audit.audit({ limit: q.limit, before: q.before, actor: q.actor, route: q.route, from: time(q.from), to: time(q.to) });
      return {
        entries: rows.map((e) => ({
          id: e.id,
          at: new Date(e.at).toISOString(),
          actor: { kind: e.actorKind, id: e.actorId, name: e.actorName },
          method: e.method,
          route: e.route,
          objectId: e.objectId,
          status: e.status,
          ip: e.ip,
        })),
      };
    },
  );
}
