import type { StreetlightTelemetry } from "../../devices/index.js";
import { distanceM, type Expectation, expectationAt, fullDaylight, nightAround, type Profile } from "./expectation.js";
import { streetlightMessage as msg, type StreetlightMessage } from "./messages.js";

/**
 * Conditions of a light (DOMAIN.md §2 failure taxonomy, TALQ names). Judged at each reading's own
 * timestamp; silence (`offline`) is judged on the server clock by presence, outside this module.
 */
export const CONDITIONS = [
  "lit",
  "off",
  "dark",
  "dim_mismatch",
  "day_burner",
  "energy_limited",
  "charge_fault",
  "cycling",
  "offline",
  "moved",
] as const;
export type Condition = (typeof CONDITIONS)[number];
export const NORMAL: ReadonlySet<Condition> = new Set(["lit", "off"]);

export const RULES = {
  /** Lamp failure: should be lit, power under 20 % of expected (DOMAIN.md §2). */
  darkBelow: 0.2,
  /** Power too low / high: outside ±15 % of expected (DOMAIN.md §2). */
  dimTolerance: 0.15,
  /** Day-burner: more than 6 W drawn while it should be off (DOMAIN.md §2). */
  dayBurnerW: 6,
  /** Cycling: more than 3 switch-ons in one night (DOMAIN.md §2, proposal). */
  maxSwitchOns: 3,
  /** Low-voltage disconnect of a 12 V battery (DOMAIN.md §2). */
  lvdV: 11.0,
  /** Moved: reported position further than this from the registered one, beyond the fix's accuracy (DOMAIN.md §1: 15 m). */
  movedM: 15,
  /** PV below this in full daylight is "no PV". */
  noPvW: 1,
  /** Transitions right after a switch are ignored (DOMAIN.md §2). */
  switchGraceMs: 120_000,
  /** A new anomaly is reported once it has held this long. */
  latchMs: 10 * 60_000,
};

export type LightInfo = {
  lat: number;
  lon: number;
  lampW: number | null;
  /** The profile the light applied by command (src/control), else its registered one. */
  profile: Profile;
  /** An override the light applied, in force at t (src/control): it is judged by that instead of its profile. */
  overrideAt?: (t: number) => { pct: number } | null;
};

/** What a light should be doing at t: its profile's expectation, or its override's while one is in force. */
export function expectationFor(t: number, light: LightInfo): Expectation {
  const e = expectationAt(t, light.lat, light.lon, light.profile);
  const o = light.overrideAt?.(t);
  if (!o) return e;
  const night = e.night ?? nightAround(t, light.lat, light.lon, light.profile);
  return o.pct === 0 ? { state: "off", night: e.night } : { state: "on", pct: o.pct, night };
}
/** What the neighbours (same village, within a distance) were doing around this time. */
export type NeighbourView = { reporting: number; charging: number; lit: number };
/** The view, or a function giving it: it is needed only for daylight readings with the lamp on or no PV, so the monitor
 * counts the neighbours only then. */
export type Neighbours = NeighbourView | (() => NeighbourView);
const view = (nb: Neighbours): NeighbourView => (typeof nb === "function" ? nb() : nb);

export type LightState = {
  lastTs: number;
  lastOn: boolean | null;
  lastSwitchAt: number | null;
  nightStart: number | null;
  switchOns: number;
  instant: Condition;
  instantSince: number;
  condition: Condition;
  since: number;
  /** What the rule saw, for people (null when the light is as expected). */
  detail: StreetlightMessage | null;
};

export function initialState(ts: number): LightState {
  return {
    lastTs: 0,
    lastOn: null,
    lastSwitchAt: null,
    nightStart: null,
    switchOns: 0,
    instant: "off",
    instantSince: ts,
    condition: "off",
    since: ts,
    detail: null,
  };
}

/** What the reading alone says, before the grace period and latching. */
export function instantCondition(
  r: StreetlightTelemetry & { ts: number },
  light: LightInfo,
  s: LightState,
  neighbours: Neighbours,
  expectation?: Expectation,
): { condition: Condition; detail: StreetlightMessage | null } {
  if (r.gps) {
    const d = distanceM(r.gps, light);
    if (d - (r.gps.accM ?? 0) > RULES.movedM) return { condition: "moved", detail: msg("light_moved", { distanceM: Math.round(d) }) };
  }
  const exp = expectation ?? expectationFor(r.ts, light);
  const on = r.load.on && r.load.w > 0;
  const expectedW = light.lampW && exp.state !== "off" ? (light.lampW * exp.pct) / 100 : null;
  const lowBattery = r.faults.includes("over_discharge") || r.battery.v <= RULES.lvdV;
  if (exp.state === "on") {
    if (s.switchOns > RULES.maxSwitchOns) return { condition: "cycling", detail: msg("switch_ons", { count: s.switchOns }) };
    if (expectedW !== null && r.load.w < RULES.darkBelow * expectedW) {
      if (lowBattery) return { condition: "energy_limited", detail: msg("battery_disconnected", { v: r.battery.v }) };
      return { condition: "dark", detail: msg("lamp_power_low", { w: r.load.w, expectedW: round(expectedW) }) };
    }
    if (!on)
      return lowBattery
        ? { condition: "energy_limited", detail: msg("lamp_off_battery_low", { v: r.battery.v }) }
        : { condition: "dark", detail: msg("lamp_off", {}) };
    if (expectedW !== null && Math.abs(r.load.w - expectedW) > RULES.dimTolerance * expectedW) {
      return {
        condition: "dim_mismatch",
        detail: msg("power_mismatch", { w: r.load.w, expectedW: round(expectedW), tolerancePct: Math.round(RULES.dimTolerance * 100) }),
      };
    }
    return { condition: "lit", detail: null };
  }
  if (exp.state === "band") return { condition: on ? "lit" : "off", detail: null };
  // Daylight. Neighbours tell weather from fault: a dark sky lights them all; a cloudy day starves them all.
  if (r.load.w > RULES.dayBurnerW) {
    const nb = view(neighbours);
    if (nb.reporting >= 2 && nb.lit / nb.reporting >= 0.5) return { condition: "lit", detail: msg("dark_sky", {}) };
    return { condition: "day_burner", detail: msg("day_burning", { w: r.load.w }) };
  }
  const nb = r.pv.w < RULES.noPvW ? view(neighbours) : null;
  if (nb && nb.reporting >= 2 && fullDaylight(r.ts, light.lat, light.lon) && nb.charging / nb.reporting >= 0.5) {
    return { condition: "charge_fault", detail: msg("no_pv", { charging: nb.charging, reporting: nb.reporting }) };
  }
  return { condition: "off", detail: null };
}

/** Applies a reading: switch counting, the grace period after a switch, and latching. Returns the new state. */
export function step(prev: LightState, r: StreetlightTelemetry & { ts: number }, light: LightInfo, nb: Neighbours): LightState {
  if (r.ts <= prev.lastTs) return prev; // late or repeated data does not rewind the live state
  const s = { ...prev, lastTs: r.ts };
  const exp = expectationFor(r.ts, light);
  const nightStart = exp.state === "off" ? null : exp.night.start;
  if (nightStart !== s.nightStart && nightStart !== null) s.switchOns = 0;
  s.nightStart = nightStart ?? s.nightStart;
  const on = r.load.on && r.load.w > 0;
  if (s.lastOn !== null && on !== s.lastOn) {
    s.lastSwitchAt = r.ts;
    if (on && exp.state !== "off") s.switchOns++;
  }
  s.lastOn = on;
  const inGrace = s.lastSwitchAt !== null && r.ts - s.lastSwitchAt < RULES.switchGraceMs;
  const now = inGrace ? { condition: s.instant, detail: s.detail } : instantCondition(r, light, s, nb, exp);
  if (now.condition !== s.instant) {
    s.instant = now.condition;
    s.instantSince = r.ts;
  }
  if (s.instant !== s.condition && (NORMAL.has(s.instant) || r.ts - s.instantSince >= RULES.latchMs)) {
    s.condition = s.instant;
    s.since = NORMAL.has(s.instant) ? r.ts : s.instantSince;
  }
  if (s.condition === s.instant) s.detail = now.detail;
  return s;
}

const round = (x: number) => Math.round(x * 10) / 10;
