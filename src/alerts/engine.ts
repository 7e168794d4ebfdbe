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

export type Severity = "critical" | "major" | "minor";
export const SEVERITY: Record<string, Severity> = {
  village_outage: "critical",
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
  family: "streetlight" | "blender" | "village";
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

export type AlertEvents = { change: [Alert, HistoryEntry] };

export function createAlertEngine(deps: { clock: () => number; persist: (a: Alert) => void; initial?: Alert[] }) {
  const { clock, persist } = deps;
  const open = new Map<string, Alert>(); // `${deviceId}\0${type}` → alert
  const byId = new Map<string, Alert>();
  const events = new EventEmitter<AlertEvents>();
  for (const a of deps.initial ?? []) {
    byId.set(a.id, a);
    if (a.state !== "resolved") open.set(key(a.deviceId, a.type), a);
  }

  const change = (a: Alert, entry: HistoryEntry) => {
    a.history.push(entry);
    persist(a);
    events.emit("change", a, entry);
  };

  return {
    events,
    get: (id: string) => byId.get(id),
    openFor: (deviceId: string, type: string) => open.get(key(deviceId, type)),
    list: (): Alert[] => [...byId.values()],
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
    ack(id: string, who: string, text?: string): Alert | undefined {
      const a = byId.get(id);
      if (a?.state !== "firing") return a;
      a.state = "acknowledged";
      change(a, { at: clock(), who, action: "acknowledged", text });
      return a;
    },
    /** By hand, with a comment: the problem is fixed (if the condition persists, it fires again). */
    resolve(id: string, who: string, text: string): Alert | undefined {
      const a = byId.get(id);
      if (!a || a.state === "resolved") return a;
      open.delete(key(a.deviceId, a.type));
      a.state = "resolved";
      a.resolvedAt = clock();
      change(a, { at: a.resolvedAt, who, action: "resolved", text });
      return a;
    },
    assign(id: string, who: string, assignee: string): Alert | undefined {
      const a = byId.get(id);
      if (!a) return a;
      a.assignee = assignee;
      change(a, { at: clock(), who, action: "assigned", text: assignee });
      return a;
    },
    comment(id: string, who: string, text: string): Alert | undefined {
      const a = byId.get(id);
      if (!a) return a;
      change(a, { at: clock(), who, action: "commented", text });
      return a;
    },
    /** Marks an alert as held back (or released); persisted, so it survives a restart. */
    suppress(a: Alert, by: string | null) {
      if (a.suppressedBy === by) return;
      a.suppressedBy = by;
      persist(a);
    },
  };
}
export type AlertEngine = ReturnType<typeof createAlertEngine>;

const key = (deviceId: string, type: string) => `${deviceId}\u0000${type}`;
