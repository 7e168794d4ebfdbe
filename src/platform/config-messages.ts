import { type MessageOf, messageMaker, type Vocabulary } from "./i18n.js";

/**
 * Why the configuration cannot be used (src/platform/config.ts), as codes and parameters: what the service prints
 * when it does not start, in AGRILUME_LANG (zh by default). A value's own problem is zod's issue, worded by
 * src/platform/validation.ts with the explanations (`hint_…`) below.
 */
export type ConfigWords = {
  config_not_agrilume: { setting: string };
  config_unknown_setting: { setting: string };
  /** Settings that only work together; `setting` is the first of them that is set. */
  config_together: { setting: string; settings: readonly string[] };
  config_mosquitto_acl: { setting: string; other: string };
  config_mosquitto_account: { setting: string; settings: readonly string[] };
  config_failover_lease: { setting: string; settings: readonly string[] };
  config_only_with: { setting: string; settings: readonly string[] };
  config_port_clash: { setting: string; port: number; other: string };
  hint_instance_id: Record<string, never>;
  hint_postgres_url: Record<string, never>;
  hint_http_url: Record<string, never>;
  hint_mqtt_url: Record<string, never>;
  hint_days_weeks: Record<string, never>;
  hint_days_weeks_forever: Record<string, never>;
  hint_control_retention_min: Record<string, never>;
  hint_tile_url: Record<string, never>;
  hint_tile_subdomains: Record<string, never>;
};

export const CONFIG_WORDS: Vocabulary<ConfigWords> = {
  config_not_agrilume: {
    zh: (p) => `${p.setting}：不是设置项（设置项都以 AGRILUME_ 开头）`,
    en: (p) => `${p.setting}: not a setting (settings are named AGRILUME_*)`,
  },
  config_unknown_setting: {
    zh: (p) => `${p.setting}：没有这个设置项（是否拼错了？README 的“配置”表列出了全部设置）`,
    en: (p) => `${p.setting}: not a known setting (is it misspelt? README's configuration table lists them all)`,
  },
  config_together: {
    zh: (p, f) => `${p.setting}：${f.list(p.settings)} 要一起设置`,
    en: (p, f) => `${p.setting}: ${f.list(p.settings)} go together`,
  },
  config_mosquitto_acl: {
    zh: (p) => `${p.setting}：服务同时写入密码文件和 ACL 文件，请一并设置 ${p.other}`,
    en: (p) => `${p.setting}: Agrilume writes the password file and the ACL file together: set ${p.other} too`,
  },
  config_mosquitto_account: {
    zh: (p, f) => `${p.setting}：密码文件里也有服务自己的账号，请设置 ${f.list(p.settings)}`,
    en: (p, f) => `${p.setting}: the password file holds the service's own account too: set ${f.list(p.settings)}`,
  },
  config_failover_lease: {
    zh: (p, f) => `${p.setting}：接入租约保存在 PostgreSQL 中，并交接外部 MQTT 服务器上的会话，请设置 ${f.list(p.settings)}`,
    en: (p, f) => `${p.setting}: the ingest lease is held in PostgreSQL and hands over an external broker's session: set ${f.list(p.settings)}`,
  },
  config_only_with: {
    zh: (p, f) => `${p.setting}：只与 ${f.list(p.settings)} 一起使用`,
    en: (p, f) => `${p.setting}: only used with ${f.list(p.settings)}`,
  },
  config_port_clash: {
    zh: (p) => `${p.setting}：端口 ${p.port} 已被 ${p.other} 使用`,
    en: (p) => `${p.setting}: port ${p.port} is already used by ${p.other}`,
  },
  hint_instance_id: { zh: () => "应为 1–64 个字母、数字、“_”、“.” 或 “-”", en: () => "1 to 64 letters, digits, '_', '.' or '-'" },
  hint_postgres_url: { zh: () => "应为 postgres:// URL", en: () => "a postgres:// URL" },
  hint_http_url: { zh: () => "应为 http:// 或 https:// URL", en: () => "an http:// or https:// URL" },
  hint_mqtt_url: { zh: () => "应为 mqtt://、mqtts://、ws:// 或 wss:// URL", en: () => "an mqtt://, mqtts://, ws:// or wss:// URL" },
  hint_days_weeks: { zh: () => "应为天数或周数，如 60d、9w", en: () => "days or weeks, such as 60d or 9w" },
  hint_days_weeks_forever: { zh: () => "应为天数或周数（如 520w），或 forever", en: () => "days or weeks, such as 520w, or forever" },
  hint_control_retention_min: {
    zh: () => "至少 90d：一晚的记录在 60 天内还会按路灯的方案重新判定",
    en: () => "at least 90d: a night is judged again by its light's profile then for 60 days",
  },
  hint_tile_url: {
    zh: () => "应为 http(s) 瓦片 URL，含占位符 z、x、y（各加花括号；有子域名时还含 s）",
    en: () => "an http(s) tile URL with the placeholders z, x and y, each in braces (and s for a subdomain)",
  },
  hint_tile_subdomains: { zh: () => "字母或数字，每个代表一个子域名", en: () => "letters or digits, one per subdomain" },
};
export const configMessage = messageMaker<ConfigWords>();
export type ConfigMessage = MessageOf<ConfigWords>;
