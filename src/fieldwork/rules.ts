/**
 * Work orders' rules, pure: the states and the moves between them, the due time by severity, the distance of a
 * check-in from the poles, and the judgement of a repair by the light's own next readings (DOMAIN.md §2's
 * conditions, as the streetlight monitor keeps them).
 */

/**
 * open → assigned → on_the_way → on_site → done (awaiting the light's proof) → closed;
 * from any state before done: cannot_fix (with a reason) or cancelled. A done order whose light does not prove the
 * repair goes back to assigned (or open, without an assignee), with the evidence.
 */
export const STATES = ["open", "assigned", "on_the_way", "on_site", "done", "closed", "cannot_fix", "cancelled"] as const;
export type WorkState = (typeof STATES)[number];
/** States a person moves an order into (done and closed have routes of their own: the on-site record, the light's proof). */
export const MOVES = ["assigned", "on_the_way", "on_site", "cannot_fix", "cancelled"] as const;
export type Move = (typeof MOVES)[number];
export const FINISHED: ReadonlySet<WorkState> = new Set(["closed", "cannot_fix", "cancelled"]);

const NEXT: Record<WorkState, readonly WorkState[]> = {
  open: ["assigned", "on_the_way", "on_site", "cannot_fix", "cancelled"],
  assigned: ["assigned", "on_the_way", "on_site", "cannot_fix", "cancelled"],
  on_the_way: ["assigned", "on_site", "cannot_fix", "cancelled"],
  on_site: ["assigned", "done", "cannot_fix", "cancelled"],
  done: [],
  closed: [],
  cannot_fix: [],
  cancelled: [],
};
export const mayMove = (from: WorkState, to: WorkState): boolean => NEXT[from].includes(to);

/** What was found and what was done on site (the technician's codes; `nothing_found`: the light was fine). */
export const FOUND = ["lamp", "battery", "controller", "panel", "wiring", "relay", "dirt", "nothing_found"] as const;
export const DONE = [
  "lamp_replaced",
  "battery_replaced",
  "controller_replaced",
  "panel_replaced",
  "wiring_replaced",
  "relay_replaced",
  "cleaned",
  "nothing_done",
] as const;
export type Found = (typeof FOUND)[number];
export type Done = (typeof DONE)[number];

export type Severity = "critical" | "major" | "minor";
const RANK: Record<Severity, number> = { critical: 3, major: 2, minor: 1 };
/** The highest of the alerts' severities (an order without alerts: minor, unless given). */
export const highest = (s: readonly Severity[]): Severity => s.reduce<Severity>((a, b) => (RANK[b] > RANK[a] ? b : a), "minor");
/** The due time of an order of this priority, made at `at` (settings: hours by severity). */
export const dueAt = (at: number, priority: Severity, dueH: Record<Severity, number>): number => at + dueH[priority] * 3600_000;

/** Great-circle distance in metres (haversine; a village's scale needs nothing finer). */
export function metres(a: { lat: number; lon: number }, b: { lat: number; lon: number }): number {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * 6_371_000 * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** The nearest pole of an order to a phone's position, and how far it is (null when no light of it has a position). */
export function nearestPole(at: { lat: number; lon: number }, poles: readonly { id: string; lat: number | null; lon: number | null }[]) {
  let best: { id: string; distanceM: number } | null = null;
  for (const p of poles) {
    if (p.lat === null || p.lon === null) continue;
    const d = metres(at, { lat: p.lat, lon: p.lon });
    if (!best || d < best.distanceM) best = { id: p.id, distanceM: Math.round(d) };
  }
  return best;
}

/** A check-in's verdict: near enough, far enough to flag, or too far to be at the pole (refused). */
export function judgeCheckIn(distanceM: number | null, limits: { flagM: number; maxM: number }): "near" | "flagged" | "refused" {
  if (distanceM === null) return "flagged";
  if (distanceM > limits.maxM) return "refused";
  return distanceM > limits.flagM ? "flagged" : "near";
}

/**
 * Alert types a lamp repair is about: only a lit lamp, when the light expects it on, proves those fixed. For the
 * others (a day-burner, a charge fault, offline, moved) a normal reading at any hour does.
 */
const LAMP_TYPES: ReadonlySet<string> = new Set(["dark", "village_outage", "energy_limited", "cycling", "dim_mismatch"]);
const NORMAL: ReadonlySet<string> = new Set(["lit", "off"]);

/**
 * One reading after the repair, judged by the light's condition once the monitor has applied it:
 * `proves` (the repair holds), `fails` (the fault is still there), or `waits` (a normal reading that proves nothing
 * yet: a lamp in daylight is off whether it was fixed or not; the next night decides).
 */
export function judgeReading(condition: string, types: readonly string[]): "proves" | "fails" | "waits" {
  if (!NORMAL.has(condition)) return "fails";
  if (condition === "lit") return "proves";
  return types.some((t) => LAMP_TYPES.has(t)) ? "waits" : "proves";
}

/** A claim's final verdict, for the bureau: the data's, or what an inspector found at the pole. */
export const FINAL_VERDICTS = ["verified_by_data", "verified_on_site", "not_found_on_site", "to_revisit"] as const;
export type FinalVerdict = (typeof FINAL_VERDICTS)[number];

/**
 * The final verdict of a claim from its data verdict (`verified`, or the first failing reason) and its latest field
 * visit, if any. A visit decides where there is one: the light not found at the claimed pole is `not_found_on_site`
 * whatever the data said; found, with the controller's serial as claimed (or not read) and not seen dark at a night
 * visit, `verified_on_site`; found but with another serial, or dark, `to_revisit`. Without a visit, the data decides:
 * `verified_by_data`, else `to_revisit`.
 */
export function finalVerdict(
  dataVerdict: string,
  visit: { foundAtPole: boolean; serialMatches: boolean | null; lit: boolean | null } | null,
): FinalVerdict {
  if (!visit) return dataVerdict === "verified" ? "verified_by_data" : "to_revisit";
  if (!visit.foundAtPole) return "not_found_on_site";
  if (visit.serialMatches === false || visit.lit === false) return "to_revisit";
  return "verified_on_site";
}
