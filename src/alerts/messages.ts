import { type Message, type MessageOf, messageMaker, type Vocabulary } from "../platform/i18n.js";

/** What the alerts say: their names, the robots' messages and the morning digest. */
export type AlertWords = {
  village_out: { out: number; lights: number };
  /** The external broker's drop counter rose by `rise` to `total` (`broker`: its URL without credentials). */
  broker_dropped: { broker: string; rise: number; total: number };
  condition_cleared: Record<string, never>;
  alert_type: { type: string };
  /** One alert in a robot's message; `since`: ISO 8601. */
  alert_line: { type: string; where: string; deviceId: string; detail: Message | null; since: string };
  alerts_fired: { count: number };
  alerts_resolved: { count: number };
  alerts_reminder: { count: number };
  /** The morning digest of one town; `causes`: last night's unlit lights by cause (`cause`: a night class's message). */
  digest: {
    town: string;
    date: string;
    lights: number;
    causes: readonly { cause: Message; ids: readonly string[]; count: number }[];
    open: number;
    /** Another feature's line for the town (field work's figures), when it has one. */
    more?: Message | null;
  };
  digest_title: Record<string, never>;
  hint_channel_url: Record<string, never>;
  hint_silence_scope: Record<string, never>;
};

const TYPE_ZH: Record<string, string> = {
  dark: "不亮",
  day_burner: "白天亮灯",
  energy_limited: "电量不足",
  charge_fault: "充电故障",
  cycling: "频繁开关",
  offline: "离线",
  moved: "位置移动",
  dim_mismatch: "功率异常",
  village_outage: "整村停亮",
  broker_dropped: "消息代理丢弃消息",
  out_of_tolerance: "配料超差",
  stalled: "设备卡停",
  hopper_low: "料仓不足",
  behind_schedule: "订单落后",
};
const TYPE_EN: Record<string, string> = {
  ...Object.fromEntries(Object.keys(TYPE_ZH).map((k) => [k, k.replace(/_/g, " ")])),
  dim_mismatch: "wrong power",
};
/** Ids named in a digest line; the count says how many there are in all. */
const IDS_SHOWN = 10;

export const ALERT_WORDS: Vocabulary<AlertWords> = {
  village_out: { zh: (p) => `${p.out}/${p.lights} 盏不亮或离线`, en: (p) => `${p.out}/${p.lights} lights dark or offline` },
  broker_dropped: {
    zh: (p) =>
      `消息代理 ${p.broker} 丢弃了 ${p.rise} 条消息（累计 ${p.total} 条）：它给本服务的队列已满，设备已收到确认的读数已丢失；请确认本服务在运行，并按协议文档第 7 节调大代理的队列上限`,
    en: (p) =>
      `the broker ${p.broker} dropped ${p.rise} message(s) (${p.total} in all): its queue for this service overflowed and readings it had acknowledged to devices are lost; check that the service is running and size max_queued_messages as PROTOCOL.md §7 says`,
  },
  condition_cleared: { zh: () => "已恢复", en: () => "condition cleared" },
  alert_type: { zh: (p) => TYPE_ZH[p.type] ?? "告警", en: (p) => TYPE_EN[p.type] ?? p.type },
  alert_line: {
    zh: (p, f) =>
      `- 【${f.render({ code: "alert_type", params: { type: p.type } })}】${p.where} ${p.deviceId}${p.detail ? `：${f.render(p.detail)}` : ""}（${f.time(p.since)} 起）`,
    en: (p, f) =>
      `- [${f.render({ code: "alert_type", params: { type: p.type } })}] ${p.where} ${p.deviceId}${p.detail ? `: ${f.render(p.detail)}` : ""} (since ${f.time(p.since)})`,
  },
  alerts_fired: { zh: (p) => `新告警 ${p.count} 条`, en: (p) => `${p.count} new alert(s)` },
  alerts_resolved: { zh: (p) => `已恢复 ${p.count} 条`, en: (p) => `${p.count} alert(s) resolved` },
  alerts_reminder: { zh: (p) => `仍未确认的告警 ${p.count} 条`, en: (p) => `${p.count} alert(s) still unacknowledged` },
  digest: {
    zh: (p, f) =>
      [
        `### ${p.town} 昨夜（${p.date}）路灯简报`,
        `共 ${p.lights} 盏；未正常亮灯：`,
        ...(p.causes.length
          ? p.causes.map((c) => `- ${f.render(c.cause)}：${c.count} 盏（${c.ids.slice(0, IDS_SHOWN).join("、")}${c.count > IDS_SHOWN ? " 等" : ""}）`)
          : ["- 无"]),
        `仍未处理的告警：${p.open} 条`,
        ...(p.more ? [f.render(p.more)] : []),
      ].join("\n"),
    en: (p, f) =>
      [
        `### ${p.town}: last night (${p.date})`,
        `${p.lights} lights; not lit as expected:`,
        ...(p.causes.length
          ? p.causes.map((c) => `- ${f.render(c.cause)}: ${c.count} (${c.ids.slice(0, IDS_SHOWN).join(", ")}${c.count > IDS_SHOWN ? " …" : ""})`)
          : ["- none"]),
        `Alerts still open: ${p.open}`,
        ...(p.more ? [f.render(p.more)] : []),
      ].join("\n"),
  },
  digest_title: { zh: () => "今晨路灯简报", en: () => "Morning streetlight digest" },
  hint_channel_url: { zh: () => "webhook、钉钉和企业微信渠道须有 url", en: () => "webhook, dingtalk and wecom channels need a url" },
  hint_silence_scope: { zh: () => "静默须指定乡镇、设备或告警类型", en: () => "a silence names a town, a device or a type" },
};
export const alertMessage = messageMaker<AlertWords>();
export type AlertMessage = MessageOf<AlertWords>;
