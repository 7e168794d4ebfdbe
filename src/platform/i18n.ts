/**
 * Text people read, in Chinese (default) and English. Keys are stable; API error bodies
 * carry the key as `code` so a client can translate it too.
 */
export type Lang = "zh" | "en";

const CATALOG = {
  "config.invalid": { zh: "配置无效，服务未启动：", en: "Invalid configuration; the service did not start:" },
  "start.ready": { zh: "Agrilume 已启动", en: "Agrilume is running" },
  "start.console": { zh: "网页控制台（用 API 密钥登录）", en: "Web console (sign in with an API key)" },
  "start.api": { zh: "HTTP API", en: "HTTP API" },
  "start.docs": { zh: "API 文档", en: "API docs" },
  "start.mqtt": { zh: "MQTT 接入", en: "MQTT" },
  "start.adminKey": {
    zh: "已创建管理员密钥（只显示这一次，请妥善保存）：",
    en: "An admin key was created (shown only this once; keep it safe):",
  },
  "start.adminKeyEnv": { zh: "管理员密钥来自 AGRILUME_ADMIN_KEY", en: "Admin key from AGRILUME_ADMIN_KEY" },
  "stop.done": { zh: "已停止：数据已写入", en: "Stopped: all data written" },
  "demo.adminKey": { zh: "本次演示的管理员密钥", en: "Admin key for this demo" },
  "demo.roleKeys": { zh: "各角色的演示密钥（控制台按角色显示不同页面）", en: "Demo keys per role (the console shows each role its own pages)" },
  "demo.alerts": { zh: "约 10 分钟后出现一条告警（一盏灯故障）", en: "an alert appears after about 10 minutes (a faulty light)" },
  "demo.devices": { zh: "模拟设备已上线：", en: "Simulated devices online:" },
  "demo.history": { zh: "补发路灯过去 30 夜的读数", en: "Sending the lights' last 30 nights of readings" },
  "demo.try": { zh: "试试：", en: "Try:" },
  "demo.stop": { zh: "按 Ctrl+C 停止", en: "Press Ctrl+C to stop" },
  "error.unauthorized": {
    zh: "缺少或无效的 API 密钥（Authorization: Bearer <密钥>）",
    en: "Missing or invalid API key (Authorization: Bearer <key>)",
  },
  "error.forbidden": { zh: "此密钥的角色无权访问该资源", en: "This key's role may not use this resource" },
  "error.not_found": { zh: "未找到", en: "Not found" },
  "error.validation": { zh: "请求无效", en: "Invalid request" },
  "error.conflict": { zh: "已存在", en: "Already exists" },
  "error.not_ready": { zh: "服务尚未就绪", en: "Not ready" },
  "error.busy": { zh: "服务繁忙，请稍后再试", en: "Busy; try again shortly" },
  "error.internal": { zh: "服务器内部错误，请查看日志", en: "Internal error; see the service log" },
  "error.payload_too_large": { zh: "请求体过大", en: "Request body too large" },
} as const;

export type MessageKey = keyof typeof CATALOG;

export function t(lang: Lang, key: MessageKey): string {
  return CATALOG[key][lang];
}

/** Chooses zh or en from an Accept-Language header; zh unless English is preferred. */
export function langFromHeader(header: string | undefined, fallback: Lang): Lang {
  if (!header) return fallback;
  const first = header.split(",")[0]?.trim().toLowerCase() ?? "";
  if (first.startsWith("en")) return "en";
  if (first.startsWith("zh")) return "zh";
  return fallback;
}

const CAUSE_ZH: Record<string, string> = {
  disconnected: "连接断开",
  silent: "超时未上报",
  status_offline: "设备报告离线",
  never_seen: "从未上线",
};

/**
 * The details the rules write (in English, the stored form) in the reader's language. Each rule's wording
 * appears once here; a detail no pattern knows is shown as written.
 */
const DETAILS_ZH: [RegExp, (m: RegExpExecArray) => string][] = [
  [/^reported (\d+) m from its registered position$/, (m) => `上报位置距登记位置 ${m[1]} 米`],
  [/^(\d+) switch-ons tonight$/, (m) => `今晚开关 ${m[1]} 次`],
  [/^battery ([\d.]+) V at low-voltage disconnect$/, (m) => `电池 ${m[1]} V，已低压断开`],
  [/^([\d.]+) W, expected ([\d.]+) W ±15 %$/, (m) => `功率 ${m[1]} W，应为 ${m[2]} W ±15 %`],
  [/^([\d.]+) W, expected ([\d.]+) W$/, (m) => `功率 ${m[1]} W，应为 ${m[2]} W`],
  [/^battery ([\d.]+) V$/, (m) => `电池 ${m[1]} V`],
  [/^lamp off$/, () => "灯未开"],
  [/^dark sky: most neighbours are lit too$/, () => "天色暗：多数邻近路灯也亮着"],
  [/^([\d.]+) W in daylight$/, (m) => `白天亮灯 ${m[1]} W`],
  [/^no PV while (\d+) of (\d+) neighbours charge$/, (m) => `无光伏充电，而邻近 ${m[2]} 盏中有 ${m[1]} 盏在充电`],
  [/^silent: (\w+)$/, (m) => `无数据：${CAUSE_ZH[m[1] as string] ?? m[1]}`],
  [/^no reading yet$/, () => "尚无读数"],
  [/^(\d+)\/(\d+) lights dark or offline$/, (m) => `${m[1]}/${m[2]} 盏不亮或离线`],
  [/^offline during working hours$/, () => "工作时间内离线"],
  [/^batch (.+?): (.+)$/, (m) => `批次 ${m[1]} 超差：${m[2]}`],
  [/^running, scale at ([-\d.]+) kg without change for (\d+) s$/, (m) => `运行中，秤重 ${m[1]} kg 已 ${m[2]} 秒未变`],
  [/^([a-z0-9_]+): ([\d.]+) kg, refill below (\d+) kg$/, (m) => `${m[1]} 料仓 ${m[2]} kg，低于补料线 ${m[3]} kg`],
  [/^projected finish (.+) after the due date (.+)$/, (m) => `预计 ${m[1]} 完成，晚于交货期 ${m[2]}`],
  [/^(condition )?cleared$/, () => "已恢复"],
];

export function localizeDetail(lang: Lang, text: string): string {
  if (lang === "en" || !text) return text;
  for (const [re, zh] of DETAILS_ZH) {
    const m = re.exec(text);
    if (m) return zh(m);
  }
  return text;
}
