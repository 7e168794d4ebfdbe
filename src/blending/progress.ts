import { addWorkingTime, endOfLocalDay, subtractWorkingTime, type WorkingHours, workingMsBetween, workingMsPerDay } from "./schedule.js";

export type CompletedBatch = { endedAt: number; actualT: number; bags: number };

export type Progress = {
  targetT: number;
  producedT: number;
  progressPct: number;
  bags: number;
  batches: number;
  rateTPerHour: number;
  rateTPerDay: number;
  /** Working time the rate was measured over. */
  rateWindowH: number;
  eta: string | null;
  dueDate: string;
  onSchedule: boolean | null;
};

/** The recent window for the rate: one working hour, widened to a working day when it holds fewer than 3 batches. */
export const RATE_WINDOW_MS = 3600_000;

/**
 * Order progress and time to finish. The rate is tonnes completed in the recent window of working
 * time; the finish is that rate carried forward through the station's working hours.
 * DOMAIN.md §1: 300 t ordered, 120 t made, 12 t/h over a 7.5 h shift = 90 t/day → about two working days.
 */
export function computeProgress(input: {
  targetT: number;
  dueDate: string;
  batches: CompletedBatch[];
  now: number;
  hours: WorkingHours;
  finished?: boolean;
}): Progress {
  const { targetT, batches, now, hours } = input;
  const producedT = round(
    batches.reduce((s, b) => s + b.actualT, 0),
    3,
  );
  const bags = batches.reduce((s, b) => s + b.bags, 0);
  let windowMs = RATE_WINDOW_MS;
  let recent = inWindow(batches, now, windowMs, hours);
  if (recent.length < 3) {
    windowMs = workingMsPerDay(hours);
    recent = inWindow(batches, now, windowMs, hours);
  }
  const rateTPerHour = recent.length > 0 ? recent.reduce((s, b) => s + b.actualT, 0) / (windowMs / 3600_000) : 0;
  const remaining = Math.max(0, targetT - producedT);
  const due = endOfLocalDay(input.dueDate);
  let eta: number | null = null;
  let onSchedule: boolean | null = null;
  if (remaining === 0 || input.finished) {
    eta = batches.at(-1)?.endedAt ?? now;
    onSchedule = eta <= due;
  } else if (rateTPerHour > 0) {
    eta = addWorkingTime(now, (remaining / rateTPerHour) * 3600_000, hours);
    onSchedule = eta !== null && eta <= due; // no finish within ten years is behind any due date
  } else if (now > due) {
    onSchedule = false; // not done, nothing running, and the due date is past
  }
  return {
    targetT,
    producedT,
    progressPct: targetT > 0 ? round(Math.min(100, (producedT / targetT) * 100), 1) : 0,
    bags,
    batches: batches.length,
    rateTPerHour: round(rateTPerHour, 2),
    rateTPerDay: round(rateTPerHour * (workingMsPerDay(hours) / 3600_000), 1),
    rateWindowH: round(windowMs / 3600_000, 2),
    eta: eta === null ? null : new Date(eta).toISOString(),
    dueDate: input.dueDate,
    onSchedule,
  };
}

function inWindow(batches: CompletedBatch[], now: number, ms: number, hours: WorkingHours) {
  const start = subtractWorkingTime(now, ms, hours);
  return batches.filter((b) => b.endedAt > start && b.endedAt <= now && workingMsBetween(start, now, hours) > 0);
}

const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d;
