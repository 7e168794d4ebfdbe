import { type MessageOf, messageMaker, type Vocabulary } from "../platform/i18n.js";

/** The registry's words: problems of a device list being imported, and of a telemetry query. */
export type RegistryWords = {
  row_repeats_id: { line: number; id: string | null; first: number };
  row_registered: { line: number; id: string | null };
  csv_unreadable: { line: number };
  csv_missing_columns: { missing: readonly string[]; columns: readonly string[] };
  devices_registered: { ids: readonly string[] };
  devices_csv_body: Record<string, never>;
  too_many_buckets: { buckets: number; every: "minute" | "hour" | "day"; max: number };
  too_many_light_steps: { lights: number; steps: number; every: "hour" | "day"; max: number };
  unknown_fields: { fields: readonly string[]; known: readonly string[] };
};
/** A required column's Chinese heading (the import takes either name). */
const COLUMN_ZH: Record<string, string> = { id: "设备编号", family: "类型" };
const EVERY_ZH = { minute: "分钟", hour: "小时", day: "天" } as const;
const rowZh = (p: { line: number; id: string | null }) => `第 ${p.line} 行${p.id ? `（${p.id}）` : ""}`;
const rowEn = (p: { line: number; id: string | null }) => `line ${p.line}${p.id ? ` (${p.id})` : ""}`;

export const REGISTRY_WORDS: Vocabulary<RegistryWords> = {
  row_repeats_id: { zh: (p) => `${rowZh(p)}：编号与第 ${p.first} 行重复`, en: (p) => `${rowEn(p)}: the id repeats line ${p.first}` },
  row_registered: { zh: (p) => `${rowZh(p)}：该编号的设备已登记`, en: (p) => `${rowEn(p)}: a device with this id is already registered` },
  csv_unreadable: { zh: (p) => `第 ${p.line} 行附近无法按 CSV 读取`, en: (p) => `not a readable CSV (near line ${p.line})` },
  csv_missing_columns: {
    zh: (p, f) => `表头缺少这些列：${f.list(p.missing.map((c) => COLUMN_ZH[c] ?? c))}；文件的表头是：${f.list(p.columns)}`,
    en: (p, f) => `the header lacks these columns: ${f.list(p.missing)} (or their Chinese headings); the file's header is: ${f.list(p.columns)}`,
  },
  devices_registered: { zh: (p, f) => `已登记：${f.list(p.ids)}`, en: (p, f) => `already registered: ${f.list(p.ids)}` },
  devices_csv_body: { zh: () => "请以 CSV 文件上传设备清单，且不能为空", en: () => "send the device list as a non-empty CSV file (text/csv)" },
  too_many_buckets: {
    zh: (p) => `按${EVERY_ZH[p.every]}汇总有 ${p.buckets} 段，最多 ${p.max} 段：请用更粗的粒度或更短的时间范围`,
    en: (p) => `${p.buckets} ${p.every} buckets is too many; at most ${p.max}: use a coarser every or a shorter range`,
  },
  too_many_light_steps: {
    zh: (p) =>
      `${p.lights} 盏灯 × ${p.steps} 个${EVERY_ZH[p.every]} = ${p.lights * p.steps} 段，最多 ${p.max} 段：请缩短时间范围、按天汇总或只查一个村`,
    en: (p) =>
      `${p.lights} lights × ${p.steps} ${p.every}s = ${p.lights * p.steps} light-steps, at most ${p.max}: shorten the range, aggregate per day, or ask for one village`,
  },
  unknown_fields: {
    zh: (p, f) => `路灯没有这些字段：${f.list(p.fields)}；可用的字段：${f.list(p.known)}`,
    en: (p, f) => `a streetlight has no such field: ${f.list(p.fields)}; its fields: ${f.list(p.known)}`,
  },
};
export const registryMessage = messageMaker<RegistryWords>();
export type RegistryMessage = MessageOf<RegistryWords>;
