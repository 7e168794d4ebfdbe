import { type Message, type MessageOf, messageMaker, type Vocabulary } from "./i18n.js";

/**
 * Problems zod finds (in a request, in a device's message, in a row of an import) as messages: a code per kind of
 * issue, the field's path and the issue's own figures, so each language says it in its own words. A schema's own
 * explanation is a message code too (`.regex(DATE, "hint_date")`, defined in its owner's vocabulary; test/i18n.test.ts
 * finds every `hint_` code in the sources and checks the catalogue has it).
 */

/** Where in a request a field is. */
export type Where = "body" | "querystring" | "params" | "headers";
/** A zod issue as zod gives it (`code`, `path`), or as fastify-type-provider-zod passes it on (`keyword`, `instancePath`, `params`). */
type RawIssue = {
  code?: unknown;
  keyword?: unknown;
  path?: readonly PropertyKey[];
  instancePath?: string;
  message?: string;
  params?: Record<string, unknown>;
};

type At = { where?: Where; path: string };
export type IssueWords = {
  issue_missing: At;
  issue_type: At & { expected: string };
  issue_too_small: At & { origin: string; minimum: number; inclusive: boolean };
  issue_too_big: At & { origin: string; maximum: number; inclusive: boolean };
  issue_value: At & { values: readonly (string | number | boolean | null)[] };
  issue_format: At & { format: string };
  issue_unknown_keys: At & { keys: readonly string[] };
  issue_multiple_of: At & { divisor: number };
  issue_invalid: At;
  /** The schema's own explanation (a message code of a vocabulary), about a field. */
  issue_hint: At & { hint: Message };
  hint_date: Record<string, never>;
  hint_time: Record<string, never>;
  hint_imei: Record<string, never>;
  hint_id: Record<string, never>;
};
export type IssueMessage = MessageOf<IssueWords>;
const make = messageMaker<IssueWords>();

const WHERE_ZH: Record<Where, string> = { body: "请求体", querystring: "查询参数", params: "路径参数", headers: "请求头" };
const WHERE_EN: Record<Where, string> = { body: "body", querystring: "query", params: "path", headers: "header" };
const TYPE_ZH: Record<string, string> = {
  number: "数字",
  int: "整数",
  string: "文本",
  boolean: "true 或 false",
  object: "对象",
  array: "数组",
  date: "日期",
  null: "null",
  bigint: "整数",
};
const FORMAT_ZH: Record<string, string> = {
  url: "网址（URL）",
  email: "电子邮件地址",
  uuid: "UUID",
  datetime: "ISO 8601 时间",
  date: "日期 YYYY-MM-DD",
  time: "时间 HH:mm",
  regex: "规定的格式",
};
const FORMAT_EN: Record<string, string> = {
  datetime: "an ISO 8601 time",
  date: "a date YYYY-MM-DD",
  time: "a time HH:mm",
  regex: "the expected format",
};
const SIZED_ZH: Record<string, string> = { string: "个字符", array: "项", set: "项", file: "字节" };
const SIZED_EN: Record<string, string> = { string: "characters", array: "items", set: "items", file: "bytes" };

/** `请求体 battery.v` / `body battery.v`; the whole payload when there is no path. */
const atZh = (p: At) => [p.where ? WHERE_ZH[p.where] : "", p.path].filter(Boolean).join(" ") || "内容";
const atEn = (p: At) => [p.where ? WHERE_EN[p.where] : "", p.path].filter(Boolean).join(" ") || "the content";

export const ISSUE_WORDS: Vocabulary<IssueWords> = {
  issue_missing: { zh: (p) => `缺少 ${atZh(p)}`, en: (p) => `${atEn(p)} is missing` },
  issue_type: {
    zh: (p) => `${atZh(p)} 应为${TYPE_ZH[p.expected] ?? "其他类型"}`,
    en: (p) => `${atEn(p)} must be ${p.expected === "int" ? "a whole number" : `of type ${p.expected}`}`,
  },
  issue_too_small: {
    zh: (p, f) =>
      SIZED_ZH[p.origin]
        ? `${atZh(p)} 至少 ${f.num(p.minimum, 6)} ${SIZED_ZH[p.origin]}`
        : `${atZh(p)} 应${p.inclusive ? "不小于" : "大于"} ${f.num(p.minimum, 6)}`,
    en: (p, f) =>
      SIZED_EN[p.origin]
        ? `${atEn(p)} must have at least ${f.num(p.minimum, 6)} ${SIZED_EN[p.origin]}`
        : `${atEn(p)} must be ${p.inclusive ? "at least" : "more than"} ${f.num(p.minimum, 6)}`,
  },
  issue_too_big: {
    zh: (p, f) =>
      SIZED_ZH[p.origin]
        ? `${atZh(p)} 至多 ${f.num(p.maximum, 6)} ${SIZED_ZH[p.origin]}`
        : `${atZh(p)} 应${p.inclusive ? "不大于" : "小于"} ${f.num(p.maximum, 6)}`,
    en: (p, f) =>
      SIZED_EN[p.origin]
        ? `${atEn(p)} must have at most ${f.num(p.maximum, 6)} ${SIZED_EN[p.origin]}`
        : `${atEn(p)} must be ${p.inclusive ? "at most" : "less than"} ${f.num(p.maximum, 6)}`,
  },
  issue_value: {
    zh: (p, f) => `${atZh(p)} 应为以下之一：${f.list(p.values.map(String))}`,
    en: (p, f) => `${atEn(p)} must be one of: ${f.list(p.values.map(String))}`,
  },
  issue_format: {
    zh: (p) => `${atZh(p)} 应为${FORMAT_ZH[p.format] ?? "规定的格式"}`,
    en: (p) => `${atEn(p)} must be ${FORMAT_EN[p.format] ?? `a valid ${p.format}`}`,
  },
  issue_unknown_keys: {
    zh: (p, f) => `${atZh(p)} 含有未知的字段：${f.list(p.keys)}`,
    en: (p, f) => `${atEn(p)} has unknown fields: ${f.list(p.keys)}`,
  },
  issue_multiple_of: {
    zh: (p, f) => `${atZh(p)} 应为 ${f.num(p.divisor, 6)} 的整数倍`,
    en: (p, f) => `${atEn(p)} must be a multiple of ${f.num(p.divisor, 6)}`,
  },
  issue_invalid: { zh: (p) => `${atZh(p)} 的值无效`, en: (p) => `${atEn(p)} is not valid` },
  issue_hint: { zh: (p, f) => `${atZh(p)}：${f.render(p.hint)}`, en: (p, f) => `${atEn(p)}: ${f.render(p.hint)}` },
  hint_date: { zh: () => "应为日期，格式 YYYY-MM-DD", en: () => "a date as YYYY-MM-DD" },
  hint_time: {
    zh: () => "应为 ISO 8601 时间：日期如 2026-11-01 为北京时间当天 0 点，不带时区的时间按北京时间，也可带时区，如 2026-11-01T00:00:00Z",
    en: () => "an ISO 8601 time, such as 2026-11-01 (00:00 China time), 2026-11-01T08:00 (China time) or 2026-11-01T00:00:00Z",
  },
  hint_imei: { zh: () => "IMEI 应为 15 位数字", en: () => "IMEI is 15 digits" },
  hint_id: { zh: () => "编号不能含控制字符", en: () => "an id holds no control characters" },
};

/** A schema's explanation that is a message code: `hint_` and lower-case words. */
const HINT = /^hint(_[a-z0-9]+)+$/;

/**
 * An issue as a message. Zod's own text is not shown (it is English only): the issue's kind and figures say it instead,
 * or the schema's explanation where it gives one. A union that fails says what its branches explained.
 */
export function issueMessage(issue: object, where?: Where): IssueMessage {
  const raw = issue as RawIssue;
  const fields = { ...(raw.params ?? {}), ...raw } as Record<string, unknown>;
  const code = String(raw.code ?? raw.keyword ?? "");
  const path = raw.path ? raw.path.map(String).join(".") : (raw.instancePath ?? "").split("/").filter(Boolean).join(".");
  const at: At = where ? { where, path } : { path };
  const message = raw.message ?? "";
  const hint = HINT.test(message) ? message : code === "invalid_union" ? unionHint(fields.errors) : undefined;
  if (hint) return make("issue_hint", { ...at, hint: { code: hint, params: {} } });
  const num = (k: string) => (typeof fields[k] === "number" || typeof fields[k] === "bigint" ? Number(fields[k]) : 0);
  const str = (k: string) => (typeof fields[k] === "string" ? (fields[k] as string) : "");
  switch (code) {
    case "invalid_type":
      // zod omits the input itself; its text is the only place a missing field shows (`received undefined`)
      return message.endsWith("received undefined") ? make("issue_missing", at) : make("issue_type", { ...at, expected: str("expected") });
    case "too_small":
      return make("issue_too_small", { ...at, origin: str("origin"), minimum: num("minimum"), inclusive: fields.inclusive !== false });
    case "too_big":
      return make("issue_too_big", { ...at, origin: str("origin"), maximum: num("maximum"), inclusive: fields.inclusive !== false });
    case "invalid_value": {
      const values = Array.isArray(fields.values) ? (fields.values as unknown[]).slice(0, 12) : [];
      return make("issue_value", {
        ...at,
        values: values.map((v) => (typeof v === "number" || typeof v === "boolean" || v === null ? v : String(v))),
      });
    }
    case "invalid_format":
      return make("issue_format", { ...at, format: str("format") });
    case "unrecognized_keys":
      return make("issue_unknown_keys", { ...at, keys: Array.isArray(fields.keys) ? (fields.keys as unknown[]).map(String) : [] });
    case "not_multiple_of":
      return make("issue_multiple_of", { ...at, divisor: num("divisor") });
    default:
      return make("issue_invalid", at);
  }
}

/** The first explanation any branch of a failed union gave (`errors`: each branch's issues). */
function unionHint(errors: unknown): string | undefined {
  if (!Array.isArray(errors)) return undefined;
  for (const branch of errors)
    for (const i of Array.isArray(branch) ? branch : []) {
      const m = (i as { message?: unknown }).message;
      if (typeof m === "string" && HINT.test(m)) return m;
    }
  return undefined;
}
