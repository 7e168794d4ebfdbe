import { type Message, type MessageOf, messageMaker, type Vocabulary } from "../platform/i18n.js";
import type { Done, FinalVerdict, Found, WorkState } from "./rules.js";

/** What field work says: states, what was found and done, a repair's proof, and its refusals. */
export type FieldworkWords = {
  work_state: { state: WorkState };
  found: { code: Found };
  done_code: { code: Done };
  /** The light proved the repair: `reading`, the reading that did (epoch ms). */
  repair_proven: { lights: number; reading: number };
  /** The light did not: its condition at the readings after the repair (`detail`: what the monitor saw). */
  repair_not_proven: { deviceId: string; condition: string; readings: number; reading: number; detail: Message | null };
  /** No reading came within the window after the repair. */
  repair_no_readings: { hours: number };
  check_in_far: { distanceM: number; flagM: number };
  check_in_too_far: { distanceM: number; maxM: number };
  check_in_no_pole: Record<string, never>;
  move_not_allowed: { from: WorkState; to: WorkState };
  reason_required: Record<string, never>;
  assignee_required: Record<string, never>;
  order_empty: Record<string, never>;
  order_towns: { towns: readonly string[] };
  alert_not_light: { alertId: string; type: string };
  not_a_light: { id: string };
  photo_not_image: Record<string, never>;
  photo_too_large: { bytes: number; maxBytes: number };
  photo_too_many: { max: number };
  idempotency_reused: { key: string };
  time_in_future: { at: number };
  final_verdict: { verdict: FinalVerdict };
  /** A visit's outcome in the report: found at the claimed pole, not found, or no visit yet. */
  field_result: { result: "found" | "not_found" | "none" };
  visit_column: { column: VisitColumn };
  visit_sheet: Record<string, never>;
  yes_no: { value: boolean };
  /** The morning digest's field-work line for a town (the last 30 days' orders and every open one). */
  field_digest: { open: number; overdue: number; closed: number; firstTimeFix: number | null; darkOver3: number };
};
export type VisitColumn =
  | "deviceId"
  | "town"
  | "village"
  | "dataVerdict"
  | "fieldResult"
  | "distanceM"
  | "poleNumber"
  | "controllerSerial"
  | "serialMatches"
  | "lit"
  | "statement"
  | "inspector"
  | "visitedAt"
  | "finalVerdict"
  | "photo"
  | "signature";
const COLUMN_ZH: Record<VisitColumn, string> = {
  deviceId: "设备编号",
  town: "镇街",
  village: "村",
  dataVerdict: "数据结论",
  fieldResult: "现场结果",
  distanceM: "距申报位置（米）",
  poleNumber: "现场灯杆编号",
  controllerSerial: "现场控制器序列号",
  serialMatches: "序列号一致",
  lit: "核查时亮灯",
  statement: "住户陈述",
  inspector: "核查人",
  visitedAt: "核查时间",
  finalVerdict: "最终结论",
  photo: "照片",
  signature: "签名",
};
const COLUMN_EN: Record<VisitColumn, string> = {
  deviceId: "Device",
  town: "Town",
  village: "Village",
  dataVerdict: "Data verdict",
  fieldResult: "Field result",
  distanceM: "From the claimed position (m)",
  poleNumber: "Pole number on site",
  controllerSerial: "Controller serial on site",
  serialMatches: "Serial matches",
  lit: "Lit at the visit",
  statement: "Household statement",
  inspector: "Inspector",
  visitedAt: "Visited at",
  finalVerdict: "Final verdict",
  photo: "Photo",
  signature: "Signature",
};
const FINAL_ZH: Record<FinalVerdict, string> = {
  verified_by_data: "数据核实",
  verified_on_site: "现场核实",
  not_found_on_site: "现场未找到",
  to_revisit: "需复查",
};
const FINAL_EN: Record<FinalVerdict, string> = {
  verified_by_data: "verified by data",
  verified_on_site: "verified on site",
  not_found_on_site: "not found on site",
  to_revisit: "to revisit",
};

const STATE_ZH: Record<WorkState, string> = {
  open: "待派单",
  assigned: "已派单",
  on_the_way: "在路上",
  on_site: "已到场",
  done: "已完成（待路灯验证）",
  closed: "已关闭",
  cannot_fix: "无法修复",
  cancelled: "已取消",
};
const STATE_EN: Record<WorkState, string> = {
  open: "open",
  assigned: "assigned",
  on_the_way: "on the way",
  on_site: "on site",
  done: "done (awaiting the light's proof)",
  closed: "closed",
  cannot_fix: "cannot fix",
  cancelled: "cancelled",
};
const FOUND_ZH: Record<Found, string> = {
  lamp: "灯头",
  battery: "蓄电池",
  controller: "控制器",
  panel: "光伏板",
  wiring: "线路",
  relay: "继电器",
  dirt: "灰尘遮挡",
  nothing_found: "未发现问题",
};
const FOUND_EN: Record<Found, string> = {
  lamp: "lamp",
  battery: "battery",
  controller: "controller",
  panel: "panel",
  wiring: "wiring",
  relay: "relay",
  dirt: "dirt",
  nothing_found: "nothing found",
};
const DONE_ZH: Record<Done, string> = {
  lamp_replaced: "更换灯头",
  battery_replaced: "更换蓄电池",
  controller_replaced: "更换控制器",
  panel_replaced: "更换光伏板",
  wiring_replaced: "更换线路",
  relay_replaced: "更换继电器",
  cleaned: "清洁",
  nothing_done: "未处理",
};
const DONE_EN: Record<Done, string> = {
  lamp_replaced: "lamp replaced",
  battery_replaced: "battery replaced",
  controller_replaced: "controller replaced",
  panel_replaced: "panel replaced",
  wiring_replaced: "wiring replaced",
  relay_replaced: "relay replaced",
  cleaned: "cleaned",
  nothing_done: "nothing done",
};
const km = (m: number, f: { num: (x: number, d?: number) => string }) => (m >= 1000 ? `${f.num(m / 1000)} km` : `${f.num(m, 0)} m`);
const kmZh = (m: number, f: { num: (x: number, d?: number) => string }) => (m >= 1000 ? `${f.num(m / 1000)} 公里` : `${f.num(m, 0)} 米`);
/** A light's condition (the streetlight monitor's names), as the reopening says it. */
const CONDITION_ZH: Record<string, string> = {
  lit: "亮灯",
  off: "关灯",
  dark: "不亮",
  dim_mismatch: "功率异常",
  day_burner: "白天亮灯",
  energy_limited: "电量不足",
  charge_fault: "充电故障",
  cycling: "频繁开关",
  offline: "离线",
  moved: "位置移动",
};

export const FIELDWORK_WORDS: Vocabulary<FieldworkWords> = {
  work_state: { zh: (p) => STATE_ZH[p.state], en: (p) => STATE_EN[p.state] },
  found: { zh: (p) => FOUND_ZH[p.code], en: (p) => FOUND_EN[p.code] },
  done_code: { zh: (p) => DONE_ZH[p.code], en: (p) => DONE_EN[p.code] },
  repair_proven: {
    zh: (p, f) => `路灯已证明修复（${f.num(p.lights)} 盏，${f.time(p.reading)} 的读数正常）`,
    en: (p, f) => `The light proved the repair (${f.num(p.lights)} light(s); normal reading at ${f.time(p.reading)})`,
  },
  repair_not_proven: {
    zh: (p, f) =>
      `修复后路灯 ${p.deviceId} 仍异常：连续 ${f.num(p.readings)} 个读数为「${CONDITION_ZH[p.condition] ?? "异常"}」（最近 ${f.time(p.reading)}${p.detail ? `，${f.render(p.detail)}` : ""}），工单重新打开`,
    en: (p, f) =>
      `After the repair, light ${p.deviceId} is still not right: ${f.num(p.readings)} readings in a row say "${p.condition}" (latest ${f.time(p.reading)}${p.detail ? `, ${f.render(p.detail)}` : ""}); the work order is reopened`,
  },
  repair_no_readings: {
    zh: (p, f) => `修复后 ${f.num(p.hours)} 小时内没有收到路灯的读数，工单重新打开`,
    en: (p, f) => `No reading from the light within ${f.num(p.hours)} h of the repair; the work order is reopened`,
  },
  check_in_far: {
    zh: (p, f) => `签到位置距灯杆 ${kmZh(p.distanceM, f)}，超过 ${kmZh(p.flagM, f)}：已标记`,
    en: (p, f) => `Checked in ${km(p.distanceM, f)} from the pole, more than ${km(p.flagM, f)}: flagged`,
  },
  check_in_too_far: {
    zh: (p, f) => `签到位置距最近的灯杆 ${kmZh(p.distanceM, f)}，超过上限 ${kmZh(p.maxM, f)}：请到灯杆旁再签到（或检查手机定位）`,
    en: (p, f) =>
      `The check-in is ${km(p.distanceM, f)} from the nearest pole, more than the ${km(p.maxM, f)} allowed: check in at the pole (or check the phone's location)`,
  },
  check_in_no_pole: {
    zh: () => "工单的路灯没有登记位置，无法计算距离",
    en: () => "The work order's lights have no registered position: no distance",
  },
  move_not_allowed: {
    zh: (p) => `工单状态为「${STATE_ZH[p.from]}」，不能改为「${STATE_ZH[p.to]}」`,
    en: (p) => `A work order that is ${STATE_EN[p.from]} cannot become ${STATE_EN[p.to]}`,
  },
  reason_required: { zh: () => "请填写原因", en: () => "A reason is required" },
  assignee_required: { zh: () => "派单需要指定维修人员", en: () => "Assigning needs an assignee" },
  order_empty: { zh: () => "工单至少要有一条告警或一盏路灯", en: () => "A work order needs at least one alert or light" },
  order_towns: {
    zh: (p, f) => `一张工单只能包含一个镇街的路灯（涉及：${f.list(p.towns)}）`,
    en: (p, f) => `One work order covers one town's lights (these are in ${f.list(p.towns)})`,
  },
  alert_not_light: {
    zh: (p) => `告警 ${p.alertId} 不是路灯的告警`,
    en: (p) => `Alert ${p.alertId} (${p.type}) is not a streetlight's`,
  },
  not_a_light: { zh: (p) => `${p.id} 不是已登记的路灯`, en: (p) => `${p.id} is not a registered streetlight` },
  photo_not_image: {
    zh: () => "文件不是 JPEG 或 PNG 图片（按文件内容判断）",
    en: () => "The file is not a JPEG or PNG image (judged by its content)",
  },
  photo_too_large: {
    zh: (p, f) => `照片 ${f.num(p.bytes / 1048576)} MB，超过上限 ${f.num(p.maxBytes / 1048576)} MB：请在手机上缩小后再上传`,
    en: (p, f) => `The photo is ${f.num(p.bytes / 1048576)} MB, over the ${f.num(p.maxBytes / 1048576)} MB limit: resize it on the phone`,
  },
  photo_too_many: { zh: (p) => `每张工单最多 ${p.max} 张照片`, en: (p) => `At most ${p.max} photos per work order` },
  idempotency_reused: {
    zh: (p) => `Idempotency-Key ${p.key} 已用于另一个请求`,
    en: (p) => `Idempotency-Key ${p.key} was used for a different request`,
  },
  time_in_future: {
    zh: (p, f) => `时间 ${f.time(p.at)} 在未来：请检查手机时间`,
    en: (p, f) => `The time ${f.time(p.at)} is in the future: check the phone's clock`,
  },
  final_verdict: { zh: (p) => FINAL_ZH[p.verdict], en: (p) => FINAL_EN[p.verdict] },
  field_result: {
    zh: (p) => ({ found: "在申报灯杆找到", not_found: "在申报灯杆未找到", none: "未核查" })[p.result],
    en: (p) => ({ found: "found at the claimed pole", not_found: "not found at the claimed pole", none: "not visited" })[p.result],
  },
  visit_column: { zh: (p) => COLUMN_ZH[p.column], en: (p) => COLUMN_EN[p.column] },
  visit_sheet: { zh: () => "现场核查", en: () => "Field visits" },
  yes_no: { zh: (p) => (p.value ? "是" : "否"), en: (p) => (p.value ? "yes" : "no") },
  field_digest: {
    zh: (p, f) =>
      `维修工单：未完成 ${f.num(p.open)} 张（逾期 ${f.num(p.overdue)} 张）；近 30 天修复 ${f.num(p.closed)} 张${p.firstTimeFix !== null ? `，一次修复率 ${f.num(p.firstTimeFix * 100, 0)}%` : ""}；连续 4 晚不亮的路灯 ${f.num(p.darkOver3)} 盏`,
    en: (p, f) =>
      `Work orders: ${f.num(p.open)} open (${f.num(p.overdue)} overdue); ${f.num(p.closed)} repaired in 30 days${p.firstTimeFix !== null ? `, ${f.num(p.firstTimeFix * 100, 0)}% fixed the first time` : ""}; ${f.num(p.darkOver3)} light(s) dark 4 nights in a row`,
  },
};
export const fieldworkMessage = messageMaker<FieldworkWords>();
export type FieldworkMessage = MessageOf<FieldworkWords>;
