import type { WorkOrder } from "./model.js";
import { FINISHED } from "./rules.js";

/** Nights in a row a light must have been unlit to count as dark for long (the manager's "more than 3 nights"). */
export const DARK_NIGHTS = 4;

const quantile = (sorted: readonly number[], q: number): number | null => {
  if (sorted.length === 0) return null;
  const i = (sorted.length - 1) * q;
  const lo = Math.floor(i);
  const hi = Math.ceil(i);
  return (sorted[lo] as number) + ((sorted[hi] as number) - (sorted[lo] as number)) * (i - lo);
};
const hours = (ms: number) => Math.round((ms / 3600_000) * 10) / 10;

/**
 * What a district manager asks of field work, over the orders given (the caller's towns, made in the window):
 * open work by town (and how much is overdue), time to repair by cause (made → closed by the light's proof; the cause
 * is the first thing found on site), the first-time-fix rate (closed without ever reopening, of the closed), and the
 * lights unlit on each of the last DARK_NIGHTS nights, by town.
 */
export function fieldFigures(orders: readonly WorkOrder[], darkLights: ReadonlyMap<string, readonly string[]>, now: number) {
  const openByTown: Record<string, { open: number; overdue: number }> = {};
  const repairs = new Map<string, number[]>();
  let closed = 0;
  let firstTime = 0;
  for (const o of orders) {
    if (!FINISHED.has(o.state)) {
      const t = openByTown[o.town] ?? { open: 0, overdue: 0 };
      t.open++;
      if (o.dueAt < now) t.overdue++;
      openByTown[o.town] = t;
    }
    if (o.state === "closed" && o.closedAt !== null) {
      closed++;
      if (o.reopened === 0) firstTime++;
      const cause = o.record?.found[0] ?? "unknown";
      repairs.set(cause, [...(repairs.get(cause) ?? []), o.closedAt - o.createdAt]);
    }
  }
  const timeToRepair = [...repairs]
    .map(([cause, ms]) => {
      const s = [...ms].sort((a, b) => a - b);
      return { cause, repairs: s.length, medianH: hours(quantile(s, 0.5) as number), p90H: hours(quantile(s, 0.9) as number) };
    })
    .sort((a, b) => b.repairs - a.repairs || a.cause.localeCompare(b.cause));
  return {
    openByTown,
    timeToRepair,
    closed,
    firstTimeFix: closed > 0 ? Math.round((firstTime / closed) * 1000) / 1000 : null,
    darkOver3Nights: Object.fromEntries([...darkLights].map(([town, ids]) => [town, { count: ids.length, ids: ids.slice(0, 50) }])),
  };
}
export type FieldFigures = ReturnType<typeof fieldFigures>;
