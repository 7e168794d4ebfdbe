import { createHash } from "node:crypto";
import { distanceM, type LightWindow } from "../streetlights/index.js";
import type { Claim, Project } from "./claims.js";
import { verificationMessage as msg, type VerificationMessage } from "./messages.js";
import { REASONS, type Reason, type Verdict } from "./reasons.js";

/**
 * The verdict on each claimed light over a window of nights (DOMAIN.md §2 "Verifying subsidised
 * lights"): `verified`, or the first failing reason with its evidence, in this order.
 */
export { REASONS, type Reason, type Verdict } from "./reasons.js";

export type VerifySettings = {
  locationM: number;
  duplicatePoleM: number;
  litNightsShare: number;
  pvDaysShare: number;
  pvWh: number;
  silentH: number;
  samplePct: number;
};

export type LightResult = {
  deviceId: string;
  projectId: string;
  town: string;
  village: string;
  road: string;
  /** The claimed position (as the claims list gives it), for the field visit. */
  lat: number;
  lon: number;
  /** The subsidy claimed for this light (its project's 补助标准; 0 for a project the list lacks): verified or withheld. */
  subsidyYuan: number;
  verdict: Verdict;
  /** What the verdict rests on: its figures as parameters of a message that says it in words. */
  evidence: VerificationMessage;
};

export function verify(input: {
  projects: Project[];
  claims: Claim[];
  /** Per light over the window (the nightly records, summed up in the store). */
  windows: LightWindow[];
  nights: number;
  until: number;
  registered: (id: string) => boolean;
  settings: VerifySettings;
}): LightResult[] {
  const { settings: s } = input;
  const projects = new Map(input.projects.map((p) => [p.id, p]));
  const byDevice = new Map(input.windows.map((w) => [w.deviceId, w]));
  // Identity: one subsidy per physical device, across every claim, town and year.
  const bySerial = groupBy(input.claims, (c) => c.controllerSerial);
  const byImei = groupBy(input.claims, (c) => c.imei);
  const poles = nearPoles(input.claims, s.duplicatePoleM);
  const nightsN = input.nights;
  return input.claims.map((c): LightResult => {
    const p = projects.get(c.projectId);
    const base = {
      deviceId: c.deviceId,
      projectId: c.projectId,
      town: p?.town ?? "",
      village: p?.village ?? "",
      road: p?.road ?? "",
      lat: c.lat,
      lon: c.lon,
      subsidyYuan: p?.subsidyYuan ?? 0,
    };
    const w = byDevice.get(c.deviceId);
    const lastTs = w?.lastTs ?? 0;
    const fail = (verdict: Reason, evidence: VerificationMessage): LightResult => ({ ...base, verdict, evidence });
    if (!input.registered(c.deviceId) || lastTs === 0)
      return fail("not_reporting", msg("evidence_not_reporting", { registered: input.registered(c.deviceId), nightsWithData: 0 }));
    const silentH = (input.until - lastTs) / 3600_000;
    if (silentH > s.silentH)
      return fail("silent", msg("evidence_silent", { lastSeen: new Date(lastTs).toISOString(), silentHours: Math.round(silentH) }));
    if (w?.lat === null || w?.lat === undefined || w.lon === null)
      return fail("location_mismatch", msg("evidence_no_position", { claimed: { lat: c.lat, lon: c.lon } }));
    const fix = { lat: w.lat, lon: w.lon };
    const d = distanceM({ lat: c.lat, lon: c.lon }, fix);
    if (d > s.locationM)
      return fail(
        "location_mismatch",
        msg("evidence_location", {
          distanceM: Math.round(d * 10) / 10,
          limitM: s.locationM,
          claimed: { lat: c.lat, lon: c.lon },
          reported: { lat: fix.lat, lon: fix.lon },
        }),
      );
    const lit = w.litNights;
    const needLit = Math.ceil(s.litNightsShare * nightsN - 1e-9);
    if (lit < needLit) return fail("not_lit", msg("evidence_not_lit", { litNights: lit, nights: nightsN, needed: needLit }));
    const pvDays = w.pvDays;
    const needPv = Math.ceil(s.pvDaysShare * nightsN - 1e-9);
    if (pvDays < needPv) return fail("no_charging", msg("evidence_no_charging", { pvDays, days: nightsN, needed: needPv, minWh: s.pvWh }));
    const twins = [...(bySerial.get(c.controllerSerial) ?? []), ...(byImei.get(c.imei) ?? [])].filter((o) => o.deviceId !== c.deviceId);
    if (twins.length > 0) {
      const same = new Map(twins.map((o) => [`${o.deviceId}\u0000${o.projectId}`, { deviceId: o.deviceId, projectId: o.projectId }]));
      return fail("duplicate_device", msg("evidence_duplicate_device", { sameSerialOrImei: [...same.values()] }));
    }
    const near = poles.get(c.deviceId);
    if (near && near.length > 0) return fail("duplicate_pole", msg("evidence_duplicate_pole", { within: s.duplicatePoleM, claims: near }));
    return {
      ...base,
      verdict: "verified",
      evidence: msg("evidence_verified", { litNights: lit, nights: nightsN, pvDays, distanceM: Math.round(d * 10) / 10 }),
    };
  });
}

function groupBy<T>(xs: T[], key: (x: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const x of xs) m.set(key(x), [...(m.get(key(x)) ?? []), x]);
  return m;
}

/** Claims within `m` of each other, found through a grid of cells `m` wide (no all-pairs scan). */
function nearPoles(claims: Claim[], m: number): Map<string, { deviceId: string; distanceM: number }[]> {
  const cellLat = m / 111_195;
  const key = (lat: number, lon: number) => `${Math.floor(lat / cellLat)}:${Math.floor((lon * Math.cos((lat * Math.PI) / 180)) / cellLat)}`;
  const grid = groupBy(claims, (c) => key(c.lat, c.lon));
  const out = new Map<string, { deviceId: string; distanceM: number }[]>();
  for (const c of claims) {
    const [a, b] = key(c.lat, c.lon).split(":").map(Number) as [number, number];
    const found: { deviceId: string; distanceM: number }[] = [];
    for (let i = -1; i <= 1; i++)
      for (let j = -1; j <= 1; j++)
        for (const o of grid.get(`${a + i}:${b + j}`) ?? []) {
          if (o.deviceId === c.deviceId) continue;
          const d = distanceM(c, o);
          if (d < m) found.push({ deviceId: o.deviceId, distanceM: Math.round(d * 10) / 10 });
        }
    out.set(c.deviceId, found);
  }
  return out;
}

/** Why a light is on the visit list: it failed, it fell silent (to see what happened: not a failure), or the sample. */
export type VisitWhy = "failed" | "silent" | "sample";
/** Field visits: every failure and silent light, plus a reproducible sample of at least `pct` % of each town's verified lights. */
export function fieldVisits(results: LightResult[], pct: number, seed: string): (LightResult & { why: VisitWhy })[] {
  const visits: (LightResult & { why: VisitWhy })[] = results
    .filter((r) => r.verdict !== "verified")
    .map((r) => ({ ...r, why: r.verdict === "silent" ? ("silent" as const) : ("failed" as const) }));
  const verifiedByTown = groupBy(
    results.filter((r) => r.verdict === "verified"),
    (r) => r.town,
  );
  for (const [, list] of [...verifiedByTown].sort(([a], [b]) => a.localeCompare(b))) {
    const n = Math.ceil((list.length * pct) / 100);
    const ranked = [...list].sort((a, b) => rank(seed, a.deviceId).localeCompare(rank(seed, b.deviceId)));
    for (const r of ranked.slice(0, n)) visits.push({ ...r, why: "sample" });
  }
  return visits;
}
const rank = (seed: string, id: string) => createHash("sha256").update(seed).update("\0").update(id).digest("hex");

/**
 * The counts and the yuan of a set of verdicts: claimed (every light's subsidy), verified and withheld (claimed less
 * verified), side by side; each light's subsidy is its own (`LightResult.subsidyYuan`), summed once here.
 */
export function summarise(results: readonly LightResult[]) {
  const byReason: Record<string, number> = Object.fromEntries(REASONS.map((r) => [r, 0]));
  let verified = 0;
  let reporting = 0;
  let claimedSubsidyYuan = 0;
  let verifiedSubsidyYuan = 0;
  for (const r of results) {
    claimedSubsidyYuan += r.subsidyYuan;
    if (r.verdict !== "not_reporting") reporting++;
    if (r.verdict === "verified") {
      verified++;
      verifiedSubsidyYuan += r.subsidyYuan;
    } else byReason[r.verdict] = (byReason[r.verdict] ?? 0) + 1;
  }
  return {
    claimed: results.length,
    reporting,
    verified,
    byReason,
    claimedSubsidyYuan,
    verifiedSubsidyYuan,
    withheldSubsidyYuan: claimedSubsidyYuan - verifiedSubsidyYuan,
  };
}
export type VerificationSummary = ReturnType<typeof summarise>;
