/**
 * China time, owned here and nowhere else: UTC+8 all year (China has kept no daylight saving since 1991), so an
 * instant's China wall clock is the instant plus eight hours. Days, dates and the times people read (`2026-12-02
 * 08:00`) are computed here; the API keeps ISO 8601 in its JSON fields.
 */
const OFFSET_MS = 8 * 3600_000;
export const DAY_MS = 86_400_000;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** The instant's China wall-clock reading as an ISO string without a zone (`2026-12-02T08:00:00.000`). */
const wall = (ms: number) => new Date(ms + OFFSET_MS).toISOString().slice(0, 23);

/** An instant as people read it: China time, `YYYY-MM-DD HH:mm`. */
export function chinaTime(ms: number): string {
  const w = wall(ms);
  return `${w.slice(0, 10)} ${w.slice(11, 16)}`;
}

/** The China calendar date (`YYYY-MM-DD`) of an instant. */
export const chinaDate = (ms: number): string => wall(ms).slice(0, 10);

/** The China time of day (`HH:mm`) of an instant. */
export const chinaClock = (ms: number): string => wall(ms).slice(11, 16);

/** Milliseconds since China midnight. */
export const chinaMsOfDay = (ms: number): number => (((ms + OFFSET_MS) % DAY_MS) + DAY_MS) % DAY_MS;

/** Whole China days since 1970-01-01 (China): one number per China day, for comparing days cheaply. */
export const chinaDayNumber = (ms: number): number => Math.floor((ms + OFFSET_MS) / DAY_MS);

/** The instant a China date (`YYYY-MM-DD`) begins: 00:00 China time. */
export function chinaDayStart(date: string): number {
  if (!DATE.test(date)) throw new RangeError(`not a date (YYYY-MM-DD): ${date}`);
  return Date.parse(`${date}T00:00:00Z`) - OFFSET_MS;
}

/** 12:00 China time on a date: a day's instant that no rounding near midnight can move to another date. */
export const chinaNoon = (date: string): number => chinaDayStart(date) + DAY_MS / 2;

/** The last millisecond of a China date. */
export const chinaDayEnd = (date: string): number => chinaDayStart(date) + DAY_MS - 1;

/** The start (00:00 China time) of the China day that holds an instant. */
export const chinaMidnight = (ms: number): number => ms - chinaMsOfDay(ms);

/** ISO weekday (1 = Monday … 7 = Sunday) of the China day that holds an instant. */
export const chinaWeekday = (ms: number): number => ((new Date(ms + OFFSET_MS).getUTCDay() + 6) % 7) + 1;

/** The China date `days` after (or before, when negative) a China date. */
export const addDays = (date: string, days: number): string => chinaDate(chinaNoon(date) + days * DAY_MS);

/** ISO 8601: a date, or a date and time, with or without seconds, fractions and a zone. */
const TIME = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?)(Z|[+-]\d{2}:?\d{2})?)?$/;
/**
 * The instant an ISO 8601 time a person wrote names, in milliseconds (NaN when it names none): a date alone is 00:00
 * China time that day, a date and time without a zone is China time (whatever the server's own zone), one with a zone
 * is that instant. A date that does not exist (2026-02-30) is none.
 */
export function parseChinaTime(text: string): number {
  const m = TIME.exec(text);
  if (!m) return Number.NaN;
  const [, date, time, zone] = m;
  const day = Date.parse(`${date}T00:00:00Z`);
  // (Date.parse may refuse a date that does not exist, or roll it over into the next month)
  if (!Number.isFinite(day) || new Date(day).toISOString().slice(0, 10) !== date) return Number.NaN;
  const at = Date.parse(`${date}T${time ?? "00:00"}${zone ?? "Z"}`);
  return zone ? at : at - OFFSET_MS;
}
