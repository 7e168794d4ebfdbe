import type { Condition as BlendCondition } from "../blending/index.js";
import type { Message } from "../platform/i18n.js";
import type { Registry } from "../registry/registry.js";
import type { DeviceRecord } from "../registry/store.js";
import { type AlertEngine, BROKER_DROPPED_TYPE, LIGHT_TYPES, VILLAGE_TYPE } from "./engine.js";
import { alertMessage } from "./messages.js";

/** Most of a village: at least this share of its lights (and at least 5) dark or offline together (proposal). */
export const VILLAGE_SHARE = 0.6;
const VILLAGE_MIN = 5;

/**
 * Turns conditions into alerts. Lights: each change of a light's condition resolves the old type and fires the
 * new one. Inhibition: an open `energy_limited` holds back `dark` for the same light; when most lights of a village
 * are dark or offline, one village alert is fired and the per-light alerts are held back.
 */
export function createLightFeed(deps: { engine: AlertEngine; registry: Registry }) {
  const { engine, registry } = deps;
  const ctx = (d: DeviceRecord, detail: Message | null) => ({
    family: "streetlight" as const,
    town: d.town,
    village: d.village,
    station: null,
    detail,
  });
  const villageId = (d: DeviceRecord) => `village:${d.town}/${d.village}`;
  const reviewVillage = (d: DeviceRecord, at: number) => {
    if (!d.village) return;
    const lights = registry.village("streetlight", d.town, d.village);
    const out = lights.filter((l) => engine.openFor(l.id, "dark") || engine.openFor(l.id, "offline"));
    const share = lights.length ? out.length / lights.length : 0;
    const id = villageId(d);
    const current = engine.openFor(id, VILLAGE_TYPE);
    const detail = alertMessage("village_out", { out: out.length, lights: lights.length });
    if (!current && lights.length >= VILLAGE_MIN && share >= VILLAGE_SHARE) {
      const v = engine.observe(id, VILLAGE_TYPE, true, { family: "village", town: d.town, village: d.village, station: null, detail }, at);
      if (v)
        for (const l of out)
          for (const t of ["dark", "offline"]) {
            const a = engine.openFor(l.id, t);
            if (a) engine.suppress(a, v.id);
          }
    } else if (current && share < VILLAGE_SHARE / 2) {
      engine.observe(id, VILLAGE_TYPE, false, { family: "village", town: d.town, village: d.village, station: null, detail }, at);
      for (const l of lights)
        for (const t of ["dark", "offline"]) {
          const a = engine.openFor(l.id, t);
          if (a?.suppressedBy === current.id) engine.suppress(a, null);
        }
    } else if (current) {
      for (const l of out)
        for (const t of ["dark", "offline"]) {
          const a = engine.openFor(l.id, t);
          if (a && !a.suppressedBy) engine.suppress(a, current.id);
        }
    }
  };

  return {
    /** A light's condition changed (from the streetlight monitor, or offline from presence). */
    condition(deviceId: string, condition: string, detail: Message | null, at: number) {
      const d = registry.get(deviceId);
      if (d?.family !== "streetlight") return;
      for (const type of LIGHT_TYPES) {
        const active = type === condition;
        const a = engine.observe(deviceId, type, active, ctx(d, detail), at);
        if (a && active && type === "dark") {
          const limited = engine.openFor(deviceId, "energy_limited");
          if (limited) engine.suppress(a, limited.id);
        }
      }
      if (condition === "dark" || condition === "offline" || engine.openFor(villageId(d), VILLAGE_TYPE)) reviewVillage(d, at);
    },
  };
}

/** Blending conditions are evaluated as a whole (every 30 s): what is active fires, what is no longer active resolves. */
export function createBlendingFeed(deps: { engine: AlertEngine; registry: Registry }) {
  const { engine, registry } = deps;
  return {
    apply(conditions: BlendCondition[], at: number) {
      const active = new Set<string>();
      for (const c of conditions) {
        const deviceId = c.machineId ?? c.orderId ?? c.station;
        active.add(`${deviceId}\u0000${c.type}`);
        const d = c.machineId ? registry.get(c.machineId) : undefined;
        engine.observe(deviceId, c.type, true, { family: "blender", town: d?.town ?? null, village: null, station: c.station, detail: c.detail }, at);
      }
      for (const a of engine.list()) {
        if (a.family === "blender" && a.state !== "resolved" && !active.has(`${a.deviceId}\u0000${a.type}`)) {
          engine.observe(a.deviceId, a.type, false, { family: "blender", town: a.town, village: null, station: a.station, detail: null }, at);
        }
      }
    },
  };
}

/** A broker that has dropped nothing for this long is taken as well again, and its alert resolves (proposal). */
export const BROKER_QUIET_MS = 15 * 60_000;

/**
 * The external broker's drop counter (Mosquitto's `$SYS/broker/publish/messages/dropped`): each rise fires one alert
 * for the broker (no town or station: only callers without limits, the admin, see it; channels without towns get it),
 * which resolves once the counter has not risen for BROKER_QUIET_MS. The device id of the alert is the broker's URL.
 */
export function createBrokerFeed(deps: { engine: AlertEngine; quietMs?: number }) {
  const { engine } = deps;
  const quietMs = deps.quietMs ?? BROKER_QUIET_MS;
  /** The last rise per broker (one broker in practice). */
  const lastRise = new Map<string, number>();
  const ctx = (detail: Message | null) => ({ family: "broker" as const, town: null, village: null, station: null, detail });
  return {
    dropped(broker: string, rise: number, total: number, at: number) {
      if (rise <= 0) return;
      lastRise.set(broker, at);
      engine.observe(broker, BROKER_DROPPED_TYPE, true, ctx(alertMessage("broker_dropped", { broker, rise, total })), at);
    },
    /** Resolves the alert of a broker quiet for long enough (the scheduler calls it with the gauges). */
    tick(now: number) {
      for (const [broker, at] of lastRise) {
        if (now - at < quietMs) continue;
        lastRise.delete(broker);
        engine.observe(broker, BROKER_DROPPED_TYPE, false, ctx(null), now);
      }
    },
  };
}
