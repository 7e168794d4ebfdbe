import { chinaTime } from "./clock.js";

/**
 * Text people read, in Chinese (the default) and English.
 *
 * What the service says is data: a message is a code with parameters (`{code: "lamp_power_low", params: {w: 0.3,
 * expectedW: 30}}`). It is stored and sent as such, and rendered only where someone reads it, from one catalogue that
 * combines every feature's vocabulary (src/messages.ts). Each language's text is written in that language from the
 * parameters; nothing is translated from another language's sentence.
 */
export type Lang = "zh" | "en";
export const LANGS: readonly Lang[] = ["zh", "en"];

/** A parameter: JSON, so a message can be stored and sent as it is. Instants are epoch milliseconds. */
export type Param = string | number | boolean | null | readonly Param[] | { readonly [key: string]: Param | undefined };
export type Params = { readonly [key: string]: Param | undefined };
/** What someone will read, as data. */
export type Message = { readonly code: string; readonly params: Params };

/** Numbers, times and lists as one language writes them, and nested messages; a phrase is built with these. */
export type Format = {
  readonly lang: Lang;
  /** At most `digits` decimals (default 1), no trailing zeros: `0.3`, `30`, `-12.5`. */
  num(x: number, digits?: number): string;
  /** An instant (epoch ms, or ISO 8601 as the API writes it) in China time: `2026-12-02 08:00`. */
  time(t: number | string): string;
  /** A list: `a、b、c` in Chinese, `a, b, c` in English. */
  list(items: readonly string[]): string;
  /** A message inside this one (a validation problem, a row of an import). */
  render(m: Message): string;
};

/** How one code reads in each language, from its parameters. */
export type Phrase<P> = { readonly zh: (p: P, f: Format) => string; readonly en: (p: P, f: Format) => string };
/** A feature's words: `P` maps each code to its parameters' type; every code has both languages. */
export type Vocabulary<P extends Record<string, Params>> = { readonly [C in keyof P]: Phrase<P[C]> };
/** One of a vocabulary's messages, its parameters typed by its code. */
export type MessageOf<P extends Record<string, Params>> = { [C in keyof P & string]: { readonly code: C; readonly params: P[C] } }[keyof P & string];

/** Makes a feature's messages, typed: `lightMessage("lamp_power_low", { w: 0.3, expectedW: 30 })`. */
export function messageMaker<P extends Record<string, Params>>() {
  return <C extends keyof P & string>(code: C, params: P[C]): MessageOf<P> => ({ code, params }) as unknown as MessageOf<P>;
}

/** Text stored before messages were data (an English detail string): shown as it was written, in either language. */
export const LEGACY_WORDS: Vocabulary<{ legacy_text: { text: string } }> = {
  legacy_text: { zh: (p) => p.text, en: (p) => p.text },
};
export const legacy = (text: string): Message => ({ code: "legacy_text", params: { text } });

/** A message as stored: JSON `{code, params}`, or a plain string written before messages were data. */
export function storedMessage(v: unknown): Message | null {
  if (v === null || v === undefined || v === "") return null;
  if (typeof v === "string") {
    if (v.startsWith('{"code":')) {
      try {
        return storedMessage(JSON.parse(v));
      } catch {
        return legacy(v); // a detail that merely looks like JSON
      }
    }
    return legacy(v);
  }
  if (typeof v === "object" && typeof (v as Message).code === "string") {
    const params = (v as { params?: unknown }).params;
    return { code: (v as Message).code, params: params && typeof params === "object" ? (params as Params) : {} };
  }
  return legacy(String(v));
}

/**
 * A detail as the API answers with it: the text in the reader's language (`""` when there is none), and beside it the
 * code and parameters a program reads.
 */
export function detailFields(render: (m: Message) => string, m: Message | null) {
  return m ? { detail: render(m), detailCode: m.code, detailParams: m.params } : { detail: "", detailCode: null, detailParams: null };
}

export type Catalogue = {
  /** The message in a language. A code the catalogue does not know is shown as the code itself. */
  render(lang: Lang, m: Message): string;
  /** `render` for one language, to hand to those who only render. */
  in(lang: Lang): (m: Message) => string;
  has(code: string): boolean;
  /** Every code, with its phrases. */
  codes(): string[];
};

/**
 * The one catalogue, from the vocabularies that exist (src/messages.ts lists them). A code defined twice is a
 * mistake found here, when the service starts, not by a reader.
 */
export function createCatalogue(vocabularies: Readonly<Record<string, { readonly [code: string]: Phrase<never> }>>): Catalogue {
  const phrases = new Map<string, Phrase<Params>>();
  for (const [owner, words] of Object.entries(vocabularies))
    for (const [code, phrase] of Object.entries(words)) {
      if (phrases.has(code)) throw new Error(`message code ${code} is defined twice (again by ${owner})`);
      phrases.set(code, phrase as unknown as Phrase<Params>);
    }
  const formats = new Map<Lang, Format>();
  const render = (lang: Lang, m: Message): string => {
    const phrase = phrases.get(m.code);
    if (!phrase) return m.code;
    try {
      return phrase[lang](m.params ?? {}, format(lang));
    } catch {
      return m.code; // parameters of another shape (a stored row from another version): the code still says what it was
    }
  };
  const format = (lang: Lang): Format => {
    let f = formats.get(lang);
    if (!f) {
      f = {
        lang,
        num: formatNumber,
        time: (t) => chinaTime(typeof t === "number" ? t : Date.parse(t)),
        list: (items) => items.join(lang === "zh" ? "、" : ", "),
        render: (m) => render(lang, m),
      };
      formats.set(lang, f);
    }
    return f;
  };
  return {
    render,
    in: (lang) => (m) => render(lang, m),
    has: (code) => phrases.has(code),
    codes: () => [...phrases.keys()],
  };
}

function formatNumber(x: number, digits = 1): string {
  if (!Number.isFinite(x)) return String(x);
  const k = 10 ** digits;
  const r = Math.round(x * k) / k;
  return String(Object.is(r, -0) ? 0 : r);
}

/**
 * Chooses zh or en from an Accept-Language header (RFC 9110 §12.5.4): the one of the two the reader weighs highest
 * (`q`, 1 when not given; the first listed on a tie; `q=0` means not wanted); `fallback` when it names neither.
 */
export function langFromHeader(header: string | undefined, fallback: Lang): Lang {
  if (!header) return fallback;
  let best: { lang: Lang; q: number } | null = null;
  for (const part of header.split(",").slice(0, 32)) {
    const [tag = "", ...params] = part.trim().toLowerCase().split(";");
    const lang: Lang | null = /^en(-|$)/.test(tag.trim()) ? "en" : /^zh(-|$)/.test(tag.trim()) ? "zh" : null;
    if (!lang) continue;
    const qParam = params.map((x) => x.trim()).find((x) => x.startsWith("q="));
    const q = qParam === undefined ? 1 : Number(qParam.slice(2));
    if (!Number.isFinite(q) || q <= 0 || q > 1) continue;
    if (!best || q > best.q) best = { lang, q };
  }
  return best?.lang ?? fallback;
}

/** What the service prints when it starts and stops (and the demo): fixed words without parameters. */
const CONSOLE_WORDS = {
  "config.invalid": { zh: "配置无效，服务未启动：", en: "Invalid configuration; the service did not start:" },
  "start.ready": { zh: "Agrilume 已启动", en: "Agrilume is running" },
  "start.console": { zh: "网页控制台（用用户名和密码登录）", en: "Web console (sign in with user name and password)" },
  "start.api": { zh: "HTTP API", en: "HTTP API" },
  "start.docs": { zh: "API 文档", en: "API docs" },
  "start.mqtt": { zh: "MQTT 接入", en: "MQTT" },
  "start.adminKey": {
    zh: "已创建管理员密钥（只显示这一次，请妥善保存）：",
    en: "An admin key was created (shown only this once; keep it safe):",
  },
  "start.adminPassword": {
    zh: "已创建管理员账户（用户名 / 一次性密码，只显示这一次；首次登录时须修改密码）：",
    en: "An admin account was created (user name / one-time password, shown only this once; it must be changed at the first sign-in):",
  },
  "start.adminKeyEnv": { zh: "管理员密钥来自 AGRILUME_ADMIN_KEY", en: "Admin key from AGRILUME_ADMIN_KEY" },
  "stop.done": { zh: "已停止：数据已写入", en: "Stopped: all data written" },
  "demo.adminKey": { zh: "本次演示的管理员密钥", en: "Admin key for this demo" },
  "demo.accounts": {
    zh: "各角色的演示账户（用户名、密码；在控制台登录，各角色看到不同页面）",
    en: "Demo accounts per role (user name, password; sign in to the console, each role sees its own pages)",
  },
  "demo.lights": { zh: "路灯", en: "streetlights" },
  "demo.blender": { zh: "配肥机", en: "blenders" },
  "demo.keyName": { zh: "演示管理员密钥", en: "Demo admin key" },
  "demo.alertsOpen": { zh: "现在未处理的告警（条）", en: "open alerts now" },
  "demo.alertsLater": {
    zh: "故障灯的告警在其故障持续 10 分钟后出现（灭灯故障在夜间，继电器常通在白天）",
    en: "a faulty light's alert appears once its fault has lasted 10 minutes (the failed lamp at night, the stuck relay by day)",
  },
  "demo.scope": { zh: "范围", en: "scope" },
  "demo.campaignName": { zh: "冬季调光（演示）", en: "Winter dimming (demo)" },
  "demo.campaign": {
    zh: "一个冬季调光任务已按波次发往一个村的路灯（部分模拟灯是不应答的 v1 灯）；查看进度",
    en: "a winter dimming campaign went out in waves to one village's lights (some simulated lights are v1 lights that never answer); its progress",
  },
  "demo.everywhere": { zh: "全区", en: "the whole district" },
  "role.admin": { zh: "管理员", en: "administrator" },
  "role.operator": { zh: "站点操作员", en: "station operator" },
  "role.technician": { zh: "技术员", en: "technician" },
  "role.finance": { zh: "财政局", en: "finance bureau" },
  "demo.devices": { zh: "模拟设备已上线：", en: "Simulated devices online:" },
  "demo.history": { zh: "补发路灯过去 30 夜的读数", en: "Sending the lights' last 30 nights of readings" },
  "demo.try": { zh: "试试：", en: "Try:" },
  "demo.stop": { zh: "按 Ctrl+C 停止", en: "Press Ctrl+C to stop" },
} as const;

export type MessageKey = keyof typeof CONSOLE_WORDS;

/** A fixed word of the start-up and demo output. */
export function t(lang: Lang, key: MessageKey): string {
  return CONSOLE_WORDS[key][lang];
}
