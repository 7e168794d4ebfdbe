import type { DecodeProblem, Family, TopicProblem } from "../../devices/index.js";
import { type Message, type MessageOf, messageMaker, type Vocabulary } from "../platform/i18n.js";
import { issueMessage } from "../platform/validation.js";

type Problem = TopicProblem | DecodeProblem;
type ParamsOf<C extends Problem["code"]> = Extract<Problem, { code: C }>["params"];

/**
 * Why ingest rejected a message, in words: the device contract's problems (devices/ gives codes and figures), the
 * registry's, and the explanations the contract's schemas give (`hint_…`). A payload's zod issues are kept as
 * messages of their own (`problems`), so they read in either language.
 */
export type IngestWords = { [C in Exclude<Problem["code"], "payload_invalid">]: ParamsOf<C> } & {
  payload_invalid: { problems: readonly Message[] };
  cmd_topic: Record<string, never>;
  payload_unreadable: Record<string, never>;
  device_unknown: { deviceId: string };
  device_family: { deviceId: string; family: Family };
  device_disabled: { deviceId: string };
  hint_device_id: Record<string, never>;
  hint_ts_whole_ms: Record<string, never>;
  hint_ts_format: Record<string, never>;
  hint_ts_implausible: Record<string, never>;
  hint_material_code: Record<string, never>;
  hint_materials_max: Record<string, never>;
};

const FAMILY_ZH: Record<Family, string> = { streetlight: "路灯", blender: "配肥机" };
const KIND_ZH: Record<string, string> = { telemetry: "遥测", batch: "批次事件", status: "状态" };

export const INGEST_WORDS: Vocabulary<IngestWords> = {
  topic_family: { zh: (p) => `主题 “${p.topic}” 的设备类别未知`, en: (p) => `unknown family in "${p.topic}"` },
  topic_device_id: {
    zh: () => "设备编号应为 1–64 个字符，只含 A-Z a-z 0-9 _ -",
    en: () => "device id must be 1–64 characters of A-Z a-z 0-9 _ -",
  },
  topic_command: { zh: () => "命令主题的格式为 <类别>/<编号>/cmd/<命令名>", en: () => "command topics are <family>/<id>/cmd/<name>" },
  topic_kind: {
    zh: (p, f) => `${FAMILY_ZH[p.family]}只能发布到 ${f.list(p.topics)}`,
    en: (p, f) => `${p.family} devices publish on ${f.list(p.topics)}`,
  },
  kind_not_published: {
    zh: (p) => `${FAMILY_ZH[p.family]}不发布${KIND_ZH[p.kind] ?? "此类"}消息`,
    en: (p) => `${p.family} devices do not publish ${p.kind}`,
  },
  payload_over_limit: {
    zh: (p) => `消息 ${p.bytes} 字节，超过上限 ${p.limit} 字节`,
    en: (p) => `payload is ${p.bytes} bytes; the limit is ${p.limit}`,
  },
  payload_not_utf8: { zh: () => "消息不是 UTF-8 文本", en: () => "payload is not UTF-8 text" },
  payload_not_json: {
    zh: (p) => `消息不是有效的 JSON${p.position === null ? "" : `（第 ${p.position} 个字符处出错）`}`,
    en: (p) => `payload is not valid JSON${p.position === null ? "" : ` (at position ${p.position})`}`,
  },
  payload_invalid: { zh: (p, f) => p.problems.map(f.render).join("；"), en: (p, f) => p.problems.map(f.render).join("; ") },
  payload_lone_surrogate: {
    zh: () => "字符串或键中含有未配对的 UTF-16 代理项",
    en: () => "a string or key holds an unpaired UTF-16 surrogate (\\ud800–\\udfff)",
  },
  payload_unreadable: { zh: () => "服务无法解读此消息（已保留供检查）", en: () => "the service could not read this payload (kept for inspection)" },
  payload_too_deep: {
    zh: (p) => `对象和数组嵌套超过 ${p.max} 层`,
    en: (p) => `objects and arrays nest deeper than ${p.max} levels`,
  },
  payload_duplicate_key: {
    zh: (p) => `键 “${p.path}” 在同一对象中出现两次`,
    en: (p) => `key "${p.path}" appears twice in one object`,
  },
  ts_ahead: {
    zh: (p) => `ts 比服务器时钟快 ${p.aheadS} 秒（最多 ${p.limitS} 秒）`,
    en: (p) => `ts is ${p.aheadS} s ahead of the server clock (limit ${p.limitS} s)`,
  },
  ts_too_old: { zh: (p) => `ts 早于 ${p.maxDays} 天前`, en: (p) => `ts is more than ${p.maxDays} days old` },
  cmd_topic: { zh: () => "设备不能在 cmd/ 主题上发布", en: () => "devices do not publish on cmd/ topics" },
  device_unknown: { zh: (p) => `未登记设备 ${p.deviceId}`, en: (p) => `no device ${p.deviceId} is registered` },
  device_family: {
    zh: (p) => `${p.deviceId} 登记为${FAMILY_ZH[p.family]}`,
    en: (p) => `${p.deviceId} is registered as ${p.family}`,
  },
  device_disabled: { zh: (p) => `${p.deviceId} 已停用`, en: (p) => `${p.deviceId} is disabled` },
  hint_device_id: { zh: () => "应为 1–64 个字符，只含 A-Z a-z 0-9 _ -", en: () => "1–64 characters of A-Z a-z 0-9 _ -" },
  hint_ts_whole_ms: { zh: () => "毫秒时间戳应为整数", en: () => "ts in milliseconds must be a whole number" },
  hint_ts_format: {
    zh: () => "ts 应为毫秒时间戳，或带时区的 RFC 3339 时间，如 2025-11-21T18:05:00+08:00",
    en: () => "ts must be epoch milliseconds or RFC 3339 with a time zone, e.g. 2025-11-21T18:05:00+08:00",
  },
  hint_ts_implausible: {
    zh: () => "ts 不是合理的日期（2000–2100 年）；设备时钟是否已设置？",
    en: () => "ts is not a plausible date (2000–2100); is the device clock set?",
  },
  hint_material_code: { zh: () => "原料代码应为 1–32 个 a-z 0-9 _ 字符", en: () => "material code: 1–32 of a-z 0-9 _" },
  hint_materials_max: { zh: () => "最多 32 种原料", en: () => "at most 32 materials" },
};
const make = messageMaker<IngestWords>();
export type IngestMessage = MessageOf<IngestWords>;
export const ingestMessage = make;

/** A problem the contract found, as the message kept with the reject: a payload's zod issues become messages of their own. */
export function rejectDetail(problem: Problem): IngestMessage {
  if (problem.code === "payload_invalid") return make("payload_invalid", { problems: problem.params.issues.map((i) => issueMessage(i)) });
  return problem as IngestMessage;
}
