/**
 * Sunset and sunrise, and nothing else: suncalc's `getTimes` (the formulas of aa.quae.nl, which the rules have always
 * used) works out six pairs of times and fourteen Date objects per call, and a district's first nightly pass after a
 * start asks it twice for each of 18,105 lights and each recent night, on the service's thread (~60 µs a call: a
 * second or more in which no PUBACK goes out). These are the same formulas for the one pair the rules read, as
 * milliseconds; `test/streetlight-expectation.test.ts` checks they equal suncalc's to the millisecond.
 */
const { PI, sin, cos, asin, acos, round } = Math;
const RAD = PI / 180;
const DAY_MS = 86_400_000;
const J1970 = 2440588;
const J2000 = 2451545;
const J0 = 0.0009;
const OBLIQUITY = RAD * 23.4397;
const PERIHELION = RAD * 102.9372;
/** The sun's centre 0.833° below the horizon: refraction and its radius (suncalc's `sunrise`/`sunset`). */
const H0 = -0.833 * RAD;

/** Sunset and sunrise (ms since the epoch) of the solar day around instant `t`, at `lat`, `lon` (degrees). */
export function sunsetSunrise(t: number, lat: number, lon: number): { sunset: number; sunrise: number } {
  const lw = RAD * -lon;
  const phi = RAD * lat;
  const d = t / DAY_MS - 0.5 + J1970 - J2000;
  const n = round(d - J0 - lw / (2 * PI));
  const ds = J0 + lw / (2 * PI) + n;
  const M = RAD * (357.5291 + 0.98560028 * ds);
  const L = M + RAD * (1.9148 * sin(M) + 0.02 * sin(2 * M) + 0.0003 * sin(3 * M)) + PERIHELION + PI;
  const dec = asin(sin(OBLIQUITY) * sin(L));
  const transit = (a: number) => J2000 + a + 0.0053 * sin(M) - 0.0069 * sin(2 * L);
  const noon = transit(ds);
  const w = acos((sin(H0) - sin(phi) * sin(dec)) / (cos(phi) * cos(dec)));
  const set = transit(J0 + (w + lw) / (2 * PI) + n);
  const rise = noon - (set - noon);
  // (a Date keeps whole milliseconds, dropping the fraction: the same here)
  return { sunset: Math.trunc((set + 0.5 - J1970) * DAY_MS), sunrise: Math.trunc((rise + 0.5 - J1970) * DAY_MS) };
}
