import { KEYS_MIGRATION, keyStore } from "./access/store.js";
import { USERS_MIGRATION, usersStore } from "./access/users-store.js";
import { ALERTS_MIGRATION, ALERTS_ONE_OPEN_MIGRATION } from "./alerts/store.js";
import { BLENDING_MIGRATION } from "./blending/store.js";
import { CAMPAIGN_MIGRATION, CONTROL_MIGRATION, PROFILE_HISTORY_MIGRATION } from "./control/store.js";
import { FIELDWORK_MIGRATION } from "./fieldwork/store.js";
import { VISITS_MIGRATION } from "./fieldwork/visits.js";
import { PRESENCE_LAST_SEEN_MIGRATION, PRESENCE_MIGRATION, presenceStore } from "./ingest/presence-store.js";
import { REJECTS_MIGRATION, rejectStore } from "./ingest/rejects.js";
import { deviceStore, REGISTRY_BROKER_HASH_MIGRATION, REGISTRY_MIGRATION } from "./registry/store.js";
import { CLAIMS_MIGRATION } from "./storage/claims.js";
import { openStateDb } from "./storage/state-db.js";
import { STREETLIGHT_MIGRATION } from "./streetlights/store.js";
import { VERIFICATION_MIGRATION } from "./verification/store.js";

/** Every owner's tables in the state database, in the order their versions were introduced. */
export const STATE_MIGRATIONS = [
  REGISTRY_MIGRATION,
  KEYS_MIGRATION,
  REJECTS_MIGRATION,
  PRESENCE_MIGRATION,
  BLENDING_MIGRATION,
  STREETLIGHT_MIGRATION,
  VERIFICATION_MIGRATION,
  ALERTS_MIGRATION,
  USERS_MIGRATION,
  REGISTRY_BROKER_HASH_MIGRATION,
  FIELDWORK_MIGRATION,
  VISITS_MIGRATION,
  CLAIMS_MIGRATION,
  ALERTS_ONE_OPEN_MIGRATION,
  CONTROL_MIGRATION,
  CAMPAIGN_MIGRATION,
  PROFILE_HISTORY_MIGRATION,
  PRESENCE_LAST_SEEN_MIGRATION,
];

/**
 * Part of the composition root: opens the state database with every feature's migrations and hands each owner its
 * own queries. (Features build their stores on `db` themselves; these four are shared by several parts.)
 */
export async function openStateStore(dataDir: string, opts: { url?: string | undefined; instance?: string } = {}) {
  const base = await openStateDb(dataDir, STATE_MIGRATIONS, opts);
  const keys = keyStore(base.db);
  const devices = deviceStore(base.db);
  /** On a shared store, every instance hears of a change (best effort: missed, it is read at the next start). */
  const changed = (topic: string, payload?: string) => base.db.notify?.(topic, payload).catch(() => undefined);
  /** The devices' ids, a line each, or "*" (read them all) past what one notification carries (under 8,000 bytes). */
  const devicesChanged = (ids: readonly string[]) => {
    const payload = ids.join("\n");
    return changed("devices", payload.length < 7000 ? payload : "*");
  };
  /** A checkpoint's key in `meta`: the instance's own where the store may be shared (a write-ahead log's seqs are its own). */
  const checkpointKey = (name: string) => (opts.url && opts.instance ? `${name}@${opts.instance}` : name);
  return {
    ...base,
    devices: {
      ...devices,
      insertDevices: async (ds: Parameters<typeof devices.insertDevices>[0]) => {
        await devices.insertDevices(ds);
        await devicesChanged(ds.map((d) => d.id));
      },
      updateDevice: async (d: Parameters<typeof devices.updateDevice>[0]) => {
        await devices.updateDevice(d);
        await devicesChanged([d.id]);
      },
    },
    keys: {
      ...keys,
      insertApiKey: async (k: Parameters<typeof keys.insertApiKey>[0]) => {
        await keys.insertApiKey(k);
        await changed("keys");
      },
      revokeApiKey: async (id: string, at: number) => {
        await keys.revokeApiKey(id, at);
        await changed("keys");
      },
    },
    users: accountsAnnounced(usersStore(base.db), () => changed("accounts", opts.instance)),
    rejects: rejectStore(base.db, checkpointKey("rejects_seq")),
    checkpointKey,
    presence: presenceStore(base.db),
  };
}
export type StateStore = Awaited<ReturnType<typeof openStateStore>>;

/**
 * The accounts store, with every change of an account or a session announced (`accounts`), so that other instances on
 * a shared state store read them again: a user disabled on one instance cannot sign in, nor keep a session, on another.
 */
function accountsAnnounced(users: ReturnType<typeof usersStore>, changed: () => Promise<unknown> | undefined): ReturnType<typeof usersStore> {
  const announced =
    <A extends unknown[]>(fn: (...a: A) => Promise<void>) =>
    async (...a: A) => {
      await fn(...a);
      await changed();
    };
  return {
    ...users,
    insertUser: announced(users.insertUser),
    updateUser: announced(users.updateUser),
    deleteUser: announced(users.deleteUser),
    insertSession: announced(users.insertSession),
    touchSession: announced(users.touchSession),
    endSessions: announced(users.endSessions),
  };
}
