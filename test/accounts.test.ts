import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_KEY, registerLight, startTestApp, type TestApp, waitUntil } from "../harness/helpers.js";
import { createAccounts } from "../src/access/accounts.js";
import { openStateStore } from "../src/state.js";

/** A browser's view of the service: the session cookie it was given, and the CSRF token it must send on writes. */
type Browser = { cookie: string; csrf: string };

const cookieOf = (res: Response) => {
  const set = res.headers.get("set-cookie") ?? "";
  return set.split(";")[0] as string;
};

describe("people sign in as themselves", () => {
  let t: TestApp;
  const ADMIN_PASSWORD = "first-admin-password";
  beforeAll(async () => {
    t = await startTestApp({
      AGRILUME_ADMIN_PASSWORD: ADMIN_PASSWORD,
      AGRILUME_LOGIN_MAX_FAILURES: "3",
      AGRILUME_LOGIN_LOCKOUT_S: "600",
      // (this file's many sign-ins come from one address; that limit has its own test)
      AGRILUME_LOGIN_PER_SOURCE_PER_MIN: "1000",
    });
    await registerLight(t, "ACC-1", { town: "来苏镇" });
    await registerLight(t, "ACC-2", { town: "朱沱镇" });
  });
  afterAll(() => t.stop());

  const signIn = (name: string, password: string, headers: Record<string, string> = {}) =>
    t.api("/api/v1/session", { key: null, method: "POST", body: JSON.stringify({ name, password }), headers });
  const as = (b: Browser, path: string, init: RequestInit = {}, csrf = true) => {
    const headers = new Headers(init.headers);
    headers.set("cookie", b.cookie);
    if (csrf) headers.set("x-csrf-token", b.csrf);
    return t.api(path, { ...init, key: null, headers });
  };
  const browser = async (name: string, password: string): Promise<Browser> => {
    const res = await signIn(name, password);
    expect(res.status, await res.clone().text()).toBe(200);
    return { cookie: cookieOf(res), csrf: ((await res.json()) as { csrfToken: string }).csrfToken };
  };
  /** An admin session with its first password already changed. */
  let admin: Browser;
  const ADMIN_NEW = "the-admins-own-password";

  it("the first start made an admin account whose password must be changed before anything else", async () => {
    const res = await signIn("admin", ADMIN_PASSWORD);
    expect(res.status).toBe(200);
    const set = res.headers.get("set-cookie") ?? "";
    expect(set).toMatch(/^agrilume_session=agls_[\w-]+; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+$/);
    expect(set).not.toContain("Secure"); // plain HTTP here; see the TLS test below
    const body = (await res.json()) as { user: { mustChangePassword: boolean; role: string }; csrfToken: string };
    expect(body.user).toMatchObject({ role: "admin", mustChangePassword: true });
    const b = { cookie: cookieOf(res), csrf: body.csrfToken };
    const devices = await as(b, "/api/v1/devices");
    expect(devices.status).toBe(403);
    expect(await devices.json()).toMatchObject({ error: { code: "password_change_required" } });
    expect(await (await as(b, "/api/v1/me")).json()).toMatchObject({ name: "admin", kind: "user", mustChangePassword: true, csrfToken: b.csrf });
    const same = await as(b, "/api/v1/me/password", {
      method: "POST",
      body: JSON.stringify({ currentPassword: ADMIN_PASSWORD, newPassword: ADMIN_PASSWORD }),
    });
    expect(same.status).toBe(422);
    const changed = await as(b, "/api/v1/me/password", {
      method: "POST",
      body: JSON.stringify({ currentPassword: ADMIN_PASSWORD, newPassword: ADMIN_NEW }),
    });
    expect(changed.status).toBe(204);
    expect((await as(b, "/api/v1/devices")).status).toBe(200);
    admin = b;
    // the old password no longer works
    expect((await signIn("admin", ADMIN_PASSWORD)).status).toBe(401);
  });

  it("a start without AGRILUME_ADMIN_PASSWORD prints a generated one-time password, once", async () => {
    const other = await startTestApp();
    try {
      const password = other.started.createdAdminPassword;
      expect(password).toMatch(/^\w{16}$/);
      const res = await other.api("/api/v1/session", { key: null, method: "POST", body: JSON.stringify({ name: "admin", password }) });
      expect(res.status).toBe(200);
    } finally {
      await other.stop();
    }
  });

  it("writes by cookie need the session's CSRF token; reads and key requests do not", async () => {
    const body = JSON.stringify({ name: "csrf-probe", role: "finance" });
    const none = await as(admin, "/api/v1/users", { method: "POST", body }, false);
    expect(none.status).toBe(403);
    expect(await none.json()).toMatchObject({ error: { code: "csrf_missing" } });
    const wrong = await as({ ...admin, csrf: "x".repeat(admin.csrf.length) }, "/api/v1/users", { method: "POST", body });
    expect(wrong.status).toBe(403);
    expect((await as(admin, "/api/v1/users", {}, false)).status).toBe(200);
    expect((await as(admin, "/api/v1/users", { method: "POST", body })).status).toBe(201);
    expect((await t.api("/api/v1/users", { method: "POST", body: JSON.stringify({ name: "by-key", role: "finance" }) })).status).toBe(201);
  });

  it("an admin creates a user limited to a town; the user sees only that town, and only their role's routes", async () => {
    const created = await as(admin, "/api/v1/users", {
      method: "POST",
      body: JSON.stringify({ name: "wanggong", role: "technician", towns: ["来苏镇"] }),
    });
    expect(created.status).toBe(201);
    const { user, password } = (await created.json()) as { user: { id: string; mustChangePassword: boolean }; password: string };
    expect(user.mustChangePassword).toBe(true);
    const first = await browser("WangGong", password); // names are matched whatever the case
    expect(
      (
        await as(first, "/api/v1/me/password", {
          method: "POST",
          body: JSON.stringify({ currentPassword: password, newPassword: "wanggong-password-1" }),
        })
      ).status,
    ).toBe(204);
    const tech = first;
    const list = (await (await as(tech, "/api/v1/devices")).json()) as { devices: { id: string }[] };
    expect(list.devices.map((d) => d.id)).toEqual(["ACC-1"]);
    expect((await as(tech, "/api/v1/devices/ACC-2")).status).toBe(404);
    const refused = await as(tech, "/api/v1/users");
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ error: { code: "forbidden" } });
    expect((await as(tech, "/metrics")).status).toBe(403);
    // a person's account has a person's role
    expect((await as(admin, "/api/v1/users", { method: "POST", body: JSON.stringify({ name: "scraper", role: "metrics" }) })).status).toBe(400);
    // names are unique
    expect((await as(admin, "/api/v1/users", { method: "POST", body: JSON.stringify({ name: "WANGGONG", role: "finance" }) })).status).toBe(409);
  });

  it("a wrong password and an unknown name are refused alike; failures lock the account, even against the right password, with a growing wait", async () => {
    await as(admin, "/api/v1/users", { method: "POST", body: JSON.stringify({ name: "lisi", role: "finance", password: "lisi-password-1" }) });
    const unknown = await signIn("nobody-here", "whatever-password");
    const wrong = await signIn("lisi", "not-the-password");
    expect(unknown.status).toBe(401);
    expect(wrong.status).toBe(401);
    expect(await unknown.json()).toEqual(await wrong.json());
    expect((await signIn("lisi", "not-the-password")).status).toBe(401);
    expect((await signIn("lisi", "not-the-password")).status).toBe(401); // the third failure locks (AGRILUME_LOGIN_MAX_FAILURES=3)
    const locked = await signIn("lisi", "lisi-password-1");
    expect(locked.status).toBe(429);
    const firstWait = Number(locked.headers.get("retry-after"));
    expect(firstWait).toBeGreaterThan(500);
    expect(await locked.json()).toMatchObject({ error: { code: "account_locked", params: { retryAfterS: firstWait } } });
    // an admin's reset lifts the lock
    const id = ((await (await as(admin, "/api/v1/users")).json()) as { users: { id: string; name: string }[] }).users.find(
      (u) => u.name === "lisi",
    )?.id;
    const reset = await as(admin, `/api/v1/users/${id}/password`, { method: "POST", body: "{}" });
    expect(reset.status).toBe(200);
    const { password } = (await reset.json()) as { password: string };
    const after = await signIn("lisi", password);
    expect(after.status).toBe(200);
    expect(((await after.json()) as { user: { mustChangePassword: boolean } }).user.mustChangePassword).toBe(true);
  });

  it("one address gets a limited number of failed sign-in attempts a minute; successful ones do not count", async () => {
    const other = await startTestApp({ AGRILUME_LOGIN_PER_SOURCE_PER_MIN: "3", AGRILUME_ADMIN_PASSWORD: ADMIN_PASSWORD });
    try {
      const attempt = (name: string, password = "wrong-one") =>
        other.api("/api/v1/session", { key: null, method: "POST", body: JSON.stringify({ name, password }) });
      // an office behind one address signing in
      for (let i = 0; i < 5; i++) expect((await attempt("admin", ADMIN_PASSWORD)).status).toBe(200);
      for (const name of ["a", "b", "c"]) expect((await attempt(name)).status).toBe(401);
      const refused = await attempt("d");
      expect(refused.status).toBe(429);
      expect(await refused.json()).toMatchObject({ error: { code: "too_many_logins" } });
      expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    } finally {
      await other.stop();
    }
  });

  it("sign-out ends the session; the cookie no longer works, for reads or writes", async () => {
    const b = await browser("admin", ADMIN_NEW);
    expect((await as(b, "/api/v1/me")).status).toBe(200);
    const out = await as(b, "/api/v1/session", { method: "DELETE" });
    expect(out.status).toBe(204);
    expect(out.headers.get("set-cookie")).toMatch(/^agrilume_session=; .*Max-Age=0/);
    const after = await as(b, "/api/v1/me");
    expect(after.status).toBe(401);
    expect(await after.json()).toMatchObject({ error: { code: "unauthorized" } });
    expect((await as(b, "/api/v1/users", { method: "POST", body: JSON.stringify({ name: "x", role: "finance" }) })).status).toBe(401);
  });

  it("a password change ends the user's other sessions, not this one; a wrong current password is refused", async () => {
    await as(admin, "/api/v1/users", { method: "POST", body: JSON.stringify({ name: "zhao", role: "operator", password: "zhao-password-0" }) });
    const first = await browser("zhao", "zhao-password-0");
    await as(first, "/api/v1/me/password", {
      method: "POST",
      body: JSON.stringify({ currentPassword: "zhao-password-0", newPassword: "zhao-password-1" }),
    });
    const laptop = await browser("zhao", "zhao-password-1");
    const phone = await browser("zhao", "zhao-password-1");
    const wrong = await as(phone, "/api/v1/me/password", {
      method: "POST",
      body: JSON.stringify({ currentPassword: "nope-nope-nope", newPassword: "zhao-password-2" }),
    });
    expect(wrong.status).toBe(403);
    expect(await wrong.json()).toMatchObject({ error: { code: "current_password_wrong" } });
    const ok = await as(phone, "/api/v1/me/password", {
      method: "POST",
      body: JSON.stringify({ currentPassword: "zhao-password-1", newPassword: "zhao-password-2" }),
    });
    expect(ok.status).toBe(204);
    expect((await as(phone, "/api/v1/me")).status).toBe(200);
    expect((await as(laptop, "/api/v1/me")).status).toBe(401);
    // a key has no password to change
    expect(
      (await t.api("/api/v1/me/password", { method: "POST", body: JSON.stringify({ currentPassword: "x", newPassword: "zhao-password-3" }) })).status,
    ).toBe(422);
  });

  it("disabling a user ends their sessions and refuses their sign-in; an admin cannot disable themselves", async () => {
    await as(admin, "/api/v1/users", { method: "POST", body: JSON.stringify({ name: "qian", role: "operator", password: "qian-password-0" }) });
    const users = ((await (await as(admin, "/api/v1/users")).json()) as { users: { id: string; name: string }[] }).users;
    const id = users.find((u) => u.name === "qian")?.id;
    const q = await browser("qian", "qian-password-0");
    const off = await as(admin, `/api/v1/users/${id}`, { method: "PATCH", body: JSON.stringify({ disabled: true }) });
    expect(off.status).toBe(200);
    expect((await as(q, "/api/v1/me")).status).toBe(401);
    expect((await signIn("qian", "qian-password-0")).status).toBe(401);
    const self = users.find((u) => u.name === "admin")?.id;
    const own = await as(admin, `/api/v1/users/${self}`, { method: "PATCH", body: JSON.stringify({ disabled: true }) });
    expect(own.status).toBe(409);
    expect(await own.json()).toMatchObject({ error: { code: "own_account" } });
    expect((await as(admin, "/api/v1/users/no-such-user", { method: "PATCH", body: JSON.stringify({ disabled: true }) })).status).toBe(404);
    expect((await as(admin, `/api/v1/users/${id}`, { method: "DELETE" })).status).toBe(204);
    expect((await as(admin, `/api/v1/users/${id}`, { method: "DELETE" })).status).toBe(404);
  });

  it("a role or scope change applies to a signed-in user at their next request", async () => {
    const created = await as(admin, "/api/v1/users", {
      method: "POST",
      body: JSON.stringify({ name: "sun", role: "technician", towns: ["朱沱镇"], password: "sun-password-0" }),
    });
    const { user } = (await created.json()) as { user: { id: string } };
    const first = await browser("sun", "sun-password-0");
    await as(first, "/api/v1/me/password", {
      method: "POST",
      body: JSON.stringify({ currentPassword: "sun-password-0", newPassword: "sun-password-1" }),
    });
    const ids = async () => ((await (await as(first, "/api/v1/devices")).json()) as { devices: { id: string }[] }).devices.map((d) => d.id);
    expect(await ids()).toEqual(["ACC-2"]);
    await as(admin, `/api/v1/users/${user.id}`, { method: "PATCH", body: JSON.stringify({ towns: ["来苏镇"] }) });
    expect(await ids()).toEqual(["ACC-1"]);
    await as(admin, `/api/v1/users/${user.id}`, { method: "PATCH", body: JSON.stringify({ role: "finance", towns: null }) });
    expect(await ids()).toEqual(["ACC-1", "ACC-2"]);
    expect((await as(first, "/api/v1/devices/ACC-1/rejects")).status).toBe(403);
  });

  it("the session cookie is Secure behind a TLS-terminating proxy that is trusted", async () => {
    const other = await startTestApp({ AGRILUME_ADMIN_PASSWORD: ADMIN_PASSWORD, AGRILUME_TRUST_PROXY: "true" });
    try {
      const res = await other.api("/api/v1/session", {
        key: null,
        method: "POST",
        body: JSON.stringify({ name: "admin", password: ADMIN_PASSWORD }),
        headers: { "x-forwarded-proto": "https" },
      });
      expect(res.status).toBe(200);
      expect(res.headers.get("set-cookie")).toMatch(/; Secure$/);
    } finally {
      await other.stop();
    }
  });

  it("a key sent with a cookie is judged by the key; a wrong key is not rescued by a good cookie", async () => {
    expect((await t.api("/api/v1/users", { key: "agl_wrong", headers: { cookie: admin.cookie } })).status).toBe(401);
    expect((await t.api("/api/v1/users", { key: ADMIN_KEY, headers: { cookie: "agrilume_session=agls_forged" } })).status).toBe(200);
    expect((await t.api("/api/v1/me", { key: null, headers: { cookie: "agrilume_session=agls_forged" } })).status).toBe(401);
  });

  it("nothing answered or logged holds a password or a session token", async () => {
    const users = await (await as(admin, "/api/v1/users")).text();
    expect(users).not.toMatch(/password"\s*:\s*"|\$argon2/);
    const audit = await (await as(admin, "/api/v1/audit?limit=1000")).text();
    expect(audit).not.toContain(ADMIN_NEW);
    expect(audit).not.toContain("agls_");
  });
});

describe("accounts, on their own clock", () => {
  const settings = { sessionIdleMs: 30 * 60_000, sessionMaxMs: 12 * 3_600_000, maxFailures: 2, lockoutMs: 100_000, loginsPerSourcePerMinute: 1000 };
  const setup = async () => {
    const state = await openStateStore(":memory:");
    const clock = { now: Date.parse("2026-03-01T00:00:00Z") };
    const accounts = await createAccounts(state.users, settings, () => clock.now);
    await accounts.create({ name: "zhou", role: "operator", password: "zhou-password-0" });
    return { state, clock, accounts };
  };
  const refusal = (p: Promise<unknown>) =>
    p.then(
      () => null,
      (e: { kind: string; detail: { code: string; params: { retryAfterS?: number } } }) => ({
        kind: e.kind,
        code: e.detail.code,
        wait: e.detail.params.retryAfterS,
      }),
    );

  it("the lock doubles with each failure after it, up to 64 times the first", async () => {
    const { state, clock, accounts } = await setup();
    const fail = () => refusal(accounts.login("zhou", "wrong-password", "10.0.0.1"));
    expect(await fail()).toEqual({ kind: "unauthorized", code: "login_failed", wait: undefined });
    expect(await fail()).toEqual({ kind: "unauthorized", code: "login_failed", wait: undefined });
    expect(await refusal(accounts.login("zhou", "zhou-password-0", "10.0.0.1"))).toEqual({ kind: "too_many", code: "account_locked", wait: 100 });
    clock.now += 100_000;
    expect((await fail())?.code).toBe("login_failed");
    expect((await fail())?.wait).toBe(200);
    clock.now += 200_000;
    await fail();
    expect((await fail())?.wait).toBe(400);
    for (let i = 0; i < 10; i++) {
      clock.now += 7_000_000;
      await fail();
    }
    expect((await fail())?.wait).toBe(6_400);
    clock.now += 6_400_000;
    // the right password, once the lock has passed, signs in and clears the count
    expect((await accounts.login("zhou", "zhou-password-0", "10.0.0.1")).user.name).toBe("zhou");
    expect((await fail())?.code).toBe("login_failed");
    expect((await fail())?.wait).toBe(undefined);
    await state.close();
  });

  it("a session ends after its idle timeout and at its absolute expiry, used or not", async () => {
    const { state, clock, accounts } = await setup();
    const { token } = await accounts.login("zhou", "zhou-password-0", "10.0.0.1");
    clock.now += 29 * 60_000;
    expect(accounts.session(token)).not.toBeNull();
    clock.now += 30 * 60_000 + 1;
    expect(accounts.session(token)).toBeNull();
    expect(accounts.session(token)).toBeNull(); // (and stays ended)
    const busy = await accounts.login("zhou", "zhou-password-0", "10.0.0.1");
    for (let h = 0; h < 12; h++) {
      expect(accounts.session(busy.token), `hour ${h}`).not.toBeNull();
      clock.now += 20 * 60_000;
      expect(accounts.session(busy.token)).not.toBeNull();
      clock.now += 20 * 60_000;
      expect(accounts.session(busy.token)).not.toBeNull();
      clock.now += 20 * 60_000;
    }
    expect(accounts.session(busy.token)).toBeNull();
    await state.close();
  });

  it("sessions outlive a restart; ended ones do not, and tokens are stored only as hashes", async () => {
    const { state, accounts } = await setup();
    const kept = await accounts.login("zhou", "zhou-password-0", "10.0.0.1");
    const ended = await accounts.login("zhou", "zhou-password-0", "10.0.0.1");
    await accounts.logout(ended.session.id);
    const again = await createAccounts(state.users, settings, () => Date.parse("2026-03-01T00:01:00Z"));
    expect(again.session(kept.token)?.user.name).toBe("zhou");
    expect(again.session(ended.token)).toBeNull();
    const rows = JSON.stringify(await state.db.all("SELECT * FROM sessions"), (_k, v) => (typeof v === "bigint" ? Number(v) : v));
    expect(rows).not.toContain(kept.token);
    const users = JSON.stringify(await state.db.all("SELECT password_hash FROM users"));
    expect(users).toMatch(/\$argon2id\$/);
    expect(users).not.toContain("zhou-password-0");
    await state.close();
  });
});

describe("live streams by cookie, the metrics role and the audit log", () => {
  let t: TestApp;
  let admin: Browser;
  let tech: Browser;
  beforeAll(async () => {
    t = await startTestApp({ AGRILUME_ADMIN_PASSWORD: "first-admin-password" });
    await registerLight(t, "AUD-1", { town: "来苏镇" });
    const signIn = async (name: string, password: string, next: string): Promise<Browser> => {
      const res = await t.api("/api/v1/session", { key: null, method: "POST", body: JSON.stringify({ name, password }) });
      const b = { cookie: cookieOf(res), csrf: ((await res.json()) as { csrfToken: string }).csrfToken };
      const changed = await t.api("/api/v1/me/password", {
        key: null,
        method: "POST",
        headers: { cookie: b.cookie, "x-csrf-token": b.csrf },
        body: JSON.stringify({ currentPassword: password, newPassword: next }),
      });
      expect(changed.status).toBe(204);
      return b;
    };
    admin = await signIn("admin", "first-admin-password", "admin-password-2");
    await t.api("/api/v1/users", {
      method: "POST",
      body: JSON.stringify({ name: "tech", role: "technician", towns: ["来苏镇"], password: "tech-password-0" }),
    });
    tech = await signIn("tech", "tech-password-0", "tech-password-1");
  });
  afterAll(() => t.stop());
  const as = (b: Browser, path: string, init: RequestInit = {}) =>
    t.api(path, { ...init, key: null, headers: { ...(init.headers as Record<string, string>), cookie: b.cookie, "x-csrf-token": b.csrf } });

  it("a live stream authenticates by the session cookie, with no key in the URL", async () => {
    const ac = new AbortController();
    const stream = await t.api("/api/v1/alerts/stream", { key: null, headers: { cookie: tech.cookie }, signal: ac.signal });
    expect(stream.status).toBe(200);
    expect(stream.headers.get("content-type")).toContain("text/event-stream");
    ac.abort();
    expect((await t.api("/api/v1/alerts/stream", { key: null })).status).toBe(401);
    expect((await t.api("/api/v1/alerts/stream", { key: null, headers: { cookie: "agrilume_session=agls_forged" } })).status).toBe(401);
  });

  it("a metrics key reads /metrics and nothing else", async () => {
    const res = await t.api("/api/v1/keys", { method: "POST", body: JSON.stringify({ name: "prometheus", role: "metrics" }) });
    expect(res.status).toBe(201);
    const { key } = (await res.json()) as { key: string };
    const metrics = await t.api("/metrics", { key });
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain("agrilume_");
    for (const path of ["/api/v1/devices", "/api/v1/me", "/api/v1/alerts", "/api/v1/users", "/api/v1/audit", "/api/v1/verification"])
      expect((await t.api(path, { key })).status, path).toBe(403);
    expect((await t.api("/api/v1/devices/AUD-1/disable", { key, method: "POST" })).status).toBe(403);
  });

  it("records every change with who, what, when and from where; admins read it newest first, with filters", async () => {
    const before = Date.now();
    expect((await as(admin, "/api/v1/devices/AUD-1/disable", { method: "POST" })).status).toBe(200);
    expect((await t.api("/api/v1/devices/AUD-1/enable", { method: "POST" })).status).toBe(200);
    expect((await as(tech, "/api/v1/devices/AUD-1/disable", { method: "POST" })).status).toBe(403);
    expect(
      (await t.api("/api/v1/session", { key: null, method: "POST", body: JSON.stringify({ name: "tech", password: "guess-guess" }) })).status,
    ).toBe(401);
    expect((await t.api("/api/v1/devices/AUD-1/disable", { key: null, method: "POST" })).status).toBe(401);
    type Entry = {
      id: number;
      at: string;
      actor: { kind: string; id: string; name: string };
      method: string;
      route: string;
      objectId: string;
      status: number;
      ip: string;
    };
    const read = async (q = "") => ((await (await as(admin, `/api/v1/audit${q}`)).json()) as { entries: Entry[] }).entries;
    const entries = await waitUntil(async () => {
      const e = await read();
      return e.some((x) => x.route === "/api/v1/session" && x.status === 401) ? e : undefined;
    }, "the audit entries");
    const [failedSignIn, refused, enabled, disabled] = entries;
    expect(disabled).toMatchObject({
      actor: { kind: "user", name: "admin" },
      method: "POST",
      route: "/api/v1/devices/:id/disable",
      objectId: "AUD-1",
      status: 200,
      ip: "127.0.0.1",
    });
    expect(Date.parse(disabled?.at ?? "")).toBeGreaterThanOrEqual(before - 1000);
    expect(disabled?.at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(enabled).toMatchObject({ actor: { kind: "key", name: "AGRILUME_ADMIN_KEY" }, route: "/api/v1/devices/:id/enable", status: 200 });
    expect(refused).toMatchObject({ actor: { kind: "user", name: "tech" }, status: 403 });
    expect(failedSignIn).toMatchObject({ actor: { name: "tech", id: null }, route: "/api/v1/session", status: 401 });
    // nobody's 401 (no name) and reads are not kept
    expect(entries.filter((e) => e.status === 401 && e.route !== "/api/v1/session")).toEqual([]);
    expect(entries.filter((e) => e.method === "GET")).toEqual([]);
    // the sign-ins and password changes of the setup are there too, and the user's creation
    expect(entries.some((e) => e.route === "/api/v1/users" && e.method === "POST" && e.objectId === "tech")).toBe(true);
    expect(entries.some((e) => e.route === "/api/v1/me/password" && e.actor.name === "tech")).toBe(true);

    expect((await read("?actor=tech")).every((e) => e.actor.name === "tech")).toBe(true);
    expect((await read("?route=/api/v1/devices/")).map((e) => e.status).slice(0, 3)).toEqual([403, 200, 200]);
    expect(await read("?limit=1")).toHaveLength(1);
    expect((await read(`?before=${disabled?.id}`)).every((e) => e.id < (disabled?.id ?? 0))).toBe(true);
    expect(await read(`?from=${new Date(Date.now() + 60_000).toISOString()}`)).toEqual([]);
    expect((await as(admin, "/api/v1/audit?from=2026-03-02T00:00:00.000Z&to=2026-03-01T00:00:00.000Z")).status).toBe(422);
    expect((await as(tech, "/api/v1/audit")).status).toBe(403);
  });
});
