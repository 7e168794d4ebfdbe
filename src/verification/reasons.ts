/** The verdicts a claimed light can get, failing reasons in the order they are checked (the verdict and its words both use them). */
export const REASONS = ["not_reporting", "silent", "location_mismatch", "not_lit", "no_charging", "duplicate_device", "duplicate_pole"] as const;
export type Reason = (typeof REASONS)[number];
export type Verdict = "verified" | Reason;
