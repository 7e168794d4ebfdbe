/**
 * Measurements the service derives and writes to the telemetry store for dashboards (Grafana on
 * InfluxDB): what they are, with their tags and fields. The writers below and the dashboard test both
 * use these declarations, so a dashboard cannot query a field nobody writes.
 */
export const DASHBOARD_POINTS = {
  /** After every batch and order change: the order's progress. */
  blending_order: {
    tags: ["station", "order", "machine"],
    fields: ["targetT", "producedT", "progressPct", "rateTPerHour", "rateTPerDay", "bags", "onSchedule"],
  },
  /** Each completed batch: actual tonnes, tolerance, actual N-P-K, deviation % per material (`dev.<code>`). */
  blending_batch: { tags: ["station", "order", "machine"], fields: ["actualT", "inTolerance", "n", "p2o5", "k2o", "dev.*"] },
  /** Each change of a light's condition (and its position, for maps). `code` is the index in CONDITIONS. */
  streetlight_condition: { tags: ["device", "town", "village"], fields: ["condition", "code", "online", "lat", "lon"] },
  /** Each nightly record. */
  streetlight_night: { tags: ["device", "town", "village"], fields: ["lit", "litMin", "expectedMin", "loadWh", "pvWh", "classification"] },
  /**
   * The district's verification, per town (`project` empty) and per project: after each nightly pass that records new
   * nights (the 30 nights before that day), and each district-wide report generated on purpose (POST
   * /verification/reports). Lights claimed, reporting and verified; yuan claimed, verified and withheld.
   */
  verification_summary: {
    tags: ["town", "project"],
    fields: ["claimed", "reporting", "verified", "claimedSubsidyYuan", "verifiedSubsidyYuan", "withheldSubsidyYuan"],
  },
} as const;
export type DashboardMeasurement = keyof typeof DASHBOARD_POINTS;

export type DashboardPoint = { measurement: DashboardMeasurement; tags: Record<string, string>; fields: Record<string, number | string>; ts: number };
