import { type BigText, bigText, type Db, jsonText, type Migration } from "../storage/sql.js";
import type { Claim, Project } from "./claims.js";

export const VERIFICATION_MIGRATION: Migration = {
  version: 4,
  name: "verification: projects, claims, reports",
  sql: `
    CREATE TABLE projects (id VARCHAR PRIMARY KEY, body JSON NOT NULL);
    CREATE TABLE claims (device_id VARCHAR PRIMARY KEY, project_id VARCHAR NOT NULL, body JSON NOT NULL);
    CREATE TABLE reports (id VARCHAR PRIMARY KEY, kind VARCHAR NOT NULL, params JSON NOT NULL, digest VARCHAR NOT NULL, key_name VARCHAR, created_at TIMESTAMPTZ NOT NULL);
  `,
  postgres: `
    CREATE TABLE projects (id VARCHAR PRIMARY KEY, body TEXT NOT NULL);
    CREATE TABLE claims (device_id VARCHAR PRIMARY KEY, project_id VARCHAR NOT NULL, body TEXT NOT NULL);
    CREATE TABLE reports (id VARCHAR PRIMARY KEY, kind VARCHAR NOT NULL, params TEXT NOT NULL, digest VARCHAR NOT NULL, key_name VARCHAR, created_at TIMESTAMPTZ NOT NULL);
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
    /** The claims as the text of a JSON array, for a worker thread (`readBigText`). */
    claimsText: (): Promise<BigText> =>
      bigText(db, "SELECT '[' || coalesce(string_agg(body, ',' ORDER BY device_id), '') || ']' AS json FROM claims", [], "[]"),
    /**
     * Upserts; returns how many rows were new, changed or already the same (importing a file twice changes nothing).
     * The claims come as parts of JSON lines (`ClaimLines`): each part is one parameter, split and read by the database into a
     * staging table, and the comparison and the upsert are set operations there (100,000 claims as single-row
     * statements held the service's thread for minutes and DuckDB's memory grew past 3 GB: docs/BENCHMARKS.md).
     */
    async upsert(
      projects: Project[],
      claimParts: readonly string[],
      /**
       * Told, before anything changes, the towns of the stored projects and claims this file would overwrite (a project
       * id or a light already there) and of the registered lights it claims; it throws to refuse the import, which then
       * changes nothing.
       */
      overwrites: (towns: string[]) => void = () => {},
    ): Promise<{ created: number; updated: number; unchanged: number; projectsCreated: number; projectsUpdated: number }> {
      const pg = db.dialect === "postgres";
      const field = (name: string) => jsonText(db.dialect, "line", name);
      const stage = (table: string, key: string) =>
        `INSERT INTO ${table} SELECT ${field(key)}, ${table === "claims_in" ? `${field("projectId")}, ` : ""}line
         FROM (SELECT unnest(${pg ? "string_to_array" : "string_split"}(?, chr(10))) AS line) AS lines WHERE line <> ''`;
      // (PostgreSQL drops the staging tables with the transaction; DuckDB has no ON COMMIT DROP, so they are dropped below)
      const temp = (table: string, columns: string) =>
        pg ? `CREATE TEMP TABLE ${table} (${columns}) ON COMMIT DROP` : `CREATE OR REPLACE TEMP TABLE ${table} (${columns})`;
      return db.tx(async (t) => {
        await t.run(temp("projects_in", "id VARCHAR NOT NULL, body VARCHAR NOT NULL"));
        await t.run(temp("claims_in", "device_id VARCHAR NOT NULL, project_id VARCHAR NOT NULL, body VARCHAR NOT NULL"));
        if (projects.length > 0) await t.run(stage("projects_in", "id"), [projects.map((p) => JSON.stringify(p)).join("\n")]);
        for (const part of claimParts) await t.run(stage("claims_in", "deviceId"), [part]);
        const town = jsonText(db.dialect, "p.body", "town");
        // ...and the towns the registry puts the claimed lights in: a claim is evidence about a light, so it may name
        // only a light of the caller's towns (the registry's table, read in the same transaction)
        const touched = await t.all<{ town: string }>(
          `SELECT DISTINCT ${town} AS town FROM projects p WHERE p.id IN (SELECT id FROM projects_in)
              OR p.id IN (SELECT c.project_id FROM claims c JOIN claims_in i ON c.device_id = i.device_id)
           UNION SELECT DISTINCT d.town FROM devices d JOIN claims_in i ON d.id = i.device_id WHERE d.town IS NOT NULL`,
        );
        overwrites(touched.map((r) => r.town));
        const [pn] = await t.all<{ created: bigint; updated: bigint }>(
          `SELECT count(CASE WHEN p.id IS NULL THEN 1 END) AS created,
                  count(CASE WHEN p.id IS NOT NULL AND CAST(p.body AS VARCHAR) <> i.body THEN 1 END) AS updated
           FROM projects_in i LEFT JOIN projects p ON p.id = i.id`,
        );
        const [n] = await t.all<{ created: bigint; updated: bigint; unchanged: bigint }>(
          `SELECT count(CASE WHEN c.device_id IS NULL THEN 1 END) AS created,
                  count(CASE WHEN c.device_id IS NOT NULL AND CAST(c.body AS VARCHAR) <> i.body THEN 1 END) AS updated,
                  count(CASE WHEN CAST(c.body AS VARCHAR) = i.body THEN 1 END) AS unchanged
           FROM claims_in i LEFT JOIN claims c ON c.device_id = i.device_id`,
        );
        await t.run("DELETE FROM projects_in i USING projects p WHERE p.id = i.id AND CAST(p.body AS VARCHAR) = i.body");
        await t.run("INSERT INTO projects (id, body) SELECT id, body FROM projects_in ON CONFLICT (id) DO UPDATE SET body = excluded.body");
        await t.run("DELETE FROM claims_in i USING claims c WHERE c.device_id = i.device_id AND CAST(c.body AS VARCHAR) = i.body");
        await t.run(
          "INSERT INTO claims (device_id, project_id, body) SELECT device_id, project_id, body FROM claims_in ON CONFLICT (device_id) DO UPDATE SET project_id = excluded.project_id, body = excluded.body",
        );
        // (a failed statement rolls the transaction back, and the staging tables with it)
        if (!pg) {
          await t.run("DROP TABLE temp.projects_in");
          await t.run("DROP TABLE temp.claims_in");
        }
        return {
          created: Number(n?.created ?? 0),
          updated: Number(n?.updated ?? 0),
          unchanged: Number(n?.unchanged ?? 0),
          projectsCreated: Number(pn?.created ?? 0),
          projectsUpdated: Number(pn?.updated ?? 0),
        };
      });
    },
    /** One claim with its project's town and village (a field visit's), or undefined. */
    async claimAt(deviceId: string): Promise<{ claim: Claim; project: Project | null } | undefined> {
      const [row] = await db.all<{ claim: string; project: string | null }>(
        "SELECT c.body AS claim, p.body AS project FROM claims c LEFT JOIN projects p ON p.id = c.project_id WHERE c.device_id = ?",
        [deviceId],
      );
      return row ? { claim: JSON.parse(row.claim) as Claim, project: row.project === null ? null : (JSON.parse(row.project) as Project) } : undefined;
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
