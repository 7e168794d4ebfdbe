import type { ErrorKind } from "../platform/errors.js";
import { messageMaker, type Vocabulary } from "../platform/i18n.js";

/** The status of each kind of domain error: the one place the domain's errors meet HTTP. */
export const STATUS: Record<ErrorKind, number> = {
  invalid: 422,
  not_found: 404,
  conflict: 409,
  forbidden: 403,
  unauthorized: 401,
  too_many: 429,
  unavailable: 503,
};

/** Problems of HTTP itself, before a route runs: the body could not be read, or the service failed. */
export type HttpWords = {
  /** `url`: a URL with characters not percent-encoded (raw UTF-8 such as a town's name), refused by Node's parser. */
  bad_request: { reason: "json" | "empty_json" | "content_length" | "url" | "other" };
  /** The request did not arrive whole within AGRILUME_HTTP_REQUEST_TIMEOUT_S. */
  request_timeout: Record<string, never>;
  payload_too_large: { limitBytes: number };
  unsupported_media_type: { type: string };
  internal: Record<string, never>;
  /** The worker threads' queue is full (src/platform/workers.ts): try again after `retryAfterS` seconds (Retry-After). */
  busy: { retryAfterS: number };
};
/** How long a client refused as busy is told to wait (the Retry-After header and the busy message). */
export const BUSY_RETRY_AFTER_S = 5;
export const HTTP_WORDS: Vocabulary<HttpWords> = {
  bad_request: {
    zh: (p) =>
      ({
        json: "请求体不是有效的 JSON",
        empty_json: "请求体为空，但 Content-Type 是 application/json",
        content_length: "请求体长度与 Content-Length 不符",
        url: "请求地址含有未编码的字符（如中文）：请对查询参数做 URL 编码后再发送",
        other: "请求无法解析",
      })[p.reason],
    en: (p) =>
      ({
        json: "The body is not valid JSON",
        empty_json: "The body is empty, but Content-Type is application/json",
        content_length: "The body's size does not match Content-Length",
        url: "The URL holds characters that are not percent-encoded (such as Chinese): encode the query, e.g. curl -G --data-urlencode 'town=…'",
        other: "The request could not be read",
      })[p.reason],
  },
  payload_too_large: {
    zh: (p, f) => `请求体过大（上限 ${f.num(p.limitBytes / 1048576)} MB）`,
    en: (p, f) => `Request body too large (the limit is ${f.num(p.limitBytes / 1048576)} MB)`,
  },
  unsupported_media_type: {
    zh: (p) => `不支持的内容类型 ${p.type || "（未指明）"}`,
    en: (p) => `Unsupported content type ${p.type || "(none given)"}`,
  },
  internal: { zh: () => "服务器内部错误，请查看日志", en: () => "Internal error; see the service log" },
  request_timeout: {
    zh: () => "请求未在限定时间内完整到达，连接已关闭",
    en: () => "The request did not arrive whole in time; the connection is closed",
  },
  busy: {
    zh: (p, f) => `服务繁忙，请 ${f.num(p.retryAfterS)} 秒后再试`,
    en: (p, f) => `Busy; try again in ${f.num(p.retryAfterS)} s`,
  },
};
export const httpMessage = messageMaker<HttpWords>();
