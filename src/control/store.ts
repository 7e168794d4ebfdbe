import type { Db, Migration, SqlValue } from "../storage/sql.js";

/** A command's delivery (PROTOCOL.md §3a): created → sent → applied | rejected | expired; a campaign's unsent ones may be cancelled. */
export const COMMAND_STATES = ["created", "sent", "applied", "rejected", "expired", "cancelled"] as const;
export type CommandState = (typeof COMMAND_STATES)[number];
export const PENDING: readonly CommandState[] = ["created", "sent"];

export type LightCommand = {
  id: string;
  deviceId: string;
  town: string | null;
  campaignId: string | null;
  name: "profile" | "override" | "config" | "time";
  /** The command's own body, as sent after `id` (e.g. `{ profile: {…} }`'s inside). */
  body: unknown;
  state: CommandState;
  /** Who asked: a user's or key's name, or `service` (clock sync). */
  createdBy: string;
  createdAt: number;
  sentAt: number | null;
  /** How many times it was published (again on each reconnect while unanswered). */
  sends: number;
  answeredAt: number | null;
  expiresAt: number;
  /** The light's reason when it rejected it. */
  reason: string | null;
};

/** What a light last applied (its answers), by device. */
export type Applied = {
  deviceId: string;
  profile: { commandId: string; body: unknown; at: number } | null;
  override: { commandId: string; action: "on" | "off" | "dim"; pct: number | null; from: number; until: number } | null;
  config: { commandId: string; body: unknown; at: number } | null;
  /** The last command it rejected, and why. */
  rejected: { commandId: string; name: string; reason: string; at: number } | null;
  /** The light's clock offset (its clock − the service's, ms) when last seen, and when the service last sent it the time. */
  clockOffsetMs: number | null;
  timeSentAt: number | null;
};

export type Campaign = {
  id: string;
  name: string;
  target: { town?: string | undefined; village?: string | undefined; road?: string | undefined; deviceIds?: string[] | undefined };
  /** The place the campaign is in, for scope: its town (null when its lights span several towns). */
  town: string | null;
  command: { name: "profile" | "override" | "config"; body: unknown };
  state: "running" | "paused" | "cancelled" | "done";
  createdBy: string;
  createdAt: number;
  expiresAt: number;
  lights: number;
  estimate: unknown;
};

export const CONTROL_MIGRATION: Migration = {
  version: 11,
  name: "light commands and what each light applied",
  sql: `
    CREATE TABLE light_commands (id VARCHAR PRIMARY KEY, device_id VARCHAR NOT NULL, town VARCHAR, campaign_id VARCHAR, name VARCHAR NOT NULL,
      state VARCHAR NOT NULL, created_by VARCHAR NOT NULL, created_at BIGINT NOT NULL, sent_at BIGINT, sends INTEGER NOT NULL,
      answered_at BIGINT, expires_at BIGINT NOT NULL, reason VARCHAR, body JSON NOT NULL);
    CREATE TABLE light_applied (device_id VARCHAR PRIMARY KEY, body JSON NOT NULL);
  `,
  postgres: `
    CREATE TABLE light_commands (id VARCHAR PRIMARY KEY, device_id VARCHAR NOT NULL, town VARCHAR, campaign_id VARCHAR, name VARCHAR NOT NULL,
      state VARCHAR NOT NULL, created_by VARCHAR NOT NULL, created_at BIGINT NOT NULL, sent_at BIGINT, sends INTEGER NOT NULL,
      answered_at BIGINT, expires_at BIGINT NOT NULL, reason VARCHAR, body TEXT NOT NULL);
    CREATE INDEX light_commands_campaign ON light_commands (campaign_id);
    CREATE INDEX light_commands_device ON light_commands (device_id);
    CREATE TABLE light_applied (device_id VARCHAR PRIMARY KEY, body TEXT NOT NULL);
  `,
};

export const CAMPAIGN_MIGRATION: Migration = {
  version: 12,
  name: "light campaigns",
  sql: "CREATE TABLE light_campaigns (id VARCHAR PRIMARY KEY, state VARCHAR NOT NULL, created_at BIGINT NOT NULL, body JSON NOT NULL);",
  postgres: "CREATE TABLE light_campaigns (id VARCHAR PRIMARY KEY, state VARCHAR NOT NULL, created_at BIGINT NOT NULL, body TEXT NOT NULL);",
};

/**
 * Each profile a light applied, from the time it answered (issue 22): a past night is judged by the profile the light
 * had applied that night, not the one it runs now. Filled at migration from what each light applied then.
 */
export const PROFILE_HISTORY_MIGRATION: Migration = {
  version: 13,
  name: "the profiles each light applied, from when",
  sql: `
    CREATE TABLE light_profiles (device_id VARCHAR NOT NULL, applied_at BIGINT NOT NULL, command_id VARCHAR NOT NULL, body JSON NOT NULL,
      PRIMARY KEY (device_id, applied_at, command_id));
    INSERT INTO light_profiles SELECT device_id, CAST(json_extract_string(body, '$.profile.at') AS BIGINT),
      json_extract_string(body, '$.profile.commandId'), json_extract(body, '$.profile.body') FROM light_applied
      WHERE json_type(body, '$.profile') = 'OBJECT';
  `,
  postgres: `
    CREATE TABLE light_profiles (device_id VARCHAR NOT NULL, applied_at BIGINT NOT NULL, command_id VARCHAR NOT NULL, body TEXT NOT NULL,
      PRIMARY KEY (device_id, applied_at, command_id));
    INSERT INTO light_profiles SELECT device_id, (body::json->'profile'->>'at')::BIGINT, body::json->'profile'->>'commandId',
      (body::json->'profile'->'body')::TEXT FROM light_applied WHERE json_typeof(body::json->'profile') = 'object';
  `,
};

/** A profile a light applied, from `at` (its answer) until the next one. */
export type AppliedProfile = { deviceId: string; at: number; commandId: string; body: unknown };

type Row = {
  id: string;
  device_id: string;
  town: string | null;
  campaign_id: string | null;
  name: string;
  state: string;
  created_by: string;
  created_at: bigint | number;
  sent_at: bigint | number | null;
  sends: number | bigint;
  answered_at: bigint | number | null;
  expires_at: bigint | number;
  reason: string | null;
  body: string;
};
const num = (v: bigint | number | null) => (v === null ? null : Number(v));
const fromRow = (r: Row): LightCommand => ({
  id: r.id,
  deviceId: r.device_id,
  town: r.town,
  campaignId: r.campaign_id,
  name: r.name as LightCommand["name"],
  body: JSON.parse(r.body),
  state: r.state as CommandState,
  createdBy: r.created_by,
  createdAt: Number(r.created_at),
  sentAt: num(r.sent_at),
  sends: Number(r.sends),
  answeredAt: num(r.answered_at),
  expiresAt: Number(r.expires_at),
  reason: r.reason,
});
const COLS = "id, device_id, town, campaign_id, name, state, created_by, created_at, sent_at, sends, answered_at, expires_at, reason, body";
const values = (c: LightCommand): SqlValue[] => [
  c.id,
  c.deviceId,
  c.town,
  c.campaignId,
  c.name,
  c.state,
  c.createdBy,
  c.createdAt,
  c.sentAt,
  c.sends,
  c.answeredAt,
  c.expiresAt,
  c.reason,
  JSON.stringify(c.body),
];

/** Commands, what each light applied, and campaigns, in the state store (both engines: src/storage/sql.ts). */
export function controlStore(db: Db, checkpointKey = "control_seq") {
  const row = `(${COLS.split(",")
    .map(() => "?")
    .join(", ")})`;
  const upsertMany = (n: number) => `INSERT INTO light_commands (${COLS}) VALUES ${Array.from({ length: n }, () => row).join(", ")}
    ON CONFLICT (id) DO UPDATE SET state = excluded.state, sent_at = excluded.sent_at, sends = excluded.sends,
      answered_at = excluded.answered_at, reason = excluded.reason, body = excluded.body`;
  const upsert = upsertMany(1);
  return {
    /** Commands new or changed, written together. */
    async writeCommands(cs: readonly LightCommand[]) {
      if (cs.length === 0) return;
      await db.tx(async (t) => {
        // (several rows a statement: a campaign to a district writes 18,105 at once)
        for (let i = 0; i < cs.length; i += 200) {
          const part = cs.slice(i, i + 200);
          await t.run(upsertMany(part.length), part.flatMap(values));
        }
      });
    },
    async command(id: string): Promise<LightCommand | undefined> {
      return (await db.all<Row>(`SELECT ${COLS} FROM light_commands WHERE id = ?`, [id])).map(fromRow)[0];
    },
    /** Commands not yet answered, expired or cancelled (read at start). */
    async pending(): Promise<LightCommand[]> {
      return (await db.all<Row>(`SELECT ${COLS} FROM light_commands WHERE state IN ('created', 'sent') ORDER BY created_at, id`)).map(fromRow);
    },
    /** Commands by light or campaign, newest first. */
    async list(q: {
      deviceId?: string | undefined;
      campaignId?: string | undefined;
      name?: string | undefined;
      state?: CommandState | undefined;
      towns?: readonly string[] | undefined;
      limit: number;
    }): Promise<LightCommand[]> {
      const where: string[] = [];
      const params: SqlValue[] = [];
      if (q.name) {
        where.push("name = ?");
        params.push(q.name);
      }
      if (q.deviceId) {
        where.push("device_id = ?");
        params.push(q.deviceId);
      }
      if (q.campaignId) {
        where.push("campaign_id = ?");
        params.push(q.campaignId);
      }
      if (q.state) {
        where.push("state = ?");
        params.push(q.state);
      }
      if (q.towns) {
        if (q.towns.length === 0) return [];
        where.push(`town IN (${q.towns.map(() => "?").join(", ")})`);
        params.push(...q.towns);
      }
      const rows = await db.all<Row>(
        `SELECT ${COLS} FROM light_commands ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY created_at DESC, id LIMIT ${Math.trunc(q.limit)}`,
        params,
      );
      return rows.map(fromRow);
    },
    /** A campaign's commands counted by state. */
    async countsOf(campaignId: string): Promise<{ byState: Partial<Record<CommandState, number>>; sent: number }> {
      const rows = await db.all<{ state: string; n: bigint | number; sent: bigint | number }>(
        "SELECT state, count(*) AS n, count(CASE WHEN sent_at IS NOT NULL THEN 1 END) AS sent FROM light_commands WHERE campaign_id = ? GROUP BY state",
        [campaignId],
      );
      return { byState: Object.fromEntries(rows.map((r) => [r.state, Number(r.n)])), sent: rows.reduce((n, r) => n + Number(r.sent), 0) };
    },
    /** When each light of a campaign applied its command (the lights that did). */
    async appliedIn(campaignId: string): Promise<Map<string, number>> {
      const rows = await db.all<{ device_id: string; answered_at: bigint | number }>(
        "SELECT device_id, answered_at FROM light_commands WHERE campaign_id = ? AND state = 'applied'",
        [campaignId],
      );
      return new Map(rows.map((r) => [r.device_id, Number(r.answered_at)]));
    },
    async allApplied(): Promise<Applied[]> {
      return (await db.all<{ body: string }>("SELECT body FROM light_applied")).map((r) => JSON.parse(r.body) as Applied);
    },
    async checkpoint(): Promise<number> {
      const rows = await db.all<{ value: string }>("SELECT value FROM meta WHERE key = ?", [checkpointKey]);
      return rows[0] ? Number(rows[0].value) : 0;
    },
    /** The answers of one write: commands and applied settings changed, profiles newly applied, and the checkpoint, in one transaction. */
    async writeAnswers(
      cs: readonly LightCommand[],
      applied: readonly Applied[],
      checkpoint: number | null,
      profiles: readonly AppliedProfile[] = [],
    ) {
      await db.tx(async (t) => {
        for (const c of cs) await t.run(upsert, values(c));
        for (const p of profiles) {
          await t.run("INSERT INTO light_profiles (device_id, applied_at, command_id, body) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING", [
            p.deviceId,
            p.at,
            p.commandId,
            JSON.stringify(p.body),
          ]);
        }
        for (const a of applied) {
          await t.run("INSERT INTO light_applied (device_id, body) VALUES (?, ?) ON CONFLICT (device_id) DO UPDATE SET body = excluded.body", [
            a.deviceId,
            JSON.stringify(a),
          ]);
        }
        if (checkpoint !== null) {
          await t.run("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", [
            checkpointKey,
            String(checkpoint),
          ]);
        }
      });
    },
    /** Every light's profile history, oldest first (read at start; kept short by `prune`). */
    async profileHistory(): Promise<AppliedProfile[]> {
      const rows = await db.all<{ device_id: string; applied_at: bigint | number; command_id: string; body: string }>(
        "SELECT device_id, applied_at, command_id, body FROM light_profiles ORDER BY device_id, applied_at, command_id",
      );
      return rows.map((r) => ({ deviceId: r.device_id, at: Number(r.applied_at), commandId: r.command_id, body: JSON.parse(r.body) }));
    },
    /**
     * The retention (docs/DATA.md): commands finished (applied, rejected, expired, cancelled) before `before`, never
     * one still pending; the campaigns created before it that have no command left; and profiles a light stopped
     * running before it (each light's profile in force at `before` is kept: a night after it is judged by it).
     */
    async prune(before: number): Promise<{ commands: number; campaigns: number; profiles: number }> {
      return db.tx(async (t) => {
        const count = async (sql: string, params: SqlValue[]) => Number((await t.all<{ n: bigint | number }>(sql, params))[0]?.n ?? 0);
        const finished = "state NOT IN ('created', 'sent') AND COALESCE(answered_at, created_at) < ?";
        const commands = await count(`SELECT count(*) AS n FROM light_commands WHERE ${finished}`, [before]);
        await t.run(`DELETE FROM light_commands WHERE ${finished}`, [before]);
        const orphan = "created_at < ? AND NOT EXISTS (SELECT 1 FROM light_commands c WHERE c.campaign_id = light_campaigns.id)";
        const campaigns = await count(`SELECT count(*) AS n FROM light_campaigns WHERE ${orphan}`, [before]);
        await t.run(`DELETE FROM light_campaigns WHERE ${orphan}`, [before]);
        // a profile replaced by a later one that was applied before the cutoff
        const replaced = `applied_at < ? AND EXISTS (SELECT 1 FROM light_profiles n WHERE n.device_id = light_profiles.device_id
          AND n.applied_at > light_profiles.applied_at AND n.applied_at <= ?)`;
        const profiles = await count(`SELECT count(*) AS n FROM light_profiles WHERE ${replaced}`, [before, before]);
        await t.run(`DELETE FROM light_profiles WHERE ${replaced}`, [before, before]);
        return { commands, campaigns, profiles };
      });
    },
    async putCampaign(c: Campaign) {
      await db.run(
        "INSERT INTO light_campaigns (id, state, created_at, body) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET state = excluded.state, body = excluded.body",
        [c.id, c.state, c.createdAt, JSON.stringify(c)],
      );
    },
    async campaign(id: string): Promise<Campaign | undefined> {
      return (await db.all<{ body: string }>("SELECT body FROM light_campaigns WHERE id = ?", [id])).map((r) => JSON.parse(r.body) as Campaign)[0];
    },
    async campaigns(limit: number): Promise<Campaign[]> {
      return (await db.all<{ body: string }>(`SELECT body FROM light_campaigns ORDER BY created_at DESC, id LIMIT ${Math.trunc(limit)}`)).map(
        (r) => JSON.parse(r.body) as Campaign,
      );
    },
  };
}
export type ControlStore = ReturnType<typeof controlStore>;
