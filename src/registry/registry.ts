import { z } from "zod";
import { CHEMISTRIES, DeviceIdSchema, type Family, MaterialCodeSchema, ProfileSchema } from "../../devices/index.js";
import { createVerifiedCache, hashSecret, mosquittoHashAsync, newSecret, verifySecret } from "./secrets.js";
import type { DeviceRecord, DeviceStore } from "./store.js";

const text = (max: number) => z.string().trim().min(1).max(max);
const Common = {
  id: DeviceIdSchema,
  name: text(100).optional(),
  town: text(64),
  village: text(64).optional(),
};

/** What a registration carries (POST /api/v1/devices and the CSV import). */
export const StreetlightInputSchema = z.object({
  ...Common,
  family: z.literal("streetlight"),
  lat: z.number().min(-90).max(90),
  lon: z.number().min(-180).max(180),
  projectId: text(64).optional(),
  lampW: z.number().positive().max(500).optional(),
  panelWp: z.number().positive().max(1000).optional(),
  batteryAh: z.number().positive().max(2000).optional(),
  /** The battery's chemistry and nominal voltage: the range a low-voltage disconnect may be set to (DOMAIN.md §2). */
  batteryChemistry: z.enum(CHEMISTRIES).optional(),
  systemV: z.union([z.literal(12), z.literal(24)]).optional(),
  /** The road it stands on, for campaigns by road. */
  road: text(64).optional(),
  controllerSerial: text(64).optional(),
  moduleImei: z
    .string()
    .regex(/^\d{15}$/, "hint_imei")
    .optional(),
  /** Lighting profile: dusk to dawn by default; dusk plus N hours; dimming stages (devices/streetlight.ts). */
  profile: ProfileSchema.optional(),
  /** The day it was installed (China date); a light silent past it plus the grace period raises an alert. Default: the day it is registered. */
  installedOn: z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}$/, "hint_date")
    .optional(),
});
export const BlenderInputSchema = z.object({
  ...Common,
  family: z.literal("blender"),
  station: text(64),
  lat: z.number().min(-90).max(90).optional(),
  lon: z.number().min(-180).max(180).optional(),
  hopperMaterials: z.array(MaterialCodeSchema).min(1).max(32),
});
export const DeviceInputSchema = z.discriminatedUnion("family", [StreetlightInputSchema, BlenderInputSchema]);
export type DeviceInput = z.infer<typeof DeviceInputSchema>;

/**
 * What changed in the registry that a broker holding its own copy of the accounts must hear of (src/transport's
 * Mosquitto files, EMQX's connected clients): devices registered, a secret rotated, disabled or enabled, or a broker
 * hash learnt for a device registered before they were kept.
 */
export type RegistryChange = { kind: "registered" | "rotated" | "disabled" | "enabled" | "learnt"; ids: readonly string[] };

export type AuthResult = { ok: true; device: DeviceRecord } | { ok: false; reason: "unknown_device" | "bad_secret" | "disabled" };

const COLUMNS = new Set(["id", "family", "name", "town", "village", "station", "lat", "lon"]);

export type Registry = Awaited<ReturnType<typeof createRegistry>>;

/** The device registry: all devices in memory (lookups on every message), persisted in the state store. */
export async function createRegistry(state: DeviceStore, clock: () => number = Date.now) {
  const listeners = new Set<(change: RegistryChange) => void>();
  /** Tells every listener; a listener that throws is its own problem (it logs), never the registry's caller's. */
  const changed = (change: RegistryChange) => {
    for (const l of listeners) {
      try {
        l(change);
      } catch {
        // (listeners handle their own failures)
      }
    }
  };
  /** Broker hashes learnt from a proved secret, written together (a dusk of reconnects after an upgrade: one write a second). */
  let learning: Map<string, string> | null = null;
  /** Devices whose broker hash is being made (in the scrypt threads: `mosquittoHashAsync`). */
  const hashing = new Set<string>();
  const learn = (id: string, secret: string) => {
    if (learning?.has(id) || hashing.has(id)) return;
    hashing.add(id);
    const proved = byId.get(id)?.secretHash;
    mosquittoHashAsync(secret).then(
      (brokerHash) => {
        hashing.delete(id);
        if (byId.get(id)?.secretHash === proved) learnt(id, brokerHash); // (not if rotated meanwhile)
      },
      () => hashing.delete(id), // (the threads refused it: learnt at the device's next connect)
    );
  };
  const learnt = (id: string, brokerHash: string) => {
    if (!learning) {
      const batch = new Map<string, string>();
      learning = batch;
      setTimeout(() => {
        learning = null;
        const hashes = [...batch].map(([id, brokerHash]) => ({ id, brokerHash }));
        state.setBrokerHashes(hashes).then(
          () => {
            const ids: string[] = [];
            for (const h of hashes) {
              const d = byId.get(h.id);
              // (rotated meanwhile: the new secret's hash is already there)
              if (d && d.brokerHash === null) {
                byId.set(h.id, { ...d, brokerHash: h.brokerHash });
                ids.push(h.id);
              }
            }
            if (ids.length > 0) changed({ kind: "learnt", ids });
          },
          () => undefined, // learnt again at the device's next connect
        );
      }, 1000).unref();
    }
    learning.set(id, brokerHash);
  };
  const byId = new Map<string, DeviceRecord>();
  for (const d of await state.allDevices()) byId.set(d.id, d);
  // Kept as devices register (a device's family, town and village never change afterwards).
  const perFamily: Record<Family, number> = { streetlight: 0, blender: 0 };
  for (const d of byId.values()) perFamily[d.family]++;
  /** Device ids per `${family}/${town}/${village}`, built on first use and dropped when devices are added. */
  let villageIndex: Map<string, string[]> | null = null;
  const villageKey = (family: Family, town: string | null, village: string | null) => `${family}/${town}/${village}`;
  const verified = createVerifiedCache();

  const toRecord = (input: DeviceInput, secretHash: string, brokerHash: string, now: number): DeviceRecord => {
    const attrs = Object.fromEntries(Object.entries(input).filter(([k, v]) => !COLUMNS.has(k) && v !== undefined));
    return {
      id: input.id,
      family: input.family,
      name: input.name ?? null,
      town: input.town,
      village: input.village ?? null,
      station: input.family === "blender" ? input.station : null,
      lat: input.lat ?? null,
      lon: input.lon ?? null,
      attrs,
      secretHash,
      brokerHash,
      disabled: false,
      createdAt: now,
      updatedAt: now,
    };
  };

  return {
    /** Called after each change is stored (see RegistryChange); returns a function that stops it. */
    onChange(listener: (change: RegistryChange) => void): () => void {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    get: (id: string) => byId.get(id),
    size: () => byId.size,
    counts: (): Readonly<Record<Family, number>> => perFamily,
    /** The devices of one family in one village (neighbours, village outages), without scanning the registry. */
    village(family: Family, town: string | null, village: string | null): DeviceRecord[] {
      if (!villageIndex) {
        villageIndex = new Map();
        for (const d of byId.values()) {
          const k = villageKey(d.family, d.town, d.village);
          const ids = villageIndex.get(k);
          if (ids) ids.push(d.id);
          else villageIndex.set(k, [d.id]);
        }
      }
      return (villageIndex.get(villageKey(family, town, village)) ?? []).flatMap((id) => byId.get(id) ?? []);
    },
    list(filter: {
      family?: Family | undefined;
      town?: string | undefined;
      village?: string | undefined;
      station?: string | undefined;
    }): DeviceRecord[] {
      const out: DeviceRecord[] = [];
      for (const d of byId.values()) {
        if (filter.family && d.family !== filter.family) continue;
        if (filter.town && d.town !== filter.town) continue;
        if (filter.village && d.village !== filter.village) continue;
        if (filter.station && d.station !== filter.station) continue;
        out.push(d);
      }
      return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    },
    /**
     * Registers all of `inputs` or none: ids must be new and unique. Returns each secret,
     * which is never stored or shown again.
     */
    async register(
      inputs: DeviceInput[],
      onProgress?: (done: number) => void,
    ): Promise<{ ok: true; created: { id: string; secret: string }[] } | { ok: false; duplicates: string[] }> {
      const seen = new Set<string>();
      const duplicates = inputs.filter((i) => byId.has(i.id) || seen.has(i.id) || !seen.add(i.id)).map((i) => i.id);
      if (duplicates.length > 0) return { ok: false, duplicates };
      const now = clock();
      const created: { id: string; secret: string }[] = [];
      const records: DeviceRecord[] = [];
      // Hash in parallel chunks: scrypt runs on the libuv pool, so this uses every core.
      const CHUNK = 64;
      for (let i = 0; i < inputs.length; i += CHUNK) {
        const chunk = inputs.slice(i, i + CHUNK);
        const hashed = await Promise.all(
          chunk.map(async (input) => {
            const secret = newSecret();
            const [hash, brokerHash] = await Promise.all([hashSecret(secret), mosquittoHashAsync(secret)]);
            return { input, secret, hash, brokerHash };
          }),
        );
        for (const h of hashed) {
          records.push(toRecord(h.input, h.hash, h.brokerHash, now));
          created.push({ id: h.input.id, secret: h.secret });
        }
        onProgress?.(Math.min(inputs.length, i + CHUNK));
      }
      // A concurrent request may have taken an id meanwhile: check again before writing.
      const raced = records.filter((r) => byId.has(r.id)).map((r) => r.id);
      if (raced.length > 0) return { ok: false, duplicates: raced };
      await state.insertDevices(records);
      for (const r of records) {
        byId.set(r.id, r);
        perFamily[r.family]++;
      }
      villageIndex = null;
      changed({ kind: "registered", ids: records.map((r) => r.id) });
      return { ok: true, created };
    },
    async rotateSecret(id: string): Promise<string | undefined> {
      const d = byId.get(id);
      if (!d) return undefined;
      const secret = newSecret();
      const [secretHash, brokerHash] = await Promise.all([hashSecret(secret), mosquittoHashAsync(secret)]);
      const next = { ...d, secretHash, brokerHash, updatedAt: clock() };
      await state.updateDevice(next);
      byId.set(id, next);
      verified.forget(id);
      changed({ kind: "rotated", ids: [id] });
      return secret;
    },
    async setDisabled(id: string, disabled: boolean): Promise<DeviceRecord | undefined> {
      const d = byId.get(id);
      if (!d) return undefined;
      const next = { ...d, disabled, updatedAt: clock() };
      await state.updateDevice(next);
      byId.set(id, next);
      changed({ kind: disabled ? "disabled" : "enabled", ids: [id] });
      return next;
    },
    /**
     * Takes in devices registered or changed by another instance on a shared state store (as read from it): new ones
     * join, changed ones replace what was held (a changed secret must be proved again).
     */
    refresh(records: readonly DeviceRecord[]) {
      for (const r of records) {
        const held = byId.get(r.id);
        if (!held) perFamily[r.family]++;
        else if (held.secretHash !== r.secretHash) verified.forget(r.id);
        byId.set(r.id, r);
      }
      if (records.length > 0) villageIndex = null;
    },
    /** True when this secret was proved for this device since start: checking it again costs a hash, not a scrypt. */
    provedBefore(id: string, secret: string): boolean {
      const d = byId.get(id);
      return d !== undefined && verified.has(id, secret, d.secretHash);
    },
    async authenticate(id: string, secret: string): Promise<AuthResult> {
      const d = byId.get(id);
      if (!d) {
        // Spend the same time as a real check, so a scan cannot tell which ids exist.
        await verifySecret(secret, DUMMY_HASH);
        return { ok: false, reason: "unknown_device" };
      }
      if (!verified.has(id, secret, d.secretHash)) {
        if (!(await verifySecret(secret, d.secretHash))) return { ok: false, reason: "bad_secret" };
        verified.add(id, secret, d.secretHash);
        // Registered before broker hashes were kept: the proved secret gives it one (PROTOCOL.md §7, existing devices).
        if (byId.get(id)?.brokerHash === null) learn(id, secret);
      }
      if (d.disabled) return { ok: false, reason: "disabled" };
      return { ok: true, device: d };
    },
  };
}

const DUMMY_HASH = await hashSecret(newSecret());
