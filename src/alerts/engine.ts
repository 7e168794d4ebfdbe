import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import type { Message } from "../platform/i18n.js";
import { alertMessage } from "./messages.js";

/**
 * Alerts: one open alert per (device, type), fired and resolved on transitions of a condition, never on every
 * sample. Lifecycle firing → acknowledged → resolved; every change is kept with who and when. The map of open
 * alerts is updated synchronously, so concurrent messages cannot open two alerts for one problem.
 */
export const LIGHT_TYPES = ["dark", "day_burner", "energy_limited", "charge_fault", "cycling", "offline", "moved", "dim_mismatch"] as const;
export const BLENDER_TYPES = ["out_of_tolerance", "stalled", "hopper_low", "offline", "behind_schedule"] as const;
/** One alert for a village when most of its lights go dark or offline together (replaces the per-light flood). */
export const VILLAGE_TYPE = "village_outage";
/** The external broker dropped messages it had acknowledged to devices (its drop counter rose): for the admin. */
export const BROKER_DROPPED_TYPE = "broker_dropped";

export type Severity = "critical" | "major" | "minor";
export const SEVERITY: Record<string, Severity> = {
  village_outage: "critical",
  broker_dropped: "critical",
  out_of_tolerance: "critical",
  stalled: "critical",
  dark: "major",
  offline: "major",
  day_burner: "major",
  charge_fault: "major",
  behind_schedule: "major",
  moved: "major",
  energy_limited: "minor",
  cycling: "minor",
  dim_mismatch: "minor",
  hopper_low: "minor",
};

export type AlertState = "firing" | "acknowledged" | "resolved";
export type HistoryEntry = {
  at: number;
  who: string;
  action: "fired" | "acknowledged" | "resolved" | "assigned" | "commented" | "reopened";
  /** What a person wrote (a comment, the assignee). */
  text?: string | undefined;
  /** What the system said (the detail it fired with, that the condition cleared), rendered for each reader. */
  message?: Message | undefined;
};
export type Alert = {
  id: string;
  deviceId: string;
  family: "streetlight" | "blender" | "village" | "broker";
  type: string;
  severity: Severity;
  state: AlertState;
  since: number;
  resolvedAt: number | null;
  town: string | null;
  village: string | null;
  station: string | null;
  /** What the rule saw when it fired, as code and parameters (null when it said nothing more than its type). */
  detail: Message | null;
  assignee: string | null;
  /** Not notified: held back by another alert (energy_limited over dark, a village outage over its lights) or a silence. */
  suppressedBy: string | null;
  history: HistoryEntry[];
};
export type Context = { family: Alert["family"]; town: string | null; village: string | null; station: string | null; detail: Message | null };

/** Where a change was made: on this instance, or on another one sharing the state store (read back after its notice). */
export type Origin = "here" | "elsewhere";
export type AlertEvents = { change: [Alert, HistoryEntry, Origin] };

/** A history query; `towns`/`stations` are the reader's limits (null: none). */
export type AlertQuery = {
  state?: AlertState | "open" | undefined;
  type?: string | undefined;
  town?: string | undefined;
  station?: string | undefined;
  towns?: string[] | null | undefined;
  stations?: string[] | null | undefined;
  limit: number;
};
/** Where resolved alerts are read back from (the state store). */
export type AlertHistory = { get(id: string): Promise<Alert | undefined>; resolved(q: AlertQuery): Promise<Alert[]> };

export const matches = (a: Alert, q: Omit<AlertQuery, "limit">) =>
  (!q.state || (q.state === "open" ? a.state !== "resolved" : a.state === q.state)) &&
  (!q.type || a.type === q.type) &&
  (!q.town || a.town === q.town) &&
  (!q.station || a.station === q.station) &&
  (!q.towns || (!!a.town && q.towns.includes(a.town))) &&
  (!q.stations || (!!a.station && q.stations.includes(a.station)));

/**
 * Memory holds the open alerts; a resolved one leaves once the store has its last change, and is read back from
 * `history` (find, query, and an action on it). `persist` returns a promise that settles when the alert is written
 * (anything else: written at once).
 */
export function createAlertEngine(deps: {
  clock: () => number;
  /** Writes an alert; may settle with what the store holds after it (a shared store merges a change made elsewhere). */
  persist: (a: Alert) => unknown;
  /**
   * A shared store only: the write of a new alert was refused because another instance holds the open alert of that
   * device and type (the database's constraint); `current` reads that one, which this engine then adopts.
   */
  conflict?: { is: (e: unknown) => boolean; current: (deviceId: string, type: string) => Promise<Alert | undefined> } | undefined;
  history?: AlertHistory;
  onPersistError?: (e: unknown, a: Alert) => void;
  /** The open alerts (resolved ones given here are not held: they are in the store already). */
  initial?: Alert[];
}) {
  const { clock, persist } = deps;
  /** One per open problem: bounded by (registered devices + villages + open orders and stations) × alert types. */
  const open = new Map<string, Alert>(); // `${deviceId}\0${type}` → alert
  /**
   * The open alerts, plus resolved ones whose last write is under way (or failed: the store's copy is then stale, so
   * the API keeps answering from here until a later write of that alert succeeds).
   */
  const byId = new Map<string, Alert>();
  /** Writes under way, per alert held in byId; `ok`: how the last one issued went (the store holds what it wrote). */
  const writing = new Map<string, { pending: number; latest: number; ok: boolean }>();
  let writes = 0;
  const events = new EventEmitter<AlertEvents>();
  for (const a of deps.initial ?? []) {
    if (a.state === "resolved") continue;
    byId.set(a.id, a);
    open.set(key(a.deviceId, a.type), a);
  }

  /**
   * Another copy of an alert (written by another instance, or merged by the store with a change made there): memory
   * takes the entries it lacks and, when the other copy's last entry is the later, its fields; the new entries are
   * emitted as made elsewhere. A resolved alert leaves memory (unless a write of it is under way here).
   */
  const refresh = (stored: Alert) => {
    const here = byId.get(stored.id);
    const k = key(stored.deviceId, stored.type);
    if (!here) {
      if (stored.state === "resolved") return;
      const other = open.get(k);
      if (other && other.id !== stored.id) {
        // this instance opened its own alert for the problem meanwhile: its write will conflict, and it adopts this one
        byId.delete(other.id);
      }
      open.set(k, stored);
      byId.set(stored.id, stored);
      for (const h of stored.history) events.emit("change", stored, h, "elsewhere");
      return;
    }
    const known = new Set(here.history.map((h) => JSON.stringify(h)));
    const added = stored.history.filter((h) => !known.has(JSON.stringify(h)));
    const last = (x: Alert) => x.history[x.history.length - 1]?.at ?? 0;
    if (added.length === 0) {
      if (!writing.has(here.id)) here.suppressedBy = stored.suppressedBy;
      return;
    }
    const later = last(stored) > last(here);
    here.history = [...here.history, ...added].sort((x, y) => x.at - y.at);
    if (later) {
      here.state = stored.state;
      here.resolvedAt = stored.resolvedAt;
      here.assignee = stored.assignee;
      here.suppressedBy = stored.suppressedBy;
    }
    if (here.state === "resolved") {
      if (open.get(k) === here) open.delete(k);
      if (!writing.has(here.id)) byId.delete(here.id);
    }
    for (const h of added) events.emit("change", here, h, "elsewhere");
  };
  /** This engine's new alert lost to another instance's open alert of the problem: that one replaces it here. */
  const adopt = async (mine: Alert) => {
    const winner = await deps.conflict?.current(mine.deviceId, mine.type);
    const k = key(mine.deviceId, mine.type);
    byId.delete(mine.id);
    if (open.get(k) === mine) open.delete(k);
    if (!winner) {
      // resolved meanwhile: this one is the open alert after all (if still open here)
      if (mine.state !== "resolved" && !open.has(k)) {
        open.set(k, mine);
        byId.set(mine.id, mine);
        save(mine);
      }
      return;
    }
    refresh(winner);
    // an action taken here on the loser meanwhile goes to the one adopted
    const kept = byId.get(winner.id);
    if (kept && mine.suppressedBy && !kept.suppressedBy) {
      kept.suppressedBy = mine.suppressedBy;
      save(kept);
    }
  };

  const save = (a: Alert) => {
    const w = writing.get(a.id) ?? { pending: 0, latest: 0, ok: false };
    writing.set(a.id, w);
    w.pending++;
    const mine = ++writes;
    w.latest = mine;
    const written = (ok: boolean) => {
      if (mine === w.latest) w.ok = ok;
      if (--w.pending > 0) return;
      writing.delete(a.id);
      if (w.ok && a.state === "resolved" && byId.get(a.id) === a) byId.delete(a.id);
    };
    let result: unknown;
    try {
      result = persist(a);
    } catch (e: unknown) {
      result = Promise.reject(e);
    }
    Promise.resolve(result).then(
      (stored: unknown) => {
        written(true);
        if (stored && typeof stored === "object" && stored !== a && (stored as Alert).id === a.id) refresh(stored as Alert);
      },
      (e: unknown) => {
        written(false);
        if (deps.conflict?.is(e)) {
          adopt(a).catch((err: unknown) => deps.onPersistError?.(err, a));
          return;
        }
        deps.onPersistError?.(e, a);
      },
    );
  };
  const change = (a: Alert, entry: HistoryEntry) => {
    if (!byId.has(a.id)) byId.set(a.id, a); // a resolved alert read back for an action: held until it is written
    a.history.push(entry);
    save(a);
    events.emit("change", a, entry, "here");
  };
  /**
   * Acts on an alert: one in memory is changed at once (before this returns); a resolved one is read back from the
   * store first (and, if changed, held until written). One object per alert: another action may have read it meanwhile.
   */
  const act = (id: string, fn: (a: Alert) => void): Promise<Alert | undefined> => {
    const here = byId.get(id);
    if (here) {
      fn(here);
      return Promise.resolve(here);
    }
    return (deps.history?.get(id) ?? Promise.resolve(undefined)).then((stored) => {
      const a = byId.get(id) ?? stored;
      if (a) fn(a);
      return a;
    });
  };

  return {
    events,
    /** A shared store only: another instance changed this alert (its copy, read back after the notice). */
    refresh,
    /** An alert held in memory: open, or resolved with its write under way. */
    get: (id: string) => byId.get(id),
    /** Any alert; resolved ones are read from the store. */
    find: async (id: string): Promise<Alert | undefined> => byId.get(id) ?? (await deps.history?.get(id)),
    openFor: (deviceId: string, type: string) => open.get(key(deviceId, type)),
    /** The alerts held in memory (see get). */
    list: (): Alert[] => [...byId.values()],
    /** Alerts matching `q`, newest first: those in memory, and resolved ones from the store. */
    async query(q: AlertQuery): Promise<Alert[]> {
      const here = [...byId.values()].filter((a) => matches(a, q));
      const stored =
        deps.history && (!q.state || q.state === "resolved")
          ? (await deps.history.resolved({ ...q, limit: q.limit + byId.size })).filter((a) => !byId.has(a.id))
          : [];
      return [...here, ...stored].sort((a, b) => b.since - a.since).slice(0, q.limit);
    },
    /** A condition is (still) active or has cleared. Fires or resolves only on a change. */
    observe(deviceId: string, type: string, active: boolean, ctx: Context, at = clock()): Alert | null {
      const k = key(deviceId, type);
      const current = open.get(k);
      if (active && !current) {
        const a: Alert = {
          id: randomUUID(),
          deviceId,
          family: ctx.family,
          type,
          severity: SEVERITY[type] ?? "minor",
          state: "firing",
          since: at,
          resolvedAt: null,
          town: ctx.town,
          village: ctx.village,
          station: ctx.station,
          detail: ctx.detail,
          assignee: null,
          suppressedBy: null,
          history: [],
        };
        open.set(k, a);
        byId.set(a.id, a);
        change(a, { at, who: "system", action: "fired", message: ctx.detail ?? undefined });
        return a;
      }
      if (!active && current) {
        open.delete(k);
        current.state = "resolved";
        current.resolvedAt = at;
        change(current, { at, who: "system", action: "resolved", message: alertMessage("condition_cleared", {}) });
        return current;
      }
      return null;
    },
    ack: (id: string, who: string, text?: string) =>
      act(id, (a) => {
        if (a.state !== "firing") return;
        a.state = "acknowledged";
        change(a, { at: clock(), who, action: "acknowledged", text });
      }),
    /** By hand, with a comment: the problem is fixed (if the condition persists, it fires again). */
    resolve: (id: string, who: string, text: string) =>
      act(id, (a) => {
        if (a.state === "resolved") return;
        open.delete(key(a.deviceId, a.type));
        a.state = "resolved";
        a.resolvedAt = clock();
        change(a, { at: a.resolvedAt, who, action: "resolved", text });
      }),
    assign: (id: string, who: string, assignee: string) =>
      act(id, (a) => {
        a.assignee = assignee;
        change(a, { at: clock(), who, action: "assigned", text: assignee });
      }),
    comment: (id: string, who: string, text: string) => act(id, (a) => change(a, { at: clock(), who, action: "commented", text })),
    /** Marks an alert as held back (or released); persisted, so it survives a restart. */
    suppress(a: Alert, by: string | null) {
      if (a.suppressedBy === by) return;
      a.suppressedBy = by;
      save(a);
    },
  };
}
export type AlertEngine = ReturnType<typeof createAlertEngine>;

const key = (deviceId: string, type: string) => `${deviceId}\u0000${type}`;
