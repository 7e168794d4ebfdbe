import type { Db, Migration } from "../storage/sql.js";
import type { Role } from "./roles.js";

/** The tables, with the type that holds a JSON list (`JSON` on DuckDB, text on PostgreSQL). */
const usersSql = (json: string) => `
      CREATE TABLE users (
        id VARCHAR PRIMARY KEY, name VARCHAR NOT NULL, role VARCHAR NOT NULL, towns ${json}, stations ${json},
        password_hash VARCHAR NOT NULL, must_change_password BOOLEAN NOT NULL, disabled BOOLEAN NOT NULL,
        created_at TIMESTAMPTZ NOT NULL, password_changed_at TIMESTAMPTZ NOT NULL, deleted_at TIMESTAMPTZ);
      CREATE TABLE sessions (
        id VARCHAR PRIMARY KEY, token_hash VARCHAR NOT NULL UNIQUE, user_id VARCHAR NOT NULL, csrf_token VARCHAR NOT NULL,
        created_at TIMESTAMPTZ NOT NULL, last_seen_at TIMESTAMPTZ NOT NULL, expires_at TIMESTAMPTZ NOT NULL,
        ended_at TIMESTAMPTZ, ip VARCHAR);
      CREATE SEQUENCE audit_seq;
      CREATE TABLE audit_log (
        id BIGINT PRIMARY KEY DEFAULT nextval('audit_seq'), occurred_at TIMESTAMPTZ NOT NULL,
        actor_kind VARCHAR, actor_id VARCHAR, actor_name VARCHAR,
        method VARCHAR NOT NULL, route VARCHAR NOT NULL, object_id VARCHAR, status INTEGER NOT NULL, ip VARCHAR);
      CREATE INDEX audit_occurred_at ON audit_log (occurred_at);
    `;
/** Version 6 of the state database (its access part): user accounts, their sessions and the audit log. */
export const USERS_MIGRATION: Migration = {
  version: 6,
  name: "users, sessions and audit log",
  sql: usersSql("JSON"),
  postgres: usersSql("TEXT"),
};

export type UserRecord = {
  id: string;
  name: string;
  role: Role;
  towns: string[] | null;
  stations: string[] | null;
  passwordHash: string;
  mustChangePassword: boolean;
  disabled: boolean;
  createdAt: number;
  passwordChangedAt: number;
};

export type SessionRecord = {
  id: string;
  tokenHash: string;
  userId: string;
  csrfToken: string;
  createdAt: number;
  lastSeenAt: number;
  expiresAt: number;
  ip: string | null;
};

/** One change someone made (or tried to make): who, what, when, from where. Instants are epoch ms. */
export type AuditEntry = {
  at: number;
  actorKind: "key" | "user" | null;
  actorId: string | null;
  actorName: string | null;
  method: string;
  route: string;
  objectId: string | null;
  status: number;
  ip: string | null;
};

const iso = (t: number) => new Date(t).toISOString();
const json = (v: string[] | null) => (v ? JSON.stringify(v) : null);
const list = (v: string | null) => (v ? (JSON.parse(v) as string[]) : null);

/** Users, sessions (token hashes only) and the audit log as stored. */
export function usersStore(db: Db) {
  return {
    async allUsers(): Promise<UserRecord[]> {
      const rows = await db.all<{
        id: string;
        name: string;
        role: Role;
        towns: string | null;
        stations: string | null;
        password_hash: string;
        must_change_password: boolean;
        disabled: boolean;
        created_at: Date;
        password_changed_at: Date;
      }>("SELECT * FROM users WHERE deleted_at IS NULL ORDER BY created_at");
      return rows.map((r) => ({
        id: r.id,
        name: r.name,
        role: r.role,
        towns: list(r.towns),
        stations: list(r.stations),
        passwordHash: r.password_hash,
        mustChangePassword: r.must_change_password,
        disabled: r.disabled,
        createdAt: r.created_at.getTime(),
        passwordChangedAt: r.password_changed_at.getTime(),
      }));
    },
    /** Whether any account was ever made (a deleted one counts: the first-run account is made once). */
    async anyUserEver(): Promise<boolean> {
      return (await db.all<{ n: bigint }>("SELECT count(*) AS n FROM users"))[0]?.n !== 0n;
    },
    async insertUser(u: UserRecord): Promise<void> {
      await db.run(
        `INSERT INTO users (id, name, role, towns, stations, password_hash, must_change_password, disabled, created_at, password_changed_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          u.id,
          u.name,
          u.role,
          json(u.towns),
          json(u.stations),
          u.passwordHash,
          u.mustChangePassword,
          u.disabled,
          iso(u.createdAt),
          iso(u.passwordChangedAt),
        ],
      );
    },
    async updateUser(u: UserRecord): Promise<void> {
      await db.run(
        `UPDATE users SET role = ?, towns = ?, stations = ?, password_hash = ?, must_change_password = ?, disabled = ?, password_changed_at = ?
         WHERE id = ?`,
        [u.role, json(u.towns), json(u.stations), u.passwordHash, u.mustChangePassword, u.disabled, iso(u.passwordChangedAt), u.id],
      );
    },
    /** A deleted account keeps its row (the audit log names its id); its name is free again (names are unique among the rest). */
    async deleteUser(id: string, at: number): Promise<void> {
      await db.run("UPDATE users SET deleted_at = ?, disabled = true WHERE id = ?", [iso(at), id]);
    },

    async liveSessions(now: number): Promise<SessionRecord[]> {
      const rows = await db.all<{
        id: string;
        token_hash: string;
        user_id: string;
        csrf_token: string;
        created_at: Date;
        last_seen_at: Date;
        expires_at: Date;
        ip: string | null;
      }>("SELECT * FROM sessions WHERE ended_at IS NULL AND expires_at > ?", [iso(now)]);
      return rows.map((r) => ({
        id: r.id,
        tokenHash: r.token_hash,
        userId: r.user_id,
        csrfToken: r.csrf_token,
        createdAt: r.created_at.getTime(),
        lastSeenAt: r.last_seen_at.getTime(),
        expiresAt: r.expires_at.getTime(),
        ip: r.ip,
      }));
    },
    async insertSession(s: SessionRecord): Promise<void> {
      await db.run(
        "INSERT INTO sessions (id, token_hash, user_id, csrf_token, created_at, last_seen_at, expires_at, ip) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [s.id, s.tokenHash, s.userId, s.csrfToken, iso(s.createdAt), iso(s.lastSeenAt), iso(s.expiresAt), s.ip],
      );
    },
    async touchSession(id: string, at: number): Promise<void> {
      await db.run("UPDATE sessions SET last_seen_at = ? WHERE id = ?", [iso(at), id]);
    },
    async endSessions(ids: readonly string[], at: number): Promise<void> {
      for (const id of ids) await db.run("UPDATE sessions SET ended_at = ? WHERE id = ? AND ended_at IS NULL", [iso(at), id]);
    },

    async insertAudit(e: AuditEntry): Promise<void> {
      await db.run(
        "INSERT INTO audit_log (occurred_at, actor_kind, actor_id, actor_name, method, route, object_id, status, ip) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [iso(e.at), e.actorKind, e.actorId, e.actorName, e.method, e.route, e.objectId, e.status, e.ip],
      );
    },
    /** Newest first. */
    async audit(q: {
      limit: number;
      before?: number | undefined;
      actor?: string | undefined;
      route?: string | undefined;
      from?: number | undefined;
      to?: number | undefined;
    }): Promise<(AuditEntry & { id: number })[]> {
      const where: string[] = [];
      const args: (string | number)[] = [];
      const add = (clause: string, ...values: (string | number)[]) => {
        where.push(clause);
        args.push(...values);
      };
      if (q.before !== undefined) add("id < ?", q.before);
      if (q.actor !== undefined) add("(actor_name = ? OR actor_id = ?)", q.actor, q.actor);
      if (q.route !== undefined) add("substr(route, 1, length(?)) = ?", q.route, q.route);
      if (q.from !== undefined) add("occurred_at >= ?", iso(q.from));
      if (q.to !== undefined) add("occurred_at < ?", iso(q.to));
      const rows = await db.all<{
        id: bigint;
        occurred_at: Date;
        actor_kind: "key" | "user" | null;
        actor_id: string | null;
        actor_name: string | null;
        method: string;
        route: string;
        object_id: string | null;
        status: number;
        ip: string | null;
      }>(`SELECT * FROM audit_log ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY id DESC LIMIT ${Math.trunc(q.limit)}`, args);
      return rows.map((r) => ({
        id: Number(r.id),
        at: r.occurred_at.getTime(),
        actorKind: r.actor_kind,
        actorId: r.actor_id,
        actorName: r.actor_name,
        method: r.method,
        route: r.route,
        objectId: r.object_id,
        status: r.status,
        ip: r.ip,
      }));
    },
  };
}
export type UsersStore = ReturnType<typeof usersStore>;
