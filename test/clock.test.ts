import { describe, expect, it } from "vitest";
import {
  addDays,
  chinaClock,
  chinaDate,
  chinaDayEnd,
  chinaDayNumber,
  chinaDayStart,
  chinaMidnight,
  chinaMsOfDay,
  chinaNoon,
  chinaTime,
  chinaWeekday,
  parseChinaTime,
} from "../src/platform/clock.js";

const utc = (iso: string) => Date.parse(iso);

describe("China time (UTC+8, one owner)", () => {
  it.each([
    // instant (UTC)                 China time            date          clock    weekday
    ["2026-12-01T16:00:19Z", "2026-12-02 00:00", "2026-12-02", "00:00", 3],
    ["2026-12-01T15:59:59Z", "2026-12-01 23:59", "2026-12-01", "23:59", 2],
    ["2026-12-02T00:00:00Z", "2026-12-02 08:00", "2026-12-02", "08:00", 3],
    ["2025-12-31T16:30:00Z", "2026-01-01 00:30", "2026-01-01", "00:30", 4], // a new year begins in China first
    ["2024-02-28T20:00:00Z", "2024-02-29 04:00", "2024-02-29", "04:00", 4], // leap day
    ["1970-01-01T00:00:00Z", "1970-01-01 08:00", "1970-01-01", "08:00", 4],
    ["1969-12-31T20:00:00Z", "1970-01-01 04:00", "1970-01-01", "04:00", 4], // before the epoch
  ])("%s reads as %s", (iso, time, date, clock, weekday) => {
    const ms = utc(iso);
    expect(chinaTime(ms)).toBe(time);
    expect(chinaDate(ms)).toBe(date);
    expect(chinaClock(ms)).toBe(clock);
    expect(chinaWeekday(ms)).toBe(weekday);
    expect(chinaMidnight(ms)).toBe(chinaDayStart(date));
    expect(chinaMsOfDay(ms)).toBe(ms - chinaDayStart(date));
    expect(chinaDayNumber(ms)).toBe(chinaDayNumber(chinaDayStart(date)));
    expect(chinaDayNumber(ms) - chinaDayNumber(chinaDayStart(date) - 1)).toBe(1);
  });

  it.each([
    // date          starts (UTC)                 noon (UTC)                 ends (UTC)
    ["2026-12-02", "2026-12-01T16:00:00.000Z", "2026-12-02T04:00:00.000Z", "2026-12-02T15:59:59.999Z"],
    ["2024-02-29", "2024-02-28T16:00:00.000Z", "2024-02-29T04:00:00.000Z", "2024-02-29T15:59:59.999Z"],
  ])("the China day %s", (date, start, noon, end) => {
    expect(new Date(chinaDayStart(date)).toISOString()).toBe(start);
    expect(new Date(chinaNoon(date)).toISOString()).toBe(noon);
    expect(new Date(chinaDayEnd(date)).toISOString()).toBe(end);
  });

  it.each([
    ["2026-12-02", -1, "2026-12-01"],
    ["2026-03-01", -1, "2026-02-28"],
    ["2024-03-01", -1, "2024-02-29"],
    ["2025-12-31", 1, "2026-01-01"],
    ["2026-12-02", -30, "2026-11-02"],
    ["2026-12-02", 0, "2026-12-02"],
  ])("%s %i days is %s", (date, days, expected) => {
    expect(addDays(date, days)).toBe(expected);
  });

  it("refuses what is not a date", () => {
    expect(() => chinaDayStart("2026-12-2")).toThrow(RangeError);
    expect(() => chinaDayStart("yesterday")).toThrow(RangeError);
  });

  it.each([
    ["2026-11-01", "2026-10-31T16:00:00.000Z"], // a date: 00:00 China time
    ["2026-11-01T08:00", "2026-11-01T00:00:00.000Z"], // no zone: China time, whatever the server's zone
    ["2026-11-01 08:00:30.5", "2026-11-01T00:00:30.500Z"],
    ["2026-11-01T00:00:00Z", "2026-11-01T00:00:00.000Z"], // a zone: that instant
    ["2026-11-01T09:00:00+0900", "2026-11-01T00:00:00.000Z"],
  ])("reads %s as %s", (text, iso) => {
    expect(new Date(parseChinaTime(text)).toISOString()).toBe(iso);
  });

  it.each(["2026-02-30", "2026-13-01", "2026-11-01T25:00", "yesterday", "1764335100000", "2026-11-1"])("reads no time in %s", (text) => {
    expect(parseChinaTime(text)).toBeNaN();
  });
});
