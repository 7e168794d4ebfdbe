import { EventEmitter } from "node:events";
import type { Family } from "../../devices/index.js";
import type { PresenceEvent } from "./presence-store.js";

export type PresenceState = {
  online: boolean;
  since: number;
  lastSeen: number | null;
  cause: string;
  connected: boolean;
  fw?: string;
  /** Silence is counted from here when it is later than lastSeen: a start or a takeover gives a device one timeout to speak. */
  graceFrom?: number;
};
export type PresenceChange = { deviceId: string; family: Family; online: boolean; cause: string; at: number };
/** A device connected to the embedded broker subscribed (the broker holds its subscription: what is published now reaches it). */
export type Subscribed = { deviceId: string; filters: string[] };

/**
 * Online/offline per device, from three signals: the MQTT connection, the device's status topic
 * (and its last will), and silence: no message for 3 × the family's report interval means offline,
 * so a half-open connection still goes offline. Only transitions are recorded.
 */
export function createPresence(deps: {
  timeoutMs: Record<Family, number>;
  familyOf: (id: string) => Family | undefined;
  record: (events: PresenceEvent[]) => Promise<void>;
  onError: (e: unknown) => void;
}) {
  /** One per registered device seen (set() ignores ids the registry does not know): bounded by the registry. */
  const states = new Map<string, PresenceState>();
  const events = new EventEmitter<{ change: [PresenceChange]; subscribed: [Subscribed] }>();
  let buffered: PresenceEvent[] = [];
  let stopped = false;

  const set = (deviceId: string, online: boolean, cause: string, at: number) => {
    if (stopped) return;
    const family = deps.familyOf(deviceId);
    if (!family) return;
    const s = states.get(deviceId) ?? { online: false, since: at, lastSeen: null, cause: "never_seen", connected: false };
    states.set(deviceId, s);
    if (s.online === online) return;
    s.online = online;
    s.since = at;
    s.cause = cause;
    buffered.push({ deviceId, online, cause, at, ...(online ? {} : { lastSeen: s.lastSeen }) });
    events.emit("change", { deviceId, family, online, cause, at });
  };

  return {
    events,
    get: (id: string): PresenceState | undefined => states.get(id),
    isOnline: (id: string) => states.get(id)?.online === true,
    connected(id: string, at: number) {
      set(id, true, "connected", at);
      const s = states.get(id);
      if (s) {
        s.connected = true;
        s.lastSeen = at;
      }
    },
    disconnected(id: string, at: number, cause = "disconnected") {
      const s = states.get(id);
      if (s) s.connected = false;
      set(id, false, cause, at);
    },
    /** The embedded broker granted the device's SUBSCRIBE (an external broker's subscriptions are not seen). */
    subscribed(id: string, filters: string[]) {
      events.emit("subscribed", { deviceId: id, filters });
    },
    /** Any accepted or rejected message from the device. */
    seen(id: string, at: number) {
      if (!states.get(id)?.online) set(id, true, "message", at);
      const s = states.get(id);
      if (s) s.lastSeen = Math.max(s.lastSeen ?? 0, at);
    },
    status(id: string, online: boolean, at: number, fw?: string) {
      set(id, online, online ? "status_online" : "status_offline", at);
      const s = states.get(id);
      if (s && fw) s.fw = fw;
    },
    /** Marks silent devices offline; runs on a timer (server clock). */
    /**
     * Every device held online gets one more timeout from `now` to speak: an instance that takes ingest over from
     * another last heard its devices when it last held it, and must not call them silent before their next readings.
     */
    grace(now: number) {
      for (const s of states.values()) if (s.online) s.graceFrom = now;
    },
    /**
     * After a start: each device as last recorded (its newest presence event), so the API, the map and the counts say
     * its last known state, not "never reported", until it speaks. One online then gets one timeout from `now` to speak
     * before the sweep calls it silent (that change is recorded and heard, as any). Devices already known are left
     * alone; nothing is recorded or emitted here: nothing changed.
     */
    restore(last: PresenceEvent[], now: number) {
      for (const e of last) {
        if (states.has(e.deviceId) || !deps.familyOf(e.deviceId)) continue;
        states.set(e.deviceId, {
          online: e.online,
          since: e.at,
          lastSeen: e.online ? e.at : (e.lastSeen ?? null),
          cause: e.cause,
          connected: false,
          ...(e.online ? { graceFrom: now } : {}),
        });
      }
    },
    /** A device's newest reading found in the store at a start (presence knows when it last spoke). */
    heard(id: string, at: number) {
      const s = states.get(id);
      if (s) s.lastSeen = Math.max(s.lastSeen ?? 0, at);
    },
    /**
     * The service is stopping: the connections the broker closes now are not devices going offline, and are not recorded
     * (what was last recorded is what the next start restores).
     */
    stop() {
      stopped = true;
    },
    sweep(now: number) {
      for (const [id, s] of states) {
        if (!s.online) continue;
        const family = deps.familyOf(id);
        if (!family) continue;
        if (now - Math.max(s.lastSeen ?? s.since, s.graceFrom ?? 0) > deps.timeoutMs[family]) set(id, false, "silent", now);
      }
    },
    counts(): Record<string, number> {
      const out: Record<string, number> = {};
      for (const [id, s] of states) {
        const f = deps.familyOf(id);
        if (f && s.online) out[f] = (out[f] ?? 0) + 1;
      }
      return out;
    },
    async flush() {
      if (buffered.length === 0) return;
      const batch = buffered;
      buffered = [];
      try {
        await deps.record(batch);
      } catch (e: unknown) {
        buffered = batch.concat(buffered).slice(-10_000);
        deps.onError(e);
      }
    },
  };
}
export type Presence = ReturnType<typeof createPresence>;
