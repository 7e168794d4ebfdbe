import { createHash, randomBytes, randomUUID } from "node:crypto";
import type { Role } from "./roles.js";
import type { ApiKeyRecord, KeyStore } from "./store.js";

/**
 * API keys: `agl_` + 32 random bytes. Stored as SHA-256: a key is high-entropy random, so a
 * fast hash cannot be brute-forced, and every request can be checked without a slow hash.
 */
const hashKey = (key: string) => createHash("sha256").update(key).digest("hex");

/** Who calls: an API key (machines, integrations) or a signed-in user (people, by session cookie). */
export type Principal = {
  /** The key's id; for a user, the user's id (see `kind`). */
  keyId: string;
  name: string;
  role: Role;
  towns: string[] | null;
  stations: string[] | null;
  kind: "key" | "user";
  /** A user's session: its id and the CSRF token writes must send. */
  session?: { id: string; csrfToken: string };
  /** A user whose password was set by someone else may only change it (and read /api/v1/me, sign out). */
  mustChangePassword?: boolean;
};

export async function createApiKeys(state: KeyStore, clock: () => number = Date.now) {
  /** One per key not revoked (a revoked key leaves): as many as admins make. */
  const byHash = new Map<string, ApiKeyRecord>();
  for (const k of await state.allApiKeys()) if (k.revokedAt === null) byHash.set(k.keyHash, k);

  const create = async (
    input: { name: string; role: Role; towns?: string[] | undefined; stations?: string[] | undefined },
    key = `agl_${randomBytes(32).toString("base64url")}`,
  ) => {
    const record: ApiKeyRecord = {
      id: randomUUID(),
      name: input.name,
      role: input.role,
      keyHash: hashKey(key),
      towns: input.towns ?? null,
      stations: input.stations ?? null,
      createdAt: clock(),
      revokedAt: null,
    };
    await state.insertApiKey(record);
    byHash.set(record.keyHash, record);
    return { id: record.id, key };
  };

  return {
    create,
    /** AGRILUME_ADMIN_KEY is an admin key; otherwise the first start creates one, returned once for printing. */
    async bootstrap(adminKey: string | undefined): Promise<{ created: string | null }> {
      if (adminKey) {
        if (!byHash.has(hashKey(adminKey))) await create({ name: "AGRILUME_ADMIN_KEY", role: "admin" }, adminKey);
        return { created: null };
      }
      const all = await state.allApiKeys();
      if (all.some((k) => k.role === "admin" && k.revokedAt === null)) return { created: null };
      return { created: (await create({ name: "first admin", role: "admin" })).key };
    },
    verify(header: string | undefined): Principal | null {
      const m = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
      const key = m?.[1];
      if (!key) return null;
      const k = byHash.get(hashKey(key));
      return k ? { keyId: k.id, name: k.name, role: k.role, towns: k.towns, stations: k.stations, kind: "key" } : null;
    },
    list: () => [...byHash.values()].map(({ keyHash: _h, ...rest }) => rest),
    /** Reads the keys again: another instance on a shared state store made or revoked one. */
    async reload(): Promise<void> {
      const fresh = await state.allApiKeys();
      byHash.clear();
      for (const k of fresh) if (k.revokedAt === null) byHash.set(k.keyHash, k);
    },
    async revoke(id: string): Promise<boolean> {
      for (const [hash, k] of byHash) {
        if (k.id === id) {
          await state.revokeApiKey(id, clock());
          byHash.delete(hash);
          return true;
        }
      }
      return false;
    },
  };
}
export type ApiKeys = Awaited<ReturnType<typeof createApiKeys>>;
