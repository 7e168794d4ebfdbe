import { addDays, chinaDate } from "../platform/clock.js";
import type { DeviceRecord } from "../registry/store.js";
import { DEFAULT_PROFILE, levelAt, nightOf, type Profile, ProfileSchema } from "../streetlights/expectation.js";
import type { NightStore } from "../streetlights/store.js";
import { batteryOf } from "./service.js";

/** Usable share of a battery's capacity (proposal: lead-acid cycled to half, LiFePO4 to 80 %; unknown as lead-acid). */
const USABLE = { lead_acid: 0.5, lifepo4: 0.8 } as const;
/** Nights of recent PV and load looked at. */
const RECENT_NIGHTS = 7;
/** Defaults where a light's registration does not say (DOMAIN.md §2: 30 W lamps; a 100 Ah battery is a common size). */
const DEFAULT_LAMP_W = 30;
const DEFAULT_BATTERY_AH = 100;

/** Wh a lamp of `lampW` draws over night n at `profile` (5-minute steps). */
export function nightWh(lampW: number, profile: Profile, n: ReturnType<typeof nightOf>): number {
  const step = 5 * 60_000;
  let wh = 0;
  for (let t = n.start; t < n.end; t += step) wh += (lampW * levelAt(t, n, profile)) / 100 / 12;
  return wh;
}

export type Estimate = {
  lights: number;
  /** Tonight's modelled load at the profile each light runs now, and at the new one (kWh, all lights). */
  nightKWhNow: number;
  nightKWhNew: number;
  savingPct: number;
  /** The lights' own recent figures: mean nightly load and daily PV (kWh, all lights; null without nightly records). */
  recentLoadKWh: number | null;
  recentPvKWh: number | null;
  /** Days a full battery carries the light without sun, median over the lights, now and at the new profile. */
  autonomyDaysNow: number;
  autonomyDaysNew: number;
  /** Lights whose recent PV does not cover their load at the new profile (they drain day by day). */
  lightsShortOfPv: number;
  nightsFrom: string;
  nightsTo: string;
};

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : (s[Math.floor((s.length - 1) / 2)] as number);
};
const r1 = (x: number) => Math.round(x * 10) / 10;

/**
 * What a new profile saves and how long batteries then last: tonight's modelled load (lamp power × the profile's dim
 * levels over the night at each light's position), the lights' own recent nightly load and PV from their nightly
 * records, and days of autonomy (usable battery Wh ÷ a night's load) now and at the new profile.
 */
export async function estimateProfile(
  ds: readonly DeviceRecord[],
  next: Profile,
  currentOf: (d: DeviceRecord) => Profile,
  nights: NightStore,
  now: number,
): Promise<Estimate> {
  const today = chinaDate(now);
  const from = addDays(today, -RECENT_NIGHTS);
  const to = addDays(today, -1);
  const recent = new Map<string, { load: number; pv: number; n: number; pvN: number }>();
  const ids = ds.map((d) => d.id);
  for (let date = from; date <= to; date = addDays(date, 1)) {
    for (const r of await nights.on(date, ids)) {
      const e = recent.get(r.deviceId) ?? { load: 0, pv: 0, n: 0, pvN: 0 };
      e.load += r.loadWh;
      e.n++;
      if (r.pvWhDayBefore !== null) {
        e.pv += r.pvWhDayBefore;
        e.pvN++;
      }
      recent.set(r.deviceId, e);
    }
  }
  let nowWh = 0;
  let newWh = 0;
  let loadWh = 0;
  let pvWh = 0;
  let withRecent = 0;
  let short = 0;
  const autonomyNow: number[] = [];
  const autonomyNew: number[] = [];
  for (const d of ds) {
    const lampW = typeof d.attrs.lampW === "number" ? d.attrs.lampW : DEFAULT_LAMP_W;
    const n = nightOf(today, d.lat ?? 29.35, d.lon ?? 105.9, next);
    const cur = currentOf(d);
    const a = nightWh(lampW, cur, nightOf(today, d.lat ?? 29.35, d.lon ?? 105.9, cur));
    const b = nightWh(lampW, next, n);
    nowWh += a;
    newWh += b;
    const battery = batteryOf(d);
    const ah = typeof d.attrs.batteryAh === "number" ? d.attrs.batteryAh : DEFAULT_BATTERY_AH;
    const usable = ah * battery.nominalV * USABLE[battery.chemistry ?? "lead_acid"];
    if (a > 0) autonomyNow.push(usable / a);
    if (b > 0) autonomyNew.push(usable / b);
    const r = recent.get(d.id);
    if (r && r.n > 0) {
      withRecent++;
      loadWh += r.load / r.n;
      const pv = r.pvN > 0 ? r.pv / r.pvN : 0;
      pvWh += pv;
      // the measured load scaled by the profiles' ratio, against the light's own PV
      if (r.pvN > 0 && pv < (a > 0 ? (r.load / r.n) * (b / a) : b)) short++;
    }
  }
  return {
    lights: ds.length,
    nightKWhNow: r1(nowWh / 1000),
    nightKWhNew: r1(newWh / 1000),
    savingPct: nowWh > 0 ? r1((100 * (nowWh - newWh)) / nowWh) : 0,
    recentLoadKWh: withRecent > 0 ? r1(loadWh / 1000) : null,
    recentPvKWh: withRecent > 0 ? r1(pvWh / 1000) : null,
    autonomyDaysNow: r1(median(autonomyNow)),
    autonomyDaysNew: r1(median(autonomyNew)),
    lightsShortOfPv: short,
    nightsFrom: from,
    nightsTo: to,
  };
}

/** The profile a light runs now: the one it applied by command, else its registered one. */
export const currentProfile =
  (applied: (id: string) => Profile | null) =>
  (d: DeviceRecord): Profile => {
    const a = applied(d.id);
    if (a) return a;
    const p = ProfileSchema.safeParse(d.attrs.profile);
    return p.success ? p.data : DEFAULT_PROFILE;
  };

/** Nights after a campaign looked at by its check: a month of them is enough to see a profile's effect. */
const OUTCOME_NIGHTS = 30;

export type Outcome = {
  /** The nights looked at: from the campaign's day to yesterday (at most OUTCOME_NIGHTS). */
  nightsFrom: string;
  nightsTo: string;
  /** Lights with at least one night after they applied the command, and their nights recorded. */
  lights: number;
  nights: number;
  /** Those lights' own mean nightly load and daily PV (kWh, all of them) since they applied it. */
  loadKWh: number | null;
  pvKWh: number | null;
  /** The model's nightly load at the campaign's profile for the same lights and nights (null for an override or config). */
  modelledLoadKWh: number | null;
  /** The measured load against the model's, in % (+: the lights drew more than the estimate said). */
  loadVsModelPct: number | null;
  /** The same lights' mean nightly load over the nights before the campaign, and the saving measured against it. */
  loadBeforeKWh: number | null;
  savingPct: number | null;
  /** Days a full battery carries a light at its measured nightly load (median over the lights). */
  autonomyDays: number | null;
  /** Lights whose measured PV did not cover their measured load. */
  lightsShortOfPv: number;
};

/**
 * A campaign checked against what its lights then reported (issue 22): for each light that applied the command, its
 * nightly records of the nights that began after it answered (load, the day's PV) against the model's load at the new
 * profile for those same nights, its own load over the RECENT_NIGHTS before the campaign, and the days of autonomy its
 * battery gives at the load measured. The estimate made before sending is beside it in the campaign.
 */
export async function checkOutcome(
  ds: readonly DeviceRecord[],
  appliedAt: ReadonlyMap<string, number>,
  profile: Profile | null,
  createdAt: number,
  nights: NightStore,
  now: number,
): Promise<Outcome> {
  const first = chinaDate(createdAt);
  const yesterday = addDays(chinaDate(now), -1);
  const last = [yesterday, addDays(first, OUTCOME_NIGHTS - 1)].sort()[0] as string;
  const lights = ds.filter((d) => appliedAt.has(d.id));
  const ids = lights.map((d) => d.id);
  type Acc = { load: number; pv: number; n: number; pvN: number; model: number; before: number; beforeN: number };
  const acc = new Map<string, Acc>();
  const of = (id: string) => {
    let a = acc.get(id);
    if (!a) {
      a = { load: 0, pv: 0, n: 0, pvN: 0, model: 0, before: 0, beforeN: 0 };
      acc.set(id, a);
    }
    return a;
  };
  const byId = new Map(lights.map((d) => [d.id, d]));
  if (ids.length > 0) {
    for (let date = addDays(first, -RECENT_NIGHTS); date < first; date = addDays(date, 1)) {
      for (const r of await nights.on(date, ids)) {
        const a = of(r.deviceId);
        a.before += r.loadWh;
        a.beforeN++;
      }
    }
    for (let date = first; date <= last; date = addDays(date, 1)) {
      for (const r of await nights.on(date, ids)) {
        const d = byId.get(r.deviceId);
        if (!d || Date.parse(r.dusk) < (appliedAt.get(r.deviceId) as number)) continue; // a night begun before it applied it
        const a = of(r.deviceId);
        a.load += r.loadWh;
        a.n++;
        if (r.pvWhDayBefore !== null) {
          a.pv += r.pvWhDayBefore;
          a.pvN++;
        }
        if (profile) {
          const lampW = typeof d.attrs.lampW === "number" ? d.attrs.lampW : DEFAULT_LAMP_W;
          a.model += nightWh(lampW, profile, nightOf(date, d.lat ?? 29.35, d.lon ?? 105.9, profile));
        }
      }
    }
  }
  let n = 0;
  let nightsN = 0;
  let load = 0;
  let pv = 0;
  let model = 0;
  let before = 0;
  let after = 0;
  let withBefore = 0;
  let short = 0;
  const autonomy: number[] = [];
  for (const d of lights) {
    const a = acc.get(d.id);
    if (!a || a.n === 0) continue;
    n++;
    nightsN += a.n;
    const meanLoad = a.load / a.n;
    load += meanLoad;
    pv += a.pvN > 0 ? a.pv / a.pvN : 0;
    model += a.model / a.n;
    if (a.beforeN > 0) {
      withBefore++;
      before += a.before / a.beforeN;
      after += meanLoad;
    }
    if (a.pvN > 0 && a.pv / a.pvN < meanLoad) short++;
    const battery = batteryOf(d);
    const ah = typeof d.attrs.batteryAh === "number" ? d.attrs.batteryAh : DEFAULT_BATTERY_AH;
    if (meanLoad > 0) autonomy.push((ah * battery.nominalV * USABLE[battery.chemistry ?? "lead_acid"]) / meanLoad);
  }
  const measured = n > 0;
  return {
    nightsFrom: first,
    nightsTo: last,
    lights: n,
    nights: nightsN,
    loadKWh: measured ? r1(load / 1000) : null,
    pvKWh: measured ? r1(pv / 1000) : null,
    modelledLoadKWh: measured && profile ? r1(model / 1000) : null,
    loadVsModelPct: measured && profile && model > 0 ? r1((100 * (load - model)) / model) : null,
    loadBeforeKWh: withBefore > 0 ? r1(before / 1000) : null,
    savingPct: withBefore > 0 && before > 0 ? r1((100 * (before - after)) / before) : null,
    autonomyDays: autonomy.length > 0 ? r1(median(autonomy)) : null,
    lightsShortOfPv: short,
  };
}
