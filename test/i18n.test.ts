import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { reading, startTestApp } from "../harness/helpers.js";
import type { AccessWords } from "../src/access/messages.js";
import type { AlertWords } from "../src/alerts/messages.js";
import type { BlendingWords } from "../src/blending/messages.js";
import type { ControlWords } from "../src/control/messages.js";
import type { FieldworkWords } from "../src/fieldwork/messages.js";
import type { HttpWords } from "../src/http/errors.js";
import type { IngestWords } from "../src/ingest/messages.js";
import { createMessages, VOCABULARIES } from "../src/messages.js";
import type { ConfigWords } from "../src/platform/config-messages.js";
import type { ErrorWords } from "../src/platform/errors.js";
import { createCatalogue, LANGS, langFromHeader, type Message, type Params, storedMessage } from "../src/platform/i18n.js";
import { type IssueWords, issueMessage } from "../src/platform/validation.js";
import type { RegistryWords } from "../src/registry/messages.js";
import { DEFAULT_PROFILE } from "../src/streetlights/expectation.js";
import type { StreetlightWords } from "../src/streetlights/messages.js";
import { initialState, instantCondition } from "../src/streetlights/rules.js";
import type { SystemWords } from "../src/system/messages.js";
import type { VerificationWords } from "../src/verification/messages.js";

const CJK = /[\u4e00-\u9fff]/;
const messages = createMessages();

/** Parameters to render each code with: typed, so a code without samples does not compile. Several cover branches. */
type Samples<P> = { [C in keyof P]: readonly P[C][] };
const at = { where: "body" as const, path: "battery.v" };
const lamp: Message = { code: "lamp_power_low", params: { w: 0.3, expectedW: 30 } };
const SAMPLES: { [V in keyof typeof VOCABULARIES]: Samples<WordsOf<V>> } = {
  legacy: { legacy_text: [{ text: "旧的说明" }] },
  errors: {
    not_found: [
      { what: "device", id: "L-1" },
      { what: "route", id: "GET /x" },
    ],
    conflict: [{ what: "device", id: "L-1" }],
    validation: [{ problems: [lamp, { code: "issue_missing", params: at }] }],
    rows_rejected: [{ rows: 4 }],
    import_too_many_rows: [{ max: 100_000 }],
    row_problems: [
      { line: 3, id: "IMP-2", problems: [{ code: "issue_too_big", params: { path: "lat", origin: "number", maximum: 90, inclusive: true } }] },
    ],
    no_rows: [{}],
    range_order: [
      { from: 1_764_633_600_000, to: 1_764_547_200_000 },
      { from: "2026-12-02", to: "2026-12-01" },
    ],
    unauthorized: [{}],
    forbidden: [{ roles: ["admin", "operator"] }, { station: "qijiang" }, {}],
    out_of_scope: [{ town: "来苏镇" }, { station: "QJ-01" }, { town: "来苏镇", station: "QJ-01" }, { everywhere: true }, {}],
    store_unavailable: [
      { store: "influxdb", cause: "ECONNREFUSED" },
      { store: "influxdb", cause: "no_host" },
      { store: "influxdb", cause: "EPIPE" },
    ],
  },
  issues: {
    issue_missing: [at],
    issue_type: [
      { ...at, expected: "number" },
      { ...at, expected: "int" },
      { ...at, expected: "custom_thing" },
    ],
    issue_too_small: [
      { ...at, origin: "number", minimum: 0, inclusive: true },
      { ...at, origin: "number", minimum: 0, inclusive: false },
      { path: "name", origin: "string", minimum: 1, inclusive: true },
      { path: "materials", origin: "array", minimum: 1, inclusive: true },
    ],
    issue_too_big: [
      { ...at, origin: "number", maximum: 100, inclusive: true },
      { path: "name", origin: "string", maximum: 100, inclusive: true },
    ],
    issue_value: [{ ...at, values: ["dark", "lit", 3, null] }],
    issue_format: [
      { ...at, format: "url" },
      { ...at, format: "regex" },
      { ...at, format: "emoji" },
    ],
    issue_unknown_keys: [{ ...at, keys: ["extra"] }],
    issue_multiple_of: [{ ...at, divisor: 0.5 }],
    issue_invalid: [at, { path: "" }],
    issue_hint: [{ where: "querystring", path: "until", hint: { code: "hint_date", params: {} } }],
    hint_date: [{}],
    hint_time: [{}],
    hint_imei: [{}],
    hint_id: [{}],
  },
  http: {
    bad_request: [{ reason: "json" }, { reason: "empty_json" }, { reason: "content_length" }, { reason: "url" }, { reason: "other" }],
    request_timeout: [{}],
    payload_too_large: [{ limitBytes: 8 * 1024 * 1024 }],
    unsupported_media_type: [{ type: "application/json" }, { type: "" }],
    internal: [{}],
    busy: [{ retryAfterS: 5 }],
  },
  access: {
    login_failed: [{}],
    account_locked: [{ retryAfterS: 120 }],
    too_many_logins: [{ retryAfterS: 30 }],
    csrf_missing: [{}],
    password_change_required: [{}],
    current_password_wrong: [{}],
    password_unchanged: [{}],
    own_account: [{}],
    not_a_user: [{}],
  },
  ingest: {
    topic_family: [{ topic: "tractor/T1/telemetry" }],
    topic_device_id: [{}],
    topic_command: [{}],
    topic_kind: [{ family: "streetlight", topics: ["streetlight/<id>/telemetry", "streetlight/<id>/status", "streetlight/<id>/ack"] }],
    kind_not_published: [
      { family: "streetlight", kind: "batch" },
      { family: "blender", kind: "other" },
    ],
    payload_over_limit: [{ bytes: 1_048_576, limit: 65_536 }],
    payload_not_utf8: [{}],
    payload_not_json: [{ position: 9 }, { position: null }],
    payload_lone_surrogate: [{}],
    payload_duplicate_key: [{ path: "soc" }],
    payload_too_deep: [{ max: 16 }],
    payload_unreadable: [{}],
    payload_invalid: [{ problems: [{ code: "issue_too_big", params: { path: "battery.soc", origin: "number", maximum: 100, inclusive: true } }] }],
    ts_ahead: [{ aheadS: 3600, limitS: 300 }],
    ts_too_old: [{ maxDays: 60 }],
    cmd_topic: [{}],
    device_unknown: [{ deviceId: "YC-X" }],
    device_family: [
      { deviceId: "YC-X", family: "blender" },
      { deviceId: "YC-X", family: "streetlight" },
    ],
    device_disabled: [{ deviceId: "YC-X" }],
    hint_device_id: [{}],
    hint_ts_whole_ms: [{}],
    hint_ts_format: [{}],
    hint_ts_implausible: [{}],
    hint_material_code: [{}],
    hint_materials_max: [{}],
  },
  registry: {
    row_repeats_id: [{ line: 4, id: "IMP-1", first: 2 }],
    row_registered: [{ line: 4, id: "IMP-1" }],
    csv_unreadable: [{ line: 7 }],
    csv_missing_columns: [{ missing: ["id", "family"], columns: ["code", "kind"] }],
    devices_registered: [{ ids: ["L-1", "L-2"] }],
    devices_csv_body: [{}],
    too_many_buckets: [{ buckets: 20_000, every: "minute", max: 10_000 }],
    too_many_light_steps: [{ lights: 787, steps: 720, every: "hour", max: 100_000 }],
    unknown_fields: [{ fields: ["lux"], known: ["pv.w", "battery.soc"] }],
  },
  control: {
    hint_command_id: [{}],
    hint_dim_range: [{}],
    hint_profile_gap: [{}],
    hint_profile_hours: [{}],
    hint_config_empty: [{}],
    hint_lvd_range: [{}],
    hint_ack_reason: [{}],
    hint_clock_time: [{}],
    hint_month: [{}],
    hint_stage_start: [{}],
    hint_profile_no_hours: [{}],
    hint_override_pct: [{}],
    config_battery: [{ deviceId: "YC-LS-0001" }],
    ack_unknown_command: [{ id: "C1", cmd: "profile" }],
    ack_other_light: [{ id: "C1", cmd: "profile" }],
    ack_cmd_mismatch: [{ id: "C1", cmd: "override" }],
    campaign_no_lights: [{}],
    campaign_target: [{}],
    campaign_ended: [
      { id: "K1", state: "cancelled" },
      { id: "K1", state: "done" },
    ],
    lights_unknown: [{ ids: ["X-1", "X-2"] }],
    energy_sheet: [{ month: "2026-11" }],
    energy_title: [
      { month: "2026-11", from: "2026-11-01", to: "2026-11-30", by: "light" },
      { month: "2026-11", from: "2026-11-01", to: "2026-11-30", by: "town" },
    ],
    energy_column: [{ column: "light" }, { column: "availability" }, { column: "flatNights" }, { column: "kWhGenerated" }],
    energy_total: [{}],
  },
  streetlights: {
    light_moved: [{ distanceM: 120 }],
    switch_ons: [{ count: 5 }],
    battery_disconnected: [{ v: 10.9 }],
    lamp_power_low: [{ w: 0.3, expectedW: 30 }],
    lamp_off_battery_low: [{ v: 11 }],
    lamp_off: [{}],
    power_mismatch: [{ w: 15, expectedW: 30, tolerancePct: 15 }],
    dark_sky: [{}],
    day_burning: [{ w: 30 }],
    no_pv: [{ charging: 3, reporting: 4 }],
    light_silent: [{ cause: "disconnected" }, { cause: "silent" }, { cause: "status_offline" }, { cause: "never_seen" }, { cause: "renamed" }],
    silent_since: [{ lastSeen: "2026-12-01T16:00:19.000Z" }],
    never_reported: [{}],
    no_reading_yet: [{}],
    night_class: [{ class: "dark" }, { class: "partial" }, { class: "energy_limited" }, { class: "offline" }, { class: "cycling" }, { class: "lit" }],
  },
  blending: {
    machine_offline_in_hours: [{}],
    batch_out_of_tolerance: [
      { batchId: "B-3", deviations: [{ material: "kcl", kg: -10 }] },
      { batchId: "B-3", deviations: [{ material: "kcl", name: { zh: "氯化钾", en: "Potassium chloride" }, kg: -10 }] },
    ],
    scale_still: [{ kg: 500, seconds: 200 }],
    hopper_below_refill: [
      { material: "map", kg: 300, refillKg: 577 },
      { material: "map", name: { zh: "磷酸一铵", en: "Monoammonium phosphate" }, kg: 300, refillKg: 577 },
    ],
    finish_after_due: [{ eta: "2026-12-01T16:00:19.000Z", dueDate: "2026-11-30" }],
    past_due_idle: [{ dueDate: "2026-11-30" }],
    material_builtin: [{ material: "urea" }],
    grade_format: [{ grade: "15-15" }],
    grade_richest: [{ richest: "18.8-18.8-18.8" }],
    station_unknown: [{ station: "qijiang" }],
    formula_unknown: [{ formulaId: "F-1" }],
    machine_not_blender: [{ machineId: "QJ-BL-01" }],
    machine_other_station: [
      { machineId: "QJ-BL-01", station: "other", orderStation: "qijiang" },
      { machineId: "QJ-BL-01", station: null, orderStation: "qijiang" },
    ],
    machine_busy: [{ machineId: "QJ-BL-01", orderId: "ORD-1" }],
    order_finished: [{ orderId: "ORD-1" }],
    order_not_running: [
      { orderId: "ORD-1", state: "paused" },
      { orderId: "ORD-1", state: "planned" },
    ],
    materials_unknown: [{ materials: ["zz", "yy"] }],
    solve_two_suppliers: [{ nutrient: "n", first: "urea", second: "as" }],
    solve_no_supplier: [{ nutrients: ["k2o", "p2o5"] }],
    solve_no_combination: [{}],
    solve_unwanted_nutrient: [{ nutrient: "p2o5", kgPerTonne: 12 }],
    solve_negative: [{ materials: ["urea"] }],
    solve_no_carrier: [{ element: "Zn" }],
    solve_over_tonne: [{ kgPerTonne: 1061 }],
    solve_no_filler: [{}],
    soil_sufficient: [{}],
    ratio_not_blendable: [
      { n: 0, p2o5: 3.2, k2o: 6.7 },
      { n: 2, p2o5: 30, k2o: 0 },
    ],
    batch_not_machines_order: [{ orderId: "ORD-1", machineId: "TL-BL-01" }],
    batch_order_changed: [{ batchId: "B-1", orderId: "ORD-2", batchOrderId: "ORD-1" }],
    batch_over_capacity: [{ kg: 40_000, maxKg: 5_000 }],
    batch_bags_over_weight: [{ bags: 1000, bagKg: 50, maxBags: 21 }],
    hint_hhmm: [{}],
    hint_period_order: [{}],
    hint_periods_overlap: [{}],
    hint_soil_one_of: [{}],
    batch_state: [{ state: "running" }, { state: "held" }, { state: "complete" }, { state: "aborted" }],
    batch_in_tolerance: [{ ok: true }, { ok: false }],
  },
  verification: {
    evidence_verified: [{ litNights: 30, nights: 30, pvDays: 30, distanceM: 2.4 }],
    evidence_not_reporting: [
      { registered: true, nightsWithData: 0 },
      { registered: false, nightsWithData: 0 },
    ],
    evidence_silent: [{ lastSeen: "2026-12-01T16:00:19.000Z", silentHours: 120 }],
    evidence_no_position: [{ claimed: { lat: 29.3512, lon: 105.9113 } }],
    evidence_location: [{ distanceM: 120.3, limitM: 15, claimed: { lat: 29.3512, lon: 105.9113 }, reported: { lat: 29.3523, lon: 105.9113 } }],
    evidence_not_lit: [{ litNights: 12, nights: 30, needed: 25 }],
    evidence_no_charging: [{ pvDays: 3, days: 30, needed: 24, minWh: 50 }],
    evidence_duplicate_device: [{ sameSerialOrImei: [{ deviceId: "DUPSN-B", projectId: "YC-2024-009" }] }],
    evidence_duplicate_pole: [{ within: 10, claims: [{ deviceId: "POLE-B", distanceM: 5.1 }] }],
    verdict: [
      { verdict: "verified" },
      { verdict: "not_reporting" },
      { verdict: "silent" },
      { verdict: "location_mismatch" },
      { verdict: "not_lit" },
      { verdict: "no_charging" },
      { verdict: "duplicate_device" },
      { verdict: "duplicate_pole" },
    ],
    report_sheet: [{ sheet: "summary" }, { sheet: "detail" }, { sheet: "visits" }],
    report_column: (
      [
        "device",
        "project",
        "town",
        "village",
        "road",
        "verdict",
        "verdictCode",
        "evidence",
        "why",
        "scope",
        "name",
        "claimed",
        "reporting",
        "verified",
        "subsidy",
        "claimedYuan",
        "verifiedYuan",
        "withheldYuan",
        "lat",
        "lon",
      ] as const
    ).map((column) => ({ column })),
    report_title: [
      { from: "2026-11-01", to: "2026-11-30", nights: 30, town: "来苏镇", project: "YC-2025-017" },
      { from: "2026-11-01", to: "2026-11-30", nights: 30, town: null, project: null },
    ],
    report_scope: [{ scope: "all" }, { scope: "town" }, { scope: "project" }],
    report_district: [{}],
    report_visit_why: [{ why: "failed" }, { why: "silent" }, { why: "sample" }],
    report_digest: [{ digest: "9f2c" }],
    report_signature: [{ line: "preparer" }, { line: "reviewer" }, { line: "date" }],
    claims_body: [{}],
    claims_unreadable: [{ kind: "xlsx" }, { kind: "csv" }],
    claims_missing_columns: [{ columns: ["imei", "lat"] }],
    xlsx_too_many_entries: [{ entries: 65_535, max: 1000 }],
    xlsx_too_large: [{ bytes: 1 << 30, maxBytes: 220 << 20 }],
    claim_repeated: [{ line: 5, deviceId: "L-1", first: 2 }],
    project_differs: [{ line: 4, projectId: "P1", first: 2 }],
  },
  alerts: {
    village_out: [{ out: 9, lights: 12 }],
    broker_dropped: [{ broker: "mqtt://mosquitto.example:1883", rise: 4000, total: 4000 }],
    condition_cleared: [{}],
    alert_type: [{ type: "dark" }, { type: "behind_schedule" }, { type: "something_new" }],
    alert_line: [
      { type: "dark", where: "来苏镇 梳妆台村", deviceId: "L-1", detail: lamp, since: "2026-12-01T12:00:00.000Z" },
      { type: "offline", where: "来苏镇", deviceId: "L-1", detail: null, since: "2026-12-01T12:00:00.000Z" },
    ],
    alerts_fired: [{ count: 2 }],
    alerts_resolved: [{ count: 1 }],
    alerts_reminder: [{ count: 3 }],
    digest: [
      {
        town: "来苏镇",
        date: "2026-12-01",
        lights: 40,
        causes: [
          { cause: { code: "night_class", params: { class: "dark" } }, ids: ["L-2"], count: 1 },
          { cause: { code: "night_class", params: { class: "offline" } }, ids: Array.from({ length: 12 }, (_, i) => `L-${i}`), count: 12 },
        ],
        open: 1,
      },
      { town: "来苏镇", date: "2026-12-01", lights: 40, causes: [], open: 0 },
      {
        town: "来苏镇",
        date: "2026-12-01",
        lights: 40,
        causes: [],
        open: 0,
        more: { code: "field_digest", params: { open: 1, overdue: 0, closed: 2, firstTimeFix: 1, darkOver3: 0 } },
      },
    ],
    digest_title: [{}],
    hint_channel_url: [{}],
    hint_silence_scope: [{}],
  },
  fieldwork: {
    work_state: [{ state: "open" }, { state: "done" }, { state: "cannot_fix" }],
    found: [{ code: "lamp" }, { code: "nothing_found" }],
    done_code: [{ code: "lamp_replaced" }, { code: "cleaned" }],
    repair_proven: [{ lights: 1, reading: Date.UTC(2026, 10, 30, 12) }],
    repair_not_proven: [
      { deviceId: "L-1", condition: "dark", readings: 3, reading: Date.UTC(2026, 10, 30, 12), detail: lamp },
      { deviceId: "L-1", condition: "dark", readings: 3, reading: Date.UTC(2026, 10, 30, 12), detail: null },
    ],
    repair_no_readings: [{ hours: 48 }],
    check_in_far: [{ distanceM: 240, flagM: 100 }],
    check_in_too_far: [{ distanceM: 5012, maxM: 1000 }],
    check_in_no_pole: [{}],
    move_not_allowed: [{ from: "closed", to: "on_site" }],
    reason_required: [{}],
    assignee_required: [{}],
    order_empty: [{}],
    order_towns: [{ towns: ["来苏镇", "三角镇"] }],
    alert_not_light: [{ alertId: "a-1", type: "stalled" }],
    not_a_light: [{ id: "M-1" }],
    photo_not_image: [{}],
    photo_too_large: [{ bytes: 5 * 1048576, maxBytes: 3 * 1048576 }],
    photo_too_many_pixels: [{ width: 60_000, height: 60_000, maxMegapixels: 50 }],
    photo_too_many: [{ max: 20 }],
    idempotency_reused: [{ key: "k-1" }],
    time_in_future: [{ at: Date.UTC(2026, 11, 30, 12) }],
    final_verdict: [{ verdict: "verified_by_data" }, { verdict: "not_found_on_site" }],
    field_result: [{ result: "found" }, { result: "not_found" }, { result: "none" }],
    visit_column: [{ column: "deviceId" }, { column: "finalVerdict" }],
    visit_sheet: [{}],
    yes_no: [{ value: true }, { value: false }],
    field_digest: [
      { open: 3, overdue: 1, closed: 7, firstTimeFix: 0.857, darkOver3: 2 },
      { open: 0, overdue: 0, closed: 0, firstTimeFix: null, darkOver3: 1 },
    ],
  },
  system: {
    backup_usage: [{ backup: "backup", restore: "restore", setting: "AGRILUME_DATA_DIR" }],
    backup_running: [{ file: "/srv/agrilume/data/state.duckdb", detail: "Conflicting lock is held in node (PID 4242)" }],
    backup_target_not_empty: [{ dir: "/backup/2026-11-30" }],
    backup_target_inside: [{ dir: "/srv/agrilume/data/backup", dataDir: "/srv/agrilume/data" }],
    backup_corrupt: [
      { file: "/srv/agrilume/data/state.duckdb", detail: "IO Error: Corrupt database file: computed checksum 1 does not match stored checksum 2" },
    ],
    backup_source_missing: [{ dir: "/srv/agrilume/data", file: "state.duckdb" }],
    backup_done: [{ dir: "/backup/2026-11-30", files: 12, mb: 812.4, seconds: 9.3 }],
    backup_influx_note: [{ store: "InfluxDB", url: "http://localhost:8086", tool: "influxd backup -portable" }],
    backup_state_note: [{ store: "PostgreSQL", url: "postgres://agrilume@db:5432/agrilume", tool: "pg_dump" }],
    restore_not_backup: [{ dir: "/backup/x", file: "manifest.json" }],
    restore_target_not_empty: [{ dir: "/srv/agrilume/data" }],
    restore_corrupt: [{ file: "telemetry.duckdb" }],
    restore_database_corrupt: [
      { file: "/backup/x/data/state.duckdb", detail: "IO Error: Corrupt database file: computed checksum 1 does not match stored checksum 2" },
    ],
    restore_done: [{ dir: "/srv/agrilume/data", files: 12, createdAt: Date.UTC(2026, 10, 30, 4) }],
  },
  config: {
    config_not_agrilume: [{ setting: "dataDir" }],
    config_unknown_setting: [{ setting: "AGRILUME_HTTP_PROT" }],
    config_together: [{ setting: "AGRILUME_MQTT_TLS_PORT", settings: ["AGRILUME_MQTT_TLS_PORT", "AGRILUME_MQTT_TLS_CERT", "AGRILUME_MQTT_TLS_KEY"] }],
    config_mosquitto_acl: [{ setting: "AGRILUME_MOSQUITTO_PASSWORD_FILE", other: "AGRILUME_MOSQUITTO_ACL_FILE" }],
    config_mosquitto_account: [{ setting: "AGRILUME_MOSQUITTO_PASSWORD_FILE", settings: ["AGRILUME_MQTT_URL", "AGRILUME_MQTT_USERNAME"] }],
    config_failover_lease: [{ setting: "AGRILUME_INGEST_FAILOVER", settings: ["AGRILUME_MQTT_URL", "AGRILUME_STATE_URL"] }],
    config_only_with: [{ setting: "AGRILUME_MOSQUITTO_PID_FILE", settings: ["AGRILUME_MOSQUITTO_PASSWORD_FILE"] }],
    config_port_clash: [{ setting: "AGRILUME_MQTT_PORT", port: 1883, other: "AGRILUME_HTTP_PORT" }],
    hint_instance_id: [{}],
    hint_postgres_url: [{}],
    hint_http_url: [{}],
    hint_mqtt_url: [{}],
    hint_days_weeks: [{}],
    hint_days_weeks_forever: [{}],
    hint_control_retention_min: [{}],
    hint_tile_url: [{}],
    hint_tile_subdomains: [{}],
  },
};
type WordsOf<V extends keyof typeof VOCABULARIES> = {
  legacy: { legacy_text: { text: string } };
  errors: ErrorWords;
  issues: IssueWords;
  http: HttpWords;
  access: AccessWords;
  control: ControlWords;
  ingest: IngestWords;
  registry: RegistryWords;
  streetlights: StreetlightWords;
  blending: BlendingWords;
  verification: VerificationWords;
  alerts: AlertWords;
  fieldwork: FieldworkWords;
  system: SystemWords;
  config: ConfigWords;
}[V];

/** Parameters that are names and figures from the data (ids, places, codes a device sent): they may be in Latin letters. */
const DATA_KEYS = new Set([
  "text",
  "id",
  "ids",
  "deviceId",
  "batchId",
  "batchOrderId",
  "orderId",
  "machineId",
  "formulaId",
  "projectId",
  "station",
  "orderStation",
  "material",
  "materials",
  "first",
  "second",
  "element",
  "grade",
  "richest",
  "path",
  "keys",
  "values",
  "columns",
  "topic",
  "topics",
  // a reading's field names (pv.w, battery.soc), as the contract writes them
  "fields",
  "known",
  "digest",
  "project",
  "town",
  "broker",
  // backup and restore: paths, a database's own error, commands and settings
  "dir",
  "dataDir",
  "file",
  "detail",
  "url",
  "store",
  "tool",
  "backup",
  "restore",
  "setting",
  "settings",
  "other",
  // a network's error code (ECONNREFUSED), shown beside its words
  "cause",
]);
/**
 * Latin words a Chinese text may contain: units, formats, field names and protocol words that are written so in Chinese
 * too (single letters are symbols: W, V, N, A-Z).
 */
const TECHNICAL = new Set(
  "kg Wh MB P2O5 K2O Zn IMEI PV URL UUID ISO JSON UTF RFC SHA API HTTP POST api v1 stations CSV XLSX YYYY MM DD HH Content Type Length application json Authorization Bearer webhook url JPEG PNG EXIF Idempotency Key InfluxDB PostgreSQL MQTT ACL AGRILUME README postgres http https mqtt mqtts ws wss forever soilSupplyKgPerMu soilTest ts cmd true false null".split(
    " ",
  ),
);
/** What a Chinese text says in Latin letters beyond the data it names. */
function latinLeft(text: string, params: Params): string[] {
  let rest = text;
  const strip = (p: unknown, key: string) => {
    if (typeof p === "string" && DATA_KEYS.has(key) && p) rest = rest.split(p).join(" ");
    else if (Array.isArray(p)) for (const x of p) strip(x, key);
    else if (p && typeof p === "object") for (const [k, v] of Object.entries(p)) strip(v, k === "params" ? key : k);
  };
  for (const [k, v] of Object.entries(params)) strip(v, k);
  rest = rest.replace(/\d{4}-\d{2}-\d{2}T[\d:.]+(Z|[+-]\d{2}:\d{2})/g, " "); // an example of a device's time
  return (rest.match(/[A-Za-z][A-Za-z0-9]+/g) ?? []).filter((w) => !TECHNICAL.has(w));
}

describe("the catalogue", () => {
  const all = Object.entries(SAMPLES).flatMap(([owner, codes]) =>
    Object.entries(codes as Record<string, readonly Params[]>).flatMap(([code, list]) => list.map((params, i) => [owner, code, i, params] as const)),
  );

  it("has samples for every code of every vocabulary, and every code has both languages", () => {
    for (const [owner, words] of Object.entries(VOCABULARIES)) {
      const codes = Object.keys(words).sort();
      expect(Object.keys(SAMPLES[owner as keyof typeof SAMPLES]).sort(), owner).toEqual(codes);
      for (const [code, phrase] of Object.entries(words as Record<string, { zh?: unknown; en?: unknown }>)) {
        expect(typeof phrase.zh, `${code} zh`).toBe("function");
        expect(typeof phrase.en, `${code} en`).toBe("function");
      }
    }
    expect(messages.codes().length).toBe(all.reduce((n, [, , i]) => n + (i === 0 ? 1 : 0), 0));
  });

  it.each(all)("%s %s (%i) reads in Chinese and in English, with nothing left unfilled", (_owner, code, _i, params) => {
    const m = { code, params };
    const zh = messages.render("zh", m);
    const en = messages.render("en", m);
    for (const text of [zh, en]) {
      expect(text, code).not.toBe(code); // rendered, not shown as its code
      expect(text.trim(), code).not.toBe("");
      expect(text, code).not.toMatch(/\{[a-zA-Z]+\}|\$\{|undefined|NaN|\[object Object\]/);
    }
    if (code !== "legacy_text") {
      expect(zh, code).toMatch(CJK);
      expect(latinLeft(zh, params), `${code}: ${zh}`).toEqual([]);
      // English is written as English (Chinese appears only where a parameter or an example column name is Chinese)
      if (!/来苏镇|梳妆台村|项目编号/.test(en)) expect(en, code).not.toMatch(CJK);
    }
  });

  it("finds every schema explanation (`hint_…`) in the sources", () => {
    const files = ["src", "devices"].flatMap((dir) =>
      readdirSync(dir, { recursive: true, encoding: "utf8" })
        .filter((f) => f.endsWith(".ts"))
        .map((f) => join(dir, f)),
    );
    const hints = new Set(files.flatMap((f) => [...readFileSync(f, "utf8").matchAll(/"(hint(?:_[a-z0-9]+)+)"/g)].map((m) => m[1] as string)));
    expect(hints.size).toBeGreaterThan(5);
    for (const h of hints) expect(messages.has(h), h).toBe(true);
  });

  it("refuses a code defined twice", () => {
    const one = { x_code: { zh: () => "一", en: () => "one" } };
    expect(() => createCatalogue({ a: one, b: one })).toThrow(/x_code is defined twice/);
  });
});

describe("messages as people read them (table)", () => {
  it.each<[string, Message, string, string]>([
    ["a rule's detail", lamp, "功率 0.3 W，应为 30 W", "0.3 W, expected 30 W"],
    [
      "a time, in China time",
      { code: "finish_after_due", params: { eta: "2026-12-01T16:00:19.000Z", dueDate: "2026-11-30" } },
      "预计 2026-12-02 00:00 完成，晚于交货期 2026-11-30",
      "projected finish 2026-12-02 00:00 after the due date 2026-11-30",
    ],
    [
      "silence",
      { code: "silent_since", params: { lastSeen: "2026-12-01T16:00:19.000Z" } },
      "自 2026-12-02 00:00 起无数据",
      "silent since 2026-12-02 00:00",
    ],
    ["never", { code: "never_reported", params: {} }, "从未上报", "never reported"],
    [
      "evidence",
      { code: "evidence_silent", params: { lastSeen: "2026-12-01T16:00:19.000Z", silentHours: 120 } },
      "最后上报 2026-12-02 00:00，已 120 小时无数据",
      "last report 2026-12-02 00:00, silent for 120 h",
    ],
    [
      "a request's problems",
      {
        code: "validation",
        params: {
          problems: [
            { code: "issue_type", params: { where: "body", path: "x", expected: "number" } },
            { code: "issue_hint", params: { where: "querystring", path: "until", hint: { code: "hint_date", params: {} } } },
          ],
        },
      },
      "请求无效：请求体 x 应为数字；查询参数 until：应为日期，格式 YYYY-MM-DD",
      "Invalid request: body x must be of type number; query until: a date as YYYY-MM-DD",
    ],
    ["a stored English detail", { code: "legacy_text", params: { text: "4 W, expected 30 W" } }, "4 W, expected 30 W", "4 W, expected 30 W"],
    ["a code this version does not know", { code: "from_the_future", params: {} }, "from_the_future", "from_the_future"],
  ])("%s", (_name, m, zh, en) => {
    expect(messages.render("zh", m)).toBe(zh);
    expect(messages.render("en", m)).toBe(en);
  });

  it.each<[string, unknown, Message | null]>([
    ["an English detail written before messages were data", "battery 10.9 V", { code: "legacy_text", params: { text: "battery 10.9 V" } }],
    ["a message stored as JSON", '{"code":"lamp_off","params":{}}', { code: "lamp_off", params: {} }],
    ["a message object", { code: "switch_ons", params: { count: 4 } }, { code: "switch_ons", params: { count: 4 } }],
    ["nothing", "", null],
    ["nothing at all", null, null],
  ])("reads %s", (_name, stored, expected) => {
    expect(storedMessage(stored)).toEqual(expected);
  });

  it("formats numbers without noise in both languages", () => {
    for (const lang of LANGS) {
      expect(messages.render(lang, { code: "battery_disconnected", params: { v: 10.899999999 } })).toContain("10.9 V");
      expect(messages.render(lang, { code: "lamp_power_low", params: { w: -0, expectedW: 30.04 } })).toMatch(/0 W.*30 W/);
    }
  });
});

describe("zod's issues as messages", () => {
  const issues = (schema: z.ZodType, value: unknown) => {
    const r = schema.safeParse(value);
    return r.success ? [] : r.error.issues.map((i) => issueMessage(i, "body"));
  };
  it.each<[string, z.ZodType, unknown, Message]>([
    ["a wrong type", z.object({ x: z.number() }), { x: "1" }, { code: "issue_type", params: { where: "body", path: "x", expected: "number" } }],
    ["a missing field", z.object({ x: z.number() }), {}, { code: "issue_missing", params: { where: "body", path: "x" } }],
    [
      "a number too big",
      z.object({ lat: z.number().max(90) }),
      { lat: 95 },
      { code: "issue_too_big", params: { where: "body", path: "lat", origin: "number", maximum: 90, inclusive: true } },
    ],
    [
      "text too short",
      z.object({ name: z.string().min(1) }),
      { name: "" },
      { code: "issue_too_small", params: { where: "body", path: "name", origin: "string", minimum: 1, inclusive: true } },
    ],
    [
      "a value not in the list",
      z.object({ s: z.enum(["a", "b"]) }),
      { s: "c" },
      { code: "issue_value", params: { where: "body", path: "s", values: ["a", "b"] } },
    ],
    [
      "the schema's explanation",
      z.object({ d: z.string().regex(/^\d{4}$/, "hint_date") }),
      { d: "x" },
      { code: "issue_hint", params: { where: "body", path: "d", hint: { code: "hint_date", params: {} } } },
    ],
    [
      "a union's explanation",
      z.object({ ts: z.union([z.number().int(), z.string().regex(/^\d+Z$/, "hint_date")]) }),
      { ts: "x" },
      { code: "issue_hint", params: { where: "body", path: "ts", hint: { code: "hint_date", params: {} } } },
    ],
    ["unknown fields", z.strictObject({}), { y: 1 }, { code: "issue_unknown_keys", params: { where: "body", path: "", keys: ["y"] } }],
  ])("%s", (_name, schema, value, expected) => {
    const [m] = issues(schema, value);
    expect(m).toEqual(expected);
    expect(messages.render("zh", m as Message)).toMatch(CJK);
  });
});

describe("the rules' details in Chinese", () => {
  it("every streetlight condition's detail, as the rules make it, is a code with parameters that reads in both languages", () => {
    const light = { lat: 29.35, lon: 105.91, lampW: 30, profile: DEFAULT_PROFILE };
    const night = Date.parse("2026-11-21T22:00:00+08:00");
    const noon = Date.parse("2026-11-21T12:00:00+08:00");
    const none = { reporting: 0, lit: 0, charging: 0 };
    const cases = [
      [night, { load: { on: true, w: 2, a: 0.2, dimPct: 100 } }, none, "dark", { code: "lamp_power_low", params: { w: 2, expectedW: 30 } }],
      [night, { load: { on: false, w: 0, a: 0, dimPct: 0 } }, none, "dark", { code: "lamp_power_low", params: { w: 0, expectedW: 30 } }],
      [
        night,
        { load: { on: false, w: 0, a: 0, dimPct: 0 }, battery: { v: 10.9, soc: 2, tempC: 20 } },
        none,
        "energy_limited",
        { code: "battery_disconnected", params: { v: 10.9 } },
      ],
      [
        night,
        { load: { on: true, w: 15, a: 1.2, dimPct: 50 } },
        none,
        "dim_mismatch",
        { code: "power_mismatch", params: { w: 15, expectedW: 30, tolerancePct: 15 } },
      ],
      [night, { gps: { lat: 29.36, lon: 105.91, accM: 3 } }, none, "moved", { code: "light_moved", params: { distanceM: 1112 } }],
      [
        noon,
        { load: { on: true, w: 30, a: 2.5, dimPct: 100 }, pv: { v: 0, a: 0, w: 0 } },
        none,
        "day_burner",
        { code: "day_burning", params: { w: 30 } },
      ],
      [
        noon,
        { load: { on: false, w: 0, a: 0, dimPct: 0 }, pv: { v: 0, a: 0, w: 0 } },
        { reporting: 4, lit: 0, charging: 4 },
        "charge_fault",
        { code: "no_pv", params: { charging: 4, reporting: 4 } },
      ],
    ] as const;
    for (const [ts, over, nb, condition, detail] of cases) {
      const r = reading(ts, { pv: { v: 0, a: 0, w: 0 }, gps: { lat: 29.35, lon: 105.91, accM: 3 }, ...over }) as Parameters<
        typeof instantCondition
      >[0];
      const c = instantCondition(r, light, initialState(ts), nb);
      expect(c).toEqual({ condition, detail });
      expect(messages.render("zh", c.detail as Message)).toMatch(CJK);
      expect(messages.render("en", c.detail as Message)).not.toMatch(CJK);
    }
  });
});

describe("the reader's language from Accept-Language", () => {
  it("honours q-values: the one of zh and en the reader weighs highest", () => {
    const table: [string | undefined, "zh" | "en"][] = [
      [undefined, "zh"],
      ["en", "en"],
      ["en-US,en;q=0.9", "en"],
      ["zh-CN,zh;q=0.9,en;q=0.8", "zh"],
      ["en;q=0.1, zh;q=0.9", "zh"],
      ["zh;q=0.1, en;q=0.9", "en"],
      ["fr-FR, en;q=0.5, zh;q=0.4", "en"],
      ["fr, de;q=0.9", "zh"],
      ["en;q=0, zh;q=0.1", "zh"],
      ["zh;q=0.5, en;q=0.5", "zh"],
      ["en;q=0.5, zh;q=0.5", "en"],
      ["english, zh;q=0.2", "zh"],
      ["en;q=nonsense", "zh"],
    ];
    expect(table.map(([h]) => [h, langFromHeader(h, "zh")])).toEqual(table);
    expect(langFromHeader("fr", "en")).toBe("en");
  });

  it("over HTTP too", async () => {
    const t = await startTestApp();
    try {
      const msg = async (lang: string) =>
        ((await (await t.api("/api/v1/orders/NOPE", { headers: { "accept-language": lang } })).json()) as { error: { message: string } }).error
          .message;
      expect(await msg("en;q=0.1, zh;q=0.9")).toMatch(/[\u4e00-\u9fff]/);
      expect(await msg("zh;q=0.1, en;q=0.9")).not.toMatch(/[\u4e00-\u9fff]/);
    } finally {
      await t.stop();
    }
  });
});
