import type { z } from "zod";
import type { ProfileSchema } from "../../devices/index.js";
import { chinaDate, chinaDayNumber, chinaDayStart, chinaMsOfDay, chinaNoon, DAY_MS } from "../platform/clock.js";
import { sunsetSunrise } from "./sun.js";

/**
 * When a light should be lit, and at what power (DOMAIN.md §2 "When a lamp should be lit").
 * The window runs from sunset at the light's own coordinates to the next sunrise (or for a set
 * number of hours after sunset), in China time (UTC+8, no daylight saving). Controllers switch on
 * from PV voltage with a confirmation delay, so 30 minutes either side of dusk and dawn are a band
 * in which neither lit nor dark is an anomaly (DOMAIN.md, proposal).
 */
export const BAND_MS = 30 * 60_000;

export { ProfileSchema, StageSchema } from "../../devices/index.js";
export type Profile = z.infer<typeof ProfileSchema>;
export const DEFAULT_PROFILE: Profile = { mode: "dusk_to_dawn", stages: [{ afterDuskH: 0, pct: 100 }] };

export type Night = { date: string; dusk: number; dawn: number; start: number; end: number };
export type Expectation =
  | { state: "on"; pct: number; night: Night }
  | { state: "off"; night: Night | null }
  | { state: "band"; pct: number; night: Night };

const DAY = DAY_MS;
/** Local (China) calendar date of an instant. */
export const localDate = chinaDate;

/**
 * Sunset on `date` and sunrise the next morning at (lat, lon). They change once a day per light, and every
 * reading asks, so they are remembered (bounded: the cache is emptied past 200,000 entries).
 */
const sunCache = new Map<string, { dusk: number; dawn: number }>();
function sunTimes(date: string, lat: number, lon: number): { dusk: number; dawn: number } {
  const key = `${date}|${lat}|${lon}`;
  let v = sunCache.get(key);
  if (!v) {
    const noon = chinaNoon(date);
    v = {
      dusk: sunsetSunrise(noon, lat, lon).sunset,
      dawn: sunsetSunrise(noon + DAY, lat, lon).sunrise,
    };
    if (sunCache.size >= 200_000) sunCache.clear();
    sunCache.set(key, v);
  }
  return v;
}

/** The night that begins on the evening of local date `date` at (lat, lon). */
export function nightOf(date: string, lat: number, lon: number, profile: Profile): Night {
  const { dusk, dawn } = sunTimes(date, lat, lon);
  return nightFrom(date, dusk, dawn, profile);
}

const nightFrom = (date: string, dusk: number, dawn: number, profile: Profile): Night => {
  const end = profile.mode === "dusk_plus" && profile.hours ? Math.min(dawn, dusk + profile.hours * 3600_000) : dawn;
  return { date, dusk, dawn, start: dusk, end };
};

/**
 * The night each place is in now, by place: every reading of a light asks (two or three times), so the answer
 * for its current noon-to-noon window is kept without building a date string or a cache key (which cost more than
 * the rules themselves: docs/BENCHMARKS.md). Bounded like the cache above.
 */
type PlaceNight = { window: number; date: string; dusk: number; dawn: number; profile: Profile | null; night: Night | null };
const byPlace = new Map<number, Map<number, PlaceNight>>();
let places = 0;
function placeNight(t: number, lat: number, lon: number): PlaceNight {
  // Local noon to the next local noon is one window; its night begins on the evening of its first day.
  const window = chinaDayNumber(t - DAY / 2);
  let byLon = byPlace.get(lat);
  if (!byLon) {
    if (places >= 200_000) {
      byPlace.clear();
      places = 0;
    }
    byLon = new Map();
    byPlace.set(lat, byLon);
  }
  let e = byLon.get(lon);
  if (e?.window !== window) {
    const date = chinaDate(t - DAY / 2);
    const { dusk, dawn } = sunTimes(date, lat, lon);
    if (!e) places++;
    e = { window, date, dusk, dawn, profile: null, night: null };
    byLon.set(lon, e);
  }
  return e;
}

/** The night around instant t: tonight's if t is after today's noon, else last night's. Shared: do not modify it. */
export function nightAround(t: number, lat: number, lon: number, profile: Profile): Night {
  const e = placeNight(t, lat, lon);
  if (e.profile !== profile || !e.night) {
    e.profile = profile;
    e.night = nightFrom(e.date, e.dusk, e.dawn, profile);
  }
  return e.night;
}

/** Dimming level at t within the night (stages in order; a later stage overrides an earlier one once reached). */
export function levelAt(t: number, n: Night, profile: Profile): number {
  let pct = 0;
  for (const s of profile.stages) {
    const from = "afterDuskH" in s ? n.start + s.afterDuskH * 3600_000 : "beforeDawnH" in s ? n.end - s.beforeDawnH * 3600_000 : clockTime(n, s.at);
    if (t >= from) pct = s.pct;
  }
  return pct;
}

/** A stage's China clock time ("HH:MM") within night n: from 12:00 on the evening's date, before it the next morning. */
function clockTime(n: Night, at: string): number {
  const h = Number(at.slice(0, 2));
  return chinaDayStart(n.date) + h * 3600_000 + Number(at.slice(3, 5)) * 60_000 + (h < 12 ? DAY : 0);
}

/** What a light should be doing at t. Its night is shared (nightAround): do not modify it. */
export function expectationAt(t: number, lat: number, lon: number, profile: Profile): Expectation {
  const n = nightAround(t, lat, lon, profile);
  const nearEdge = Math.abs(t - n.start) < BAND_MS || Math.abs(t - n.end) < BAND_MS;
  const inside = t >= n.start && t < n.end;
  if (nearEdge) return { state: "band", pct: inside ? levelAt(t, n, profile) : levelAt(n.start, n, profile), night: n };
  if (inside) return { state: "on", pct: levelAt(t, n, profile), night: n };
  return { state: "off", night: t < n.start ? null : n };
}

/**
 * Is the sun well up (at least an hour after sunrise and before sunset)? PV should then charge. Before local noon
 * today's sunrise is the dawn of the night around t; after it, today's sunset is that night's dusk (sunrise in China
 * time is before 11:00 and sunset after 13:00 everywhere in China, so the other bound always holds).
 */
export function fullDaylight(t: number, lat: number, lon: number): boolean {
  const e = placeNight(t, lat, lon);
  const beforeNoon = chinaMsOfDay(t) < DAY / 2;
  return beforeNoon ? t > e.dawn + 3600_000 : t < e.dusk - 3600_000;
}

/** Great-circle distance in metres. */
export function distanceM(a: { lat: number; lon: number }, b: { lat: number; lon: number }): number {
  const R = 6_371_000;
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * R * Math.asin(Math.sqrt(h));
}
