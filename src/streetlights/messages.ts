import { type MessageOf, messageMaker, type Vocabulary } from "../platform/i18n.js";
import type { NightClass } from "./night-class.js";

/** Why a light went offline (src/ingest/presence.ts). */
export type SilenceCause = "disconnected" | "silent" | "status_offline" | "never_seen";

/** What the streetlight rules and the monitor say about a light's condition (rules.ts, monitor.ts). */
export type StreetlightWords = {
  light_moved: { distanceM: number };
  switch_ons: { count: number };
  battery_disconnected: { v: number };
  lamp_power_low: { w: number; expectedW: number };
  lamp_off_battery_low: { v: number };
  lamp_off: Record<string, never>;
  power_mismatch: { w: number; expectedW: number; tolerancePct: number };
  dark_sky: Record<string, never>;
  day_burning: { w: number };
  no_pv: { charging: number; reporting: number };
  light_silent: { cause: SilenceCause | string };
  /** `lastSeen`: ISO 8601. */
  silent_since: { lastSeen: string };
  /** `since`: when the light was installed, or registered (epoch ms); absent where only the fact is said. */
  never_reported: { since?: number };
  no_reading_yet: Record<string, never>;
  /** A night's class (nightly.ts), as the digest names it. */
  night_class: { class: NightClass };
};

const CAUSE_ZH: Record<SilenceCause, string> = {
  disconnected: "连接断开",
  silent: "超时未上报",
  status_offline: "设备报告离线",
  never_seen: "从未上线",
};
const CAUSE_EN: Record<SilenceCause, string> = {
  disconnected: "disconnected",
  silent: "no report in time",
  status_offline: "the device said it is offline",
  never_seen: "never seen",
};
const NIGHT_ZH: Record<NightClass, string> = {
  lit: "整夜亮灯",
  partial: "亮灯不足",
  dark: "不亮",
  energy_limited: "电量不足",
  cycling: "频繁开关",
  offline: "离线",
};
const NIGHT_EN: Record<NightClass, string> = {
  lit: "lit",
  partial: "partly lit",
  dark: "dark",
  energy_limited: "energy limited",
  cycling: "cycling",
  offline: "offline",
};
const cause = (c: string, words: Record<SilenceCause, string>, other: string) => (c in words ? words[c as SilenceCause] : other);

export const STREETLIGHT_WORDS: Vocabulary<StreetlightWords> = {
  light_moved: {
    zh: (p, f) => `上报位置距登记位置 ${f.num(p.distanceM, 0)} 米`,
    en: (p, f) => `reported ${f.num(p.distanceM, 0)} m from its registered position`,
  },
  switch_ons: { zh: (p) => `今晚开关 ${p.count} 次`, en: (p) => `${p.count} switch-ons tonight` },
  battery_disconnected: {
    zh: (p, f) => `电池 ${f.num(p.v, 2)} V，已低压断开`,
    en: (p, f) => `battery ${f.num(p.v, 2)} V at low-voltage disconnect`,
  },
  lamp_power_low: {
    zh: (p, f) => `功率 ${f.num(p.w)} W，应为 ${f.num(p.expectedW)} W`,
    en: (p, f) => `${f.num(p.w)} W, expected ${f.num(p.expectedW)} W`,
  },
  lamp_off_battery_low: {
    zh: (p, f) => `灯未开，电池 ${f.num(p.v, 2)} V，电量不足`,
    en: (p, f) => `lamp off, battery ${f.num(p.v, 2)} V`,
  },
  lamp_off: { zh: () => "灯未开", en: () => "lamp off" },
  power_mismatch: {
    zh: (p, f) => `功率 ${f.num(p.w)} W，应为 ${f.num(p.expectedW)} W ±${p.tolerancePct} %`,
    en: (p, f) => `${f.num(p.w)} W, expected ${f.num(p.expectedW)} W ±${p.tolerancePct} %`,
  },
  dark_sky: { zh: () => "天色暗：多数邻近路灯也亮着", en: () => "dark sky: most neighbours are lit too" },
  day_burning: { zh: (p, f) => `白天亮灯 ${f.num(p.w)} W`, en: (p, f) => `${f.num(p.w)} W in daylight` },
  no_pv: {
    zh: (p) => `无光伏充电，而邻近 ${p.reporting} 盏中有 ${p.charging} 盏在充电`,
    en: (p) => `no PV while ${p.charging} of ${p.reporting} neighbours charge`,
  },
  light_silent: {
    zh: (p) => `无数据：${cause(p.cause, CAUSE_ZH, "离线")}`,
    en: (p) => `silent: ${cause(p.cause, CAUSE_EN, p.cause)}`,
  },
  silent_since: { zh: (p, f) => `自 ${f.time(p.lastSeen)} 起无数据`, en: (p, f) => `silent since ${f.time(p.lastSeen)}` },
  never_reported: {
    zh: (p, f) => (p.since !== undefined ? `自 ${f.time(p.since)} 安装登记以来从未上报` : "从未上报"),
    en: (p, f) => (p.since !== undefined ? `never reported since it was installed (${f.time(p.since)})` : "never reported"),
  },
  no_reading_yet: { zh: () => "尚无读数", en: () => "no reading yet" },
  night_class: { zh: (p) => NIGHT_ZH[p.class] ?? "其他", en: (p) => NIGHT_EN[p.class] ?? p.class },
};
export const streetlightMessage = messageMaker<StreetlightWords>();
export type StreetlightMessage = MessageOf<StreetlightWords>;
