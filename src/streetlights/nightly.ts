import type { StreetlightTelemetry } from "../../devices/index.js";
import { BAND_MS, levelAt, type Night, type Profile } from "./expectation.js";
import type { NightClass } from "./night-class.js";
import { RULES } from "./rules.js";

/**
 * One record per light per night, computed after dawn from the stored readings (so a restart, or a
 * reading that arrived late, changes nothing). Verification (finance) and dashboards read these.
 */
export { NIGHT_CLASSES, type NightClass } from "./night-class.js";

export type NightRecord = {
  deviceId: string;
  date: string;
  dusk: string;
  dawn: string;
  expectedMin: number;
  litMin: number;
  /** Minutes of the window covered by data; gaps longer than twice the report interval are unknown. */
  coveredMin: number;
  loadWh: number;
  /** PV energy of the day before the night (its energyToday.pvWh counter before dusk). */
  pvWhDayBefore: number | null;
  switchOns: number;
  classification: NightClass;
  flags: string[];
  /** The last reading in the night's data window, and the last position fix (for verification). */
  lastTs: string | null;
  gps: { lat: number; lon: number; accM: number | null } | null;
};

/** A night counts as lit when lit for at least 80 % of its expected window (DOMAIN.md §2 "Operation"), judged over the minutes with data. */
export const LIT_SHARE = 0.8;
/** Less than half the night covered by data: no data is not darkness. */
export const MIN_COVERAGE = 0.5;

type Reading = StreetlightTelemetry & { ts: number };

export function computeNight(input: {
  deviceId: string;
  night: Night;
  readings: Reading[];
  lampW: number | null;
  profile: Profile;
  maxGapMs: number;
}): NightRecord {
  const { night: n, profile } = input;
  const rs = [...input.readings].sort((a, b) => a.ts - b.ts);
  const expectedMs = n.end - n.start;
  let litMs = 0;
  let coveredMs = 0;
  let energyLimitedMs = 0;
  let loadWh = 0;
  let switchOns = 0;
  let prevOn: boolean | null = null;
  for (let i = 0; i < rs.length; i++) {
    const r = rs[i] as Reading;
    const on = r.load.on && r.load.w > 0;
    if (prevOn === false && on && r.ts >= n.start - BAND_MS && r.ts <= n.end + BAND_MS) switchOns++;
    prevOn = on;
    const next = rs[i + 1];
    const until =
      next && next.ts - r.ts <= input.maxGapMs ? next.ts : r.ts + Math.min(input.maxGapMs / 2, next ? next.ts - r.ts : input.maxGapMs / 2);
    const a = Math.max(r.ts, n.start);
    const b = Math.min(until, n.end);
    if (b <= a) continue;
    const span = b - a;
    coveredMs += span;
    loadWh += (r.load.w * span) / 3600_000;
    const expectedW = input.lampW ? (input.lampW * levelAt(a, n, profile)) / 100 : null;
    const lit = on && (expectedW === null || r.load.w >= RULES.darkBelow * expectedW);
    if (lit) litMs += span;
    else if (r.faults.includes("over_discharge") || r.battery.v <= RULES.lvdV) energyLimitedMs += span;
  }
  const dayBefore = rs.filter((r) => r.ts < n.dusk && r.ts > n.dusk - 14 * 3600_000);
  const pvWhDayBefore = dayBefore.length > 0 ? Math.max(...dayBefore.map((r) => r.energyToday.pvWh)) : null;
  const unlit = coveredMs - litMs;
  let classification: NightClass;
  // Judged over the minutes with data (no data is not darkness); how much of the window they cover is its own figure
  // (coveredMin), and under half of it the night is offline.
  if (coveredMs < MIN_COVERAGE * expectedMs) classification = "offline";
  else if (switchOns > RULES.maxSwitchOns) classification = "cycling";
  else if (litMs >= LIT_SHARE * coveredMs) classification = "lit";
  else if (energyLimitedMs > 0.5 * unlit) classification = "energy_limited";
  else if (litMs < RULES.darkBelow * coveredMs) classification = "dark";
  else classification = "partial";
  const min = (ms: number) => Math.round(ms / 60_000);
  return {
    deviceId: input.deviceId,
    date: n.date,
    dusk: new Date(n.dusk).toISOString(),
    dawn: new Date(n.dawn).toISOString(),
    expectedMin: min(expectedMs),
    litMin: min(litMs),
    coveredMin: min(coveredMs),
    loadWh: Math.round(loadWh),
    pvWhDayBefore,
    switchOns,
    classification,
    flags: [],
    lastTs: rs.length > 0 ? new Date((rs[rs.length - 1] as Reading).ts).toISOString() : null,
    gps: lastFix(rs),
  };
}

function lastFix(rs: Reading[]): NightRecord["gps"] {
  for (let i = rs.length - 1; i >= 0; i--) {
    const g = rs[i]?.gps;
    if (g) return { lat: g.lat, lon: g.lon, accM: g.accM ?? null };
  }
  return null;
}

/**
 * Flags a night's record `charge_fault` when the day before gave (almost) no PV while most of the
 * village's other lights charged: a stolen, disconnected or shaded panel, not a cloudy day. `context`: the same
 * night's records of the village's other lights, already stored, which count for the village but are not flagged
 * here (so a night computed again alone gets the answer the first pass gave).
 */
export function flagChargeFaults(records: NightRecord[], villageOf: (id: string) => string | null, context: readonly NightRecord[] = []): void {
  const byVillage = new Map<string, { mine: NightRecord[]; all: NightRecord[] }>();
  const group = (r: NightRecord) => {
    const v = villageOf(r.deviceId) ?? "";
    let g = byVillage.get(v);
    if (!g) {
      g = { mine: [], all: [] };
      byVillage.set(v, g);
    }
    return g;
  };
  const own = new Set(records.map((r) => r.deviceId));
  for (const r of records) {
    const g = group(r);
    g.mine.push(r);
    g.all.push(r);
  }
  for (const r of context) if (!own.has(r.deviceId) && byVillage.has(villageOf(r.deviceId) ?? "")) group(r).all.push(r);
  for (const { mine, all } of byVillage.values()) {
    const known = all.filter((r) => r.pvWhDayBefore !== null);
    if (known.length < 3) continue;
    const charging = known.filter((r) => (r.pvWhDayBefore ?? 0) > 50).length;
    if (charging / known.length < 0.5) continue; // a dull day for the whole village
    for (const r of mine) if (r.pvWhDayBefore !== null && r.pvWhDayBefore <= 5 && !r.flags.includes("charge_fault")) r.flags.push("charge_fault");
  }
}
