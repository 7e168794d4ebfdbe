import { type MessageOf, messageMaker, type Vocabulary } from "../platform/i18n.js";

/** The energy report's columns (energy.ts). */
export type EnergyColumn =
  | "light"
  | "town"
  | "village"
  | "lights"
  | "nights"
  | "burnHours"
  | "kWhConsumed"
  | "kWhGenerated"
  | "availability"
  | "flatNights";
const COLUMN_ZH: Record<EnergyColumn, string> = {
  light: "路灯编号",
  town: "镇街",
  village: "村",
  lights: "路灯数",
  nights: "记录夜数",
  burnHours: "亮灯小时",
  kWhConsumed: "用电（千瓦时）",
  kWhGenerated: "发电（千瓦时）",
  availability: "亮灯率",
  flatNights: "电池耗尽夜数",
};
const COLUMN_EN: Record<EnergyColumn, string> = {
  light: "Light",
  town: "Town",
  village: "Village",
  lights: "Lights",
  nights: "Nights recorded",
  burnHours: "Burn hours",
  kWhConsumed: "kWh consumed",
  kWhGenerated: "kWh generated",
  availability: "Availability",
  flatNights: "Nights lost to flat batteries",
};
const BY_ZH = { light: "按路灯", village: "按村", town: "按镇街" } as const;
const CMD_ZH: Record<string, string> = { profile: "照明方案", override: "临时控制", config: "配置", time: "校时" };

/** Streetlight control's words (src/control): the contract's hints (devices/control.ts) and the problems of a request. */
export type ControlWords = {
  hint_command_id: Record<string, never>;
  hint_dim_range: Record<string, never>;
  hint_profile_gap: Record<string, never>;
  hint_profile_hours: Record<string, never>;
  hint_config_empty: Record<string, never>;
  hint_lvd_range: Record<string, never>;
  hint_ack_reason: Record<string, never>;
  hint_clock_time: Record<string, never>;
  hint_month: Record<string, never>;
  hint_stage_start: Record<string, never>;
  hint_profile_no_hours: Record<string, never>;
  hint_override_pct: Record<string, never>;
  /** A config's `battery` that is not the light's registered one. */
  config_battery: { deviceId: string };
  /** A light's answer kept as a reject: it names no command known, another light's, or the wrong command name. */
  ack_unknown_command: { id: string; cmd: string };
  ack_other_light: { id: string; cmd: string };
  ack_cmd_mismatch: { id: string; cmd: string };
  /** A campaign whose target holds no light the caller may control. */
  campaign_no_lights: Record<string, never>;
  /** A campaign target that names neither a place nor lights. */
  campaign_target: Record<string, never>;
  /** A campaign that has ended (cancelled or done) cannot be paused or resumed. */
  campaign_ended: { id: string; state: string };
  /** Lights of a list that are not streetlights the caller may control. */
  lights_unknown: { ids: readonly string[] };
  energy_sheet: { month: string };
  energy_title: { month: string; from: string; to: string; by: "light" | "village" | "town" };
  energy_column: { column: EnergyColumn };
  energy_total: Record<string, never>;
};

export const CONTROL_WORDS: Vocabulary<ControlWords> = {
  hint_command_id: { zh: () => "命令编号应为 1–64 个字符，只含 A-Z a-z 0-9 _ -", en: () => "a command id is 1–64 characters of A-Z a-z 0-9 _ -" },
  hint_dim_range: { zh: () => "调光等级应在 0–100 % 之间", en: () => "a dim level is 0–100 %" },
  hint_profile_gap: {
    zh: () => "照明方案的第一段应从黄昏开始（黄昏后 0 小时），否则夜里开头一段没有调光等级",
    en: () => "a profile's first stage starts at dusk (0 hours after dusk); otherwise the start of the night has no dim level",
  },
  hint_profile_hours: {
    zh: () => "“黄昏后亮若干小时”的方案须给出小时数（1–16）",
    en: () => "a profile lit for some hours after dusk says how many hours (1–16)",
  },
  hint_config_empty: {
    zh: () => "配置命令至少要设置上报间隔或低压断开电压之一",
    en: () => "a config sets the report interval, the low-voltage disconnect, or both",
  },
  hint_lvd_range: {
    zh: () => "低压断开电压超出该电池类型的安全范围（每 12 V：铅酸 10.5–11.5 V，磷酸铁锂 10.0–11.6 V；类型未登记时 10.5–11.5 V）",
    en: () =>
      "the low-voltage disconnect is outside the battery's safe range (per 12 V: lead-acid 10.5–11.5 V, LiFePO4 10.0–11.6 V; 10.5–11.5 V when the chemistry is not registered)",
  },
  hint_ack_reason: {
    zh: () => "拒绝时须给出原因代码（1–48 个小写字母、数字、_）",
    en: () => "a rejection gives a reason code (1–48 lower-case letters, digits, _)",
  },
  hint_clock_time: { zh: () => "时刻应为 HH:MM，00:00–23:59（北京时间）", en: () => "a clock time is HH:MM, 00:00–23:59 (China time)" },
  hint_month: { zh: () => "月份应为 YYYY-MM，2000-01 至 2100-12", en: () => "a month as YYYY-MM, 2000-01 to 2100-12" },
  hint_stage_start: {
    zh: () => "每段只能有一个开始时间：黄昏后小时数、黎明前小时数或时刻，三者选一",
    en: () => "a stage has one start: hours after dusk, hours before dawn or a clock time, not several",
  },
  hint_profile_no_hours: {
    zh: () => "“黄昏到黎明”的方案不带小时数（小时数只用于“黄昏后亮若干小时”）",
    en: () => "a dusk-to-dawn profile has no hours (hours are for a profile lit some hours after dusk)",
  },
  hint_override_pct: {
    zh: () => "只有调光才带调光等级；开灯为 100 %，关灯为 0 %",
    en: () => "only a dim carries a level; on is 100 %, off is 0 %",
  },
  config_battery: {
    zh: (p) => `电池类型与电压取自路灯 ${p.deviceId} 的登记信息，不能在命令中另行指定；请修改登记信息`,
    en: (p) => `the battery is the one registered for light ${p.deviceId} and cannot be given in a command; change the registration instead`,
  },
  ack_unknown_command: {
    zh: (p) => `应答所指的命令 ${p.id}（${CMD_ZH[p.cmd] ?? "未知命令"}）不存在`,
    en: (p) => `the answer names command ${p.id} (${p.cmd}), which is not known`,
  },
  ack_other_light: {
    zh: (p) => `应答所指的命令 ${p.id}（${CMD_ZH[p.cmd] ?? "未知命令"}）是发给另一盏路灯的`,
    en: (p) => `the answer names command ${p.id} (${p.cmd}), which was sent to another light`,
  },
  ack_cmd_mismatch: {
    zh: (p) => `应答的命令类型“${CMD_ZH[p.cmd] ?? "未知命令"}”与命令 ${p.id} 不符`,
    en: (p) => `the answer says ${p.cmd}, but command ${p.id} is of another kind`,
  },
  campaign_no_lights: { zh: () => "目标范围内没有可控制的路灯", en: () => "the target holds no streetlight you may control" },
  campaign_target: {
    zh: () => "目标须指定乡镇、村、道路或路灯编号列表",
    en: () => "a target names a town, a village, a road or a list of light ids",
  },
  campaign_ended: {
    zh: (p) => `控制任务 ${p.id} 已${p.state === "cancelled" ? "取消" : "结束"}，不能再暂停或继续`,
    en: (p) => `campaign ${p.id} is ${p.state}: it can no longer be paused or resumed`,
  },
  lights_unknown: {
    zh: (p, f) => `以下编号不是路灯：${f.list(p.ids.map(String))}`,
    en: (p, f) => `these ids are not streetlights: ${f.list(p.ids.map(String))}`,
  },
  energy_sheet: { zh: (p) => `${p.month} 能耗`, en: (p) => `Energy ${p.month}` },
  energy_title: {
    zh: (p) => `路灯能耗与亮灯率，${p.month}（${p.from} 至 ${p.to} 的夜晚，${BY_ZH[p.by]}）`,
    en: (p) => `Streetlight energy and availability, ${p.month} (nights from ${p.from} to ${p.to}, by ${p.by})`,
  },
  energy_column: { zh: (p) => COLUMN_ZH[p.column], en: (p) => COLUMN_EN[p.column] },
  energy_total: { zh: () => "合计", en: () => "Total" },
};
export const controlMessage = messageMaker<ControlWords>();
export type ControlMessage = MessageOf<ControlWords>;
