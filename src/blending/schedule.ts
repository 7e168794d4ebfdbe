import { z } from "zod";
import { chinaDayEnd, chinaMidnight, chinaWeekday, DAY_MS } from "../platform/clock.js";

/**
 * A station's working hours, in China time (UTC+8, no daylight saving). Default: 08:00–12:00 and
 * 13:30–17:00, every day: a 7.5 h shift, which is what 90 t/day at 12 t/h takes (DOMAIN.md §1).
 */
const HHMM = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, "hint_hhmm");
export const WorkingHoursSchema = z.object({
  periods: z
    .array(z.tuple([HHMM, HHMM]))
    .min(1)
    .max(6)
    .refine((ps) => ps.every(([a, b]) => a < b), "hint_period_order")
    .refine((ps) => ps.every((p, i) => i === 0 || (ps[i - 1]?.[1] ?? "") <= p[0]), "hint_periods_overlap"),
  /** ISO weekdays: 1 = Monday … 7 = Sunday. */
  days: z.array(z.number().int().min(1).max(7)).min(1).max(7).default([1, 2, 3, 4, 5, 6, 7]),
});
export type WorkingHours = z.infer<typeof WorkingHoursSchema>;
export const DEFAULT_HOURS: WorkingHours = {
  periods: [
    ["08:00", "12:00"],
    ["13:30", "17:00"],
  ],
  days: [1, 2, 3, 4, 5, 6, 7],
};

const DAY = DAY_MS;
const minutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3));
/** China midnight of the day containing t, as an epoch ms. */
const localMidnight = chinaMidnight;
const isoWeekday = chinaWeekday;

/** Working intervals of one local day. */
function intervals(midnight: number, h: WorkingHours): [number, number][] {
  if (!h.days.includes(isoWeekday(midnight))) return [];
  return h.periods.map(([a, b]) => [midnight + minutes(a) * 60_000, midnight + minutes(b) * 60_000]);
}

export function workingMsPerDay(h: WorkingHours): number {
  return h.periods.reduce((s, [a, b]) => s + (minutes(b) - minutes(a)) * 60_000, 0);
}

export function isWorking(t: number, h: WorkingHours): boolean {
  return intervals(localMidnight(t), h).some(([a, b]) => t >= a && t < b);
}

/** Working time between two instants. */
export function workingMsBetween(from: number, to: number, h: WorkingHours): number {
  let total = 0;
  for (let day = localMidnight(from); day < to; day += DAY) {
    for (const [a, b] of intervals(day, h)) total += Math.max(0, Math.min(b, to) - Math.max(a, from));
  }
  return total;
}

/** The instant at which `ms` of working time has passed after `from` (at most ten years on). */
export function addWorkingTime(from: number, ms: number, h: WorkingHours): number | null {
  let left = ms;
  for (let day = localMidnight(from), n = 0; n < 3660; day += DAY, n++) {
    for (const [a, b] of intervals(day, h)) {
      const start = Math.max(a, from);
      if (b <= start) continue;
      if (b - start >= left) return start + left;
      left -= b - start;
    }
  }
  return null;
}

/** The instant `ms` of working time before `to`. */
export function subtractWorkingTime(to: number, ms: number, h: WorkingHours): number {
  let left = ms;
  for (let day = localMidnight(to), n = 0; n < 3660; day -= DAY, n++) {
    for (const [a, b] of [...intervals(day, h)].reverse()) {
      const end = Math.min(b, to);
      if (end <= a) continue;
      if (end - a >= left) return end - left;
      left -= end - a;
    }
  }
  return to - ms;
}

/** End of a due date (YYYY-MM-DD, China time): the order is on schedule if it finishes by then. */
export function endOfLocalDay(date: string): number {
  return chinaDayEnd(date);
}
