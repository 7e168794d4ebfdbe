import { createHash, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import { hash, verify } from "@node-rs/argon2";
import { alreadyExists, DomainError, notFound } from "../platform/errors.js";
import { accessMessage } from "./messages.js";
import type { Role } from "./roles.js";
import type { SessionRecord, UserRecord, UsersStore } from "./users-store.js";

/**
 * People's accounts: passwords hashed with Argon2id (@node-rs/argon2, its defaults: 19 MiB, 2 passes, the OWASP
 * minimum), sessions as random tokens kept only as SHA-256 hashes (a token is high-entropy, so a fast hash cannot
 * be brute-forced), each with its CSRF token, an absolute expiry and an idle timeout. Sign-ins are limited per
 * source address (failed ones, in a minute's window) and per account (after `maxFailures` failures the account is locked, the lock
 * doubling with each further failure, at most 64 times the first). Users and live sessions are held in memory (a
 * request is checked without a database query); the counters of failures live only in memory.
 */
export type AccountSettings = {
  sessionIdleMs: number;
  sessionMaxMs: number;
  maxFailures: number;
  lockoutMs: number;
  loginsPerSourcePerMinute: number;
};

export type PublicUser = Omit<UserRecord, "passwordHash">;
export type Session = SessionRecord;

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");
const token = (prefix: string) => `${prefix}${randomBytes(32).toString("base64url")}`;
/** A password people can type from a printout: 16 characters without look-alikes (~90 bits). */
export function generatePassword(): string {
  const alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  return [...randomBytes(16)].map((b) => alphabet[b % alphabet.length]).join("");
}
const publicUser = ({ passwordHash: _h, ...u }: UserRecord): PublicUser => u;
/** (so that renaming or a different case cannot dodge the lock) */
const accountKey = (name: string) => name.trim().toLowerCase();
/** The longest a lock lasts, in multiples of the first. */
const MAX_LOCK_FACTOR = 64;
/** A session's last use is written at most this often (each request checks it in memory). */
const TOUCH_EVERY_MS = 60_000;

export async function createAccounts(store: UsersStore, settings: AccountSettings, clock: () => number = Date.now) {
  const users = new Map<string, UserRecord>();
  for (const u of await store.allUsers()) users.set(u.id, u);
  const sessions = new Map<string, SessionRecord & { touchedAt: number }>();
  for (const s of await store.liveSessions(clock())) sessions.set(s.tokenHash, { ...s, touchedAt: s.lastSeenAt });
  /** Verified against when the name is unknown, so that a sign-in takes as long whether the account exists or not. */
  const dummyHash = await hash(generatePassword());

  const failures = new Map<string, { count: number; lockedUntil: number }>();
  const attempts = new Map<string, number[]>();

  const byName = (name: string) => [...users.values()].find((u) => accountKey(u.name) === accountKey(name));
  const get = (id: string) => {
    const u = users.get(id);
    if (!u) throw notFound("user", id);
    return u;
  };
  const endSessionsOf = async (userId: string, except?: string) => {
    const ended: string[] = [];
    for (const [h, s] of sessions)
      if (s.userId === userId && s.id !== except) {
        sessions.delete(h);
        ended.push(s.id);
      }
    await store.endSessions(ended, clock());
  };
  const save = async (u: UserRecord) => {
    await store.updateUser(u);
    users.set(u.id, u);
  };

  /**
   * Refuses when the source address has used its attempts of the last minute; counts this one, and returns a
   * function that gives it back (a sign-in that succeeds: people behind one office NAT signing in at 8 o'clock are
   * not refused, only guessing is).
   */
  const countAttempt = (ip: string): (() => void) => {
    const now = clock();
    const recent = (attempts.get(ip) ?? []).filter((t) => t > now - 60_000);
    if (recent.length >= settings.loginsPerSourcePerMinute) {
      attempts.set(ip, recent);
      const retryAfterS = Math.max(1, Math.ceil(((recent[0] as number) + 60_000 - now) / 1000));
      throw new DomainError("too_many", accessMessage("too_many_logins", { retryAfterS }));
    }
    recent.push(now);
    attempts.set(ip, recent);
    // (forget addresses that went quiet, so the map stays small)
    if (attempts.size > 10_000) for (const [k, v] of attempts) if (v.every((t) => t <= now - 60_000)) attempts.delete(k);
    return () => {
      const list = attempts.get(ip);
      const i = list?.lastIndexOf(now) ?? -1;
      if (list && i >= 0) list.splice(i, 1);
    };
  };
  /** Sessions that can no longer be used leave memory (each is checked when presented; these never will be again). */
  const prune = (now: number) => {
    for (const [h, s] of sessions) if (now >= s.expiresAt || now - s.lastSeenAt >= settings.sessionIdleMs) sessions.delete(h);
  };
  const checkLock = (name: string) => {
    const f = failures.get(accountKey(name));
    const now = clock();
    if (f && f.lockedUntil > now)
      throw new DomainError("too_many", accessMessage("account_locked", { retryAfterS: Math.ceil((f.lockedUntil - now) / 1000) }));
  };
  const failed = (name: string) => {
    const key = accountKey(name);
    const f = failures.get(key) ?? { count: 0, lockedUntil: 0 };
    f.count += 1;
    if (f.count >= settings.maxFailures) {
      f.lockedUntil = clock() + settings.lockoutMs * Math.min(MAX_LOCK_FACTOR, 2 ** (f.count - settings.maxFailures));
    }
    failures.set(key, f);
  };

  const setPassword = async (u: UserRecord, password: string, mustChange: boolean) => {
    await save({ ...u, passwordHash: await hash(password), mustChangePassword: mustChange, passwordChangedAt: clock() });
  };

  /** An admin makes an account; the holder must change the password at first sign-in. */
  const create = async (input: {
    name: string;
    role: Role;
    towns?: string[] | undefined;
    stations?: string[] | undefined;
    password: string;
  }): Promise<PublicUser> => {
    if (byName(input.name)) throw alreadyExists("user", input.name);
    const now = clock();
    const record: UserRecord = {
      id: randomUUID(),
      name: input.name.trim(),
      role: input.role,
      towns: input.towns ?? null,
      stations: input.stations ?? null,
      passwordHash: await hash(input.password),
      mustChangePassword: true,
      disabled: false,
      createdAt: now,
      passwordChangedAt: now,
    };
    await store.insertUser(record);
    users.set(record.id, record);
    return publicUser(record);
  };

  return {
    list: (): PublicUser[] => [...users.values()].map(publicUser),
    get: (id: string): PublicUser => publicUser(get(id)),
    create,
    /** Role, scope or disabled; a disabled user's sessions end at once. `by`: the admin's own user id, who may not lock themselves out. */
    async update(
      id: string,
      change: {
        role?: Role | undefined;
        towns?: string[] | null | undefined;
        stations?: string[] | null | undefined;
        disabled?: boolean | undefined;
      },
      by: string | null,
    ): Promise<PublicUser> {
      const u = get(id);
      if (id === by && ((change.role !== undefined && change.role !== u.role) || change.disabled === true))
        throw new DomainError("conflict", accessMessage("own_account", {}));
      const next: UserRecord = {
        ...u,
        ...(change.role !== undefined ? { role: change.role } : {}),
        ...(change.towns !== undefined ? { towns: change.towns } : {}),
        ...(change.stations !== undefined ? { stations: change.stations } : {}),
        ...(change.disabled !== undefined ? { disabled: change.disabled } : {}),
      };
      await save(next);
      if (next.disabled) await endSessionsOf(id);
      return publicUser(next);
    },
    async remove(id: string, by: string | null): Promise<void> {
      get(id);
      if (id === by) throw new DomainError("conflict", accessMessage("own_account", {}));
      await endSessionsOf(id);
      await store.deleteUser(id, clock());
      users.delete(id);
    },
    /** An admin sets a new password: the holder must change it at the next sign-in; their sessions end. */
    async resetPassword(id: string, password: string): Promise<void> {
      await setPassword(get(id), password, true);
      await endSessionsOf(id);
      failures.delete(accountKey(get(id).name));
    },
    /** The holder changes their own password (the current one proves it is them); their other sessions end. */
    async changePassword(userId: string, current: string, next: string, keepSession: string | null): Promise<void> {
      const u = get(userId);
      checkLock(u.name);
      if (!(await verify(u.passwordHash, current))) {
        failed(u.name);
        throw new DomainError("forbidden", accessMessage("current_password_wrong", {}));
      }
      if (current === next) throw new DomainError("invalid", accessMessage("password_unchanged", {}));
      await setPassword(u, next, false);
      await endSessionsOf(userId, keepSession ?? undefined);
    },

    /**
     * Signs in: a session token for the cookie and its CSRF token. Refused alike for an unknown name, a wrong
     * password and a disabled account (401); refused for a while, whatever the password, after too many attempts
     * from one address or too many failures for one account (429).
     */
    async login(name: string, password: string, ip: string): Promise<{ token: string; session: SessionRecord; user: PublicUser }> {
      const giveBack = countAttempt(ip);
      checkLock(name);
      const u = byName(name);
      const ok = await verify(u?.passwordHash ?? dummyHash, password);
      if (!u || !ok || u.disabled) {
        failed(name);
        throw new DomainError("unauthorized", accessMessage("login_failed", {}));
      }
      failures.delete(accountKey(name));
      giveBack();
      const now = clock();
      prune(now);
      const t = token("agls_");
      const session: SessionRecord = {
        id: randomUUID(),
        tokenHash: sha256(t),
        userId: u.id,
        csrfToken: token(""),
        createdAt: now,
        lastSeenAt: now,
        expiresAt: now + settings.sessionMaxMs,
        ip,
      };
      await store.insertSession(session);
      sessions.set(session.tokenHash, { ...session, touchedAt: now });
      return { token: t, session, user: publicUser(u) };
    },
    async logout(sessionId: string): Promise<void> {
      for (const [h, s] of sessions)
        if (s.id === sessionId) {
          sessions.delete(h);
          await store.endSessions([s.id], clock());
        }
    },
    /**
     * Reads accounts and live sessions again: another instance on a shared state store changed one (a user made,
     * disabled or deleted, a sign-in, a sign-out, a session's use). A session's last use is the later of the two.
     */
    async reload(): Promise<void> {
      const [fresh, live] = await Promise.all([store.allUsers(), store.liveSessions(clock())]);
      users.clear();
      for (const u of fresh) users.set(u.id, u);
      const held = new Map(sessions);
      sessions.clear();
      for (const s of live) {
        const mine = held.get(s.tokenHash);
        const lastSeenAt = Math.max(s.lastSeenAt, mine?.lastSeenAt ?? 0);
        sessions.set(s.tokenHash, { ...s, lastSeenAt, touchedAt: mine?.touchedAt ?? s.lastSeenAt });
      }
    },
    /** The session of a cookie's token and its user, or null: unknown, ended, expired, idle too long, or its user disabled. */
    session(t: string): { session: SessionRecord; user: PublicUser } | null {
      const h = sha256(t);
      const s = sessions.get(h);
      if (!s) return null;
      const now = clock();
      const u = users.get(s.userId);
      if (!u || u.disabled || now >= s.expiresAt || now - s.lastSeenAt >= settings.sessionIdleMs) {
        sessions.delete(h);
        void store.endSessions([s.id], now).catch(() => undefined);
        return null;
      }
      s.lastSeenAt = now;
      if (now - s.touchedAt >= TOUCH_EVERY_MS) {
        s.touchedAt = now;
        void store.touchSession(s.id, now).catch(() => undefined);
      }
      return { session: s, user: publicUser(u) };
    },
    /** Whether a request's CSRF header is its session's token (compared in constant time). */
    csrfMatches(session: SessionRecord, header: string | undefined): boolean {
      if (!header) return false;
      const a = Buffer.from(header);
      const b = Buffer.from(session.csrfToken);
      return a.length === b.length && timingSafeEqual(a, b);
    },
    /**
     * The first start makes an `admin` account (never again, even once it is deleted), with AGRILUME_ADMIN_PASSWORD
     * or a generated password returned once for printing; either must be changed at the first sign-in.
     */
    async bootstrap(password: string | undefined): Promise<{ name: string; password: string | null } | null> {
      if (await store.anyUserEver()) return null;
      const chosen = password ?? generatePassword();
      const created = await create({ name: "admin", role: "admin", password: chosen });
      return { name: created.name, password: password ? null : chosen };
    },
  };
}
export type Accounts = Awaited<ReturnType<typeof createAccounts>>;
