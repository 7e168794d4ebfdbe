import type { Db, Migration } from "../storage/sql.js";
import type { Role } from "./roles.js";

/** Part of the state database's first version (API keys); later changes get versions of their own. */
export const KEYS_MIGRATION: Migration = {
  version: 1,
  name: "API keys",
  sql: `
      CREATE TABLE api_keys (
        id VARCHAR PRIMARY KEY, name VARCHAR NOT NULL, role VARCHAR NOT NULL, key_hash VARCHAR NOT NULL UNIQUE,
        towns JSON, stations JSON, created_at TIMESTAMPTZ NOT NULL, revoked_at TIMESTAMPTZ);
    `,
  postgres: `
      CREATE TABLE api_keys (
        id VARCHAR PRIMARY KEY, name VARCHAR NOT NULL, role VARCHAR NOT NULL, key_hash VARCHAR NOT NULL UNIQUE,
        towns TEXT, stations TEXT, created_at TIMESTAMPTZ NOT NULL, revoked_at TIMESTAMPTZ);
    `,
};

export type ApiKeyRecord = {
  id: string;
  name: string;
  role: Role;
  keyHash: string;
  towns: string[] | null;
  stations: string[] | null;
  createdAt: number;
  revokedAt: number | null;
};

/** API keys as stored (hashes only). */
export function keyStore(db: Db) {
  return {
    async allApiKeys(): Promise<ApiKeyRecord[]> {
      const rows = await db.all<{
        id: string;
        name: string;
        role: Role;
        key_hash: string;
        towns: string | null;
        stations: string | null;
        created_at: Date;
        revoked_at: Date | null;
      }>("SELECT * FROM api_keys ORDER BY created_at");
      return rows.map((r) => ({
        id: r.id,
        name: r.name,
        role: r.role,
        keyHash: r.key_hash,
        towns: r.towns ? (JSON.parse(r.towns) as string[]) : null,
        stations: r.stations ? (JSON.parse(r.stations) as string[]) : null,
        createdAt: r.created_at.getTime(),
        revokedAt: r.revoked_at ? r.revoked_at.getTime() : null,
      }));
    },
    async insertApiKey(k: ApiKeyRecord): Promise<void> {
      await db.run("INSERT INTO api_keys (id, name, role, key_hash, towns, stations, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)", [
        k.id,
        k.name,
        k.role,
        k.keyHash,
        k.towns ? JSON.stringify(k.towns) : null,
        k.stations ? JSON.stringify(k.stations) : null,
        new Date(k.createdAt).toISOString(),
      ]);
    },
    async revokeApiKey(id: string, at: number): Promise<void> {
      await db.run("UPDATE api_keys SET revoked_at = ? WHERE id = ?", [new Date(at).toISOString(), id]);
    },
  };
}
export type KeyStore = ReturnType<typeof keyStore>;
