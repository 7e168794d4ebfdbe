import type { Db, Migration } from "../storage/duckdb.js";
import type { Claim, Project } from "./claims.js";

export const VERIFICATION_MIGRATION: Migration = {
  version: 4,
  name: "verification: projects, claims, reports",
  sql: `
    CREATE TABLE projects (id VARCHAR PRIMARY KEY, body JSON NOT NULL);
    CREATE TABLE claims (device_id VARCHAR PRIMARY KEY, project_id VARCHAR NOT NULL, body JSON NOT NULL);
    CREATE TABLE reports (id VARCHAR PRIMARY KEY, kind VARCHAR NOT NULL, params JSON NOT NULL, digest VARCHAR NOT NULL, key_name VARCHAR, created_at TIMESTAMPTZ NOT NULL);
  `,
};

export type ReportLog = { id: string; kind: string; params: Record<string, unknown>; digest: string; keyName: string | null; createdAt: number };

export function verificationStore(db: Db) {
  return {
    async projects(): Promise<Project[]> {
      return (await db.all<{ body: string }>("SELECT body FROM projects ORDER BY id")).map((r) => JSON.parse(r.body) as Project);
    },
    async claims(): Promise<Claim[]> {
      return (await db.all<{ body: string }>("SELECT body FROM claims ORDER BY device_id")).map((r) => JSON.parse(r.body) as Claim);
    },
    /** `claims()` as the text of one JSON array, made by DuckDB: one string for this thread instead of a row each (for a worker thread to parse). */
    async claimsJson(): Promise<string> {
      const rows = await db.all<{ json: string }>("SELECT '[' || coalesce(string_agg(body, ',' ORDER BY device_id), '') || ']' AS json FROM claims");
      return rows[0]?.json ?? "[]";
    },
    /** Upserts; returns how many rows were new, changed or already the same (importing a file twice changes nothing). */
    async upsert(projects: Project[], claims: Claim[]): Promise<{ created: number; updated: number; unchanged: number }> {
      const before = new Map(
        (await db.all<{ device_id: string; body: string }>("SELECT device_id, body FROM claims")).map((r) => [r.device_id, r.body]),
      );
      const beforeP = new Map((await db.all<{ id: string; body: string }>("SELECT id, body FROM projects")).map((r) => [r.id, r.body]));
      let created = 0;
      let updated = 0;
      let unchanged = 0;
      await db.tx(async (t) => {
        for (const p of projects) {
          const body = JSON.stringify(p);
          if (beforeP.get(p.id) !== body) await t.run("INSERT OR REPLACE INTO projects (id, body) VALUES (?, ?)", [p.id, body]);
        }
        for (const c of claims) {
          const body = JSON.stringify(c);
          const old = before.get(c.deviceId);
          if (old === body) {
            unchanged++;
            continue;
          }
          if (old === undefined) created++;
          else updated++;
          await t.run("INSERT OR REPLACE INTO claims (device_id, project_id, body) VALUES (?, ?, ?)", [c.deviceId, c.projectId, body]);
        }
      });
      return { created, updated, unchanged };
    },
    async logReport(r: ReportLog) {
      await db.run("INSERT INTO reports (id, kind, params, digest, key_name, created_at) VALUES (?, ?, ?, ?, ?, ?)", [
        r.id,
        r.kind,
        JSON.stringify(r.params),
        r.digest,
        r.keyName,
        new Date(r.createdAt).toISOString(),
      ]);
    },
    async reports(limit: number): Promise<ReportLog[]> {
      const rows = await db.all<{ id: string; kind: string; params: string; digest: string; key_name: string | null; created_at: Date }>(
        `SELECT * FROM reports ORDER BY created_at DESC LIMIT ${Math.trunc(limit)}`,
      );
      return rows.map((r) => ({
        id: r.id,
        kind: r.kind,
        params: JSON.parse(r.params) as Record<string, unknown>,
        digest: r.digest,
        keyName: r.key_name,
        createdAt: r.created_at.getTime(),
      }));
    },
  };
}
export type VerificationStore = ReturnType<typeof verificationStore>;
