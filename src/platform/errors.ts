import { type Format, type Message, type MessageOf, messageMaker, type Vocabulary } from "./i18n.js";

/**
 * What went wrong in the domain, as data: a kind (which the HTTP layer maps to a status, in src/http/errors.ts) and a
 * message (code and parameters, rendered in the reader's language by the one error handler). Domain code throws these,
 * never HTTP errors.
 */
/** `too_many`: refused for now (sign-in attempts over their limit); the message says how long to wait. */
export type ErrorKind = "invalid" | "not_found" | "conflict" | "forbidden" | "unauthorized" | "too_many";

export class DomainError extends Error {
  constructor(
    readonly kind: ErrorKind,
    readonly detail: Message,
    /** Data for a program (rows that failed, the richest grade); given `render` to include text in the reader's language. */
    readonly details?: unknown | ((render: (m: Message) => string) => unknown),
  ) {
    super(detail.code);
    this.name = "DomainError";
  }
}

/** Things a request can name that may not exist (or not be the caller's to see). */
export const THINGS = [
  "device",
  "streetlight",
  "order",
  "formula",
  "station",
  "alert",
  "channel",
  "key",
  "user",
  "route",
  "silence",
  "work_order",
  "photo",
  "claim",
  "visit",
  "campaign",
] as const;
export type Thing = (typeof THINGS)[number];
const THING_ZH: Record<Thing, string> = {
  device: "设备",
  streetlight: "路灯",
  order: "订单",
  formula: "配方",
  station: "配肥站",
  alert: "告警",
  channel: "通知渠道",
  key: "密钥",
  user: "用户",
  route: "接口",
  silence: "静默",
  work_order: "工单",
  photo: "照片",
  claim: "申报路灯",
  visit: "现场核查",
  campaign: "控制任务",
};

/** The problems every part shares: something missing, something already there, a request with problems. */
export type ErrorWords = {
  not_found: { what: Thing; id: string };
  conflict: { what: Thing; id: string };
  /** A request with problems, each a message of its own (a field, a row, a grade that cannot be made). */
  validation: { problems: readonly Message[] };
  /** An import refused whole: how many rows have problems (each row's problem follows). */
  rows_rejected: { rows: number };
  /** An import (claims, devices) longer than AGRILUME_IMPORT_MAX_ROWS: refused whole, before its rows are checked. */
  import_too_many_rows: { max: number };
  /** A row whose fields have problems. */
  row_problems: { line: number; id: string | null; problems: readonly Message[] };
  no_rows: Record<string, never>;
  /** A time range whose start is not before its end: instants (epoch ms) or dates (YYYY-MM-DD). */
  range_order: { from: number | string; to: number | string };
  unauthorized: Record<string, never>;
  forbidden: { roles?: readonly string[]; station?: string };
  /**
   * Outside the caller's towns or stations (src/access/scope.ts): the place asked for (`town`, `station`), or
   * `everywhere` for something that applies to every town and station, which only a caller without limits may change.
   */
  out_of_scope: { town?: string; station?: string; everywhere?: true };
};
const when = (t: number | string, f: Format) => (typeof t === "number" ? f.time(t) : t);
const ROLE_ZH: Record<string, string> = { admin: "管理员", operator: "站点操作员", technician: "技术员", finance: "财政局", metrics: "监控采集" };

export const ERROR_WORDS: Vocabulary<ErrorWords> = {
  not_found: { zh: (p) => `未找到${THING_ZH[p.what]} ${p.id}`, en: (p) => `Not found: ${p.what} ${p.id}` },
  conflict: { zh: (p) => `${THING_ZH[p.what]} ${p.id} 已存在`, en: (p) => `Already exists: ${p.what} ${p.id}` },
  validation: {
    zh: (p, f) => `请求无效：${p.problems.map(f.render).join("；")}`,
    en: (p, f) => `Invalid request: ${p.problems.map(f.render).join("; ")}`,
  },
  rows_rejected: { zh: (p) => `${p.rows} 行有问题，未导入任何数据`, en: (p) => `${p.rows} row(s) have problems; nothing was imported` },
  import_too_many_rows: {
    zh: (p, f) => `文件超过 ${f.num(p.max)} 行的上限，未导入任何数据；请分成几个文件导入`,
    en: (p, f) => `The file has more than ${f.num(p.max)} rows (AGRILUME_IMPORT_MAX_ROWS); nothing was imported: split it into several files`,
  },
  row_problems: {
    zh: (p, f) => `第 ${p.line} 行${p.id ? `（${p.id}）` : ""}：${p.problems.map(f.render).join("；")}`,
    en: (p, f) => `line ${p.line}${p.id ? ` (${p.id})` : ""}: ${p.problems.map(f.render).join("; ")}`,
  },
  no_rows: { zh: () => "表头之后没有数据行", en: () => "no rows after the header" },
  range_order: {
    zh: (p, f) => `开始（${when(p.from, f)}）应早于结束（${when(p.to, f)}）`,
    en: (p, f) => `from (${when(p.from, f)}) must be before to (${when(p.to, f)})`,
  },
  unauthorized: {
    zh: () => "未登录，或会话已结束；或缺少、无效的 API 密钥（Authorization: Bearer <密钥>）",
    en: () => "Not signed in, or the session has ended; or a missing or invalid API key (Authorization: Bearer <key>)",
  },
  forbidden: {
    zh: (p, f) =>
      p.station !== undefined
        ? `此密钥无权访问配肥站 ${p.station}`
        : `此密钥的角色无权访问该资源${p.roles ? `（需要以下角色之一：${f.list(p.roles.map((r) => ROLE_ZH[r] ?? r))}）` : ""}`,
    en: (p, f) =>
      p.station !== undefined
        ? `This key may not use station ${p.station}`
        : `This key's role may not use this resource${p.roles ? ` (needs one of: ${f.list(p.roles)})` : ""}`,
  },
  out_of_scope: {
    zh: (p) =>
      p.everywhere
        ? "此项作用于所有镇街和配肥站，只有不限范围的账号或密钥可以修改"
        : `不在本账号或密钥的范围内：${[p.town !== undefined ? `镇街 ${p.town}` : "", p.station !== undefined ? `配肥站 ${p.station}` : ""].filter(Boolean).join("，") || "该对象"}`,
    en: (p) =>
      p.everywhere
        ? "This applies to every town and station: only an account or key without limits may change it"
        : `Outside this account's or key's scope: ${[p.town !== undefined ? `town ${p.town}` : "", p.station !== undefined ? `station ${p.station}` : ""].filter(Boolean).join(", ") || "this object"}`,
  },
};
export const errorMessage = messageMaker<ErrorWords>();
export type ErrorMessage = MessageOf<ErrorWords>;

export const notFound = (what: Thing, id: string) => new DomainError("not_found", errorMessage("not_found", { what, id }));
export const alreadyExists = (what: Thing, id: string) => new DomainError("conflict", errorMessage("conflict", { what, id }));
/** A request with problems: 422 (a request that reads well but cannot be done), each problem a message. */
export const invalid = (problems: Message | readonly Message[], details?: DomainError["details"]) =>
  new DomainError("invalid", errorMessage("validation", { problems: Array.isArray(problems) ? problems : [problems as Message] }), details);
/** A conflict with the state of things (an order already finished, a machine busy), said by the domain's own message. */
export const conflict = (detail: Message, details?: unknown) => new DomainError("conflict", detail, details);

/** Rows shown in the error's own message; every row is in its details. */
const ROWS_SHOWN = 5;
/**
 * An import refused whole: the message names the count and the first rows' problems; `details.rows` has every row with
 * its problem as code and parameters and as text in the reader's language.
 */
export function rowsRejected(rows: readonly { line: number; id?: string | null; problem: Message }[], total = rows.length) {
  return invalid(
    [errorMessage("rows_rejected", { rows: total }), ...rows.slice(0, ROWS_SHOWN).map((r) => r.problem)],
    (render: (m: Message) => string) => ({
      rows: rows.map((r) => ({ line: r.line, id: r.id ?? null, code: r.problem.code, params: r.problem.params, reason: render(r.problem) })),
      // (an import keeps the first MAX_ROW_ERRORS rows' problems and counts the rest: a file of bad rows costs no more)
      ...(total > rows.length ? { more: total - rows.length } : {}),
    }),
  );
}
/** Row problems an import keeps to report (the rest are counted): `rowsRejected`'s details stay bounded. */
export const MAX_ROW_ERRORS = 1000;
/** An import longer than its row limit, refused whole. */
export const tooManyRows = (max: number) => new DomainError("invalid", errorMessage("import_too_many_rows", { max }));
