import { type MessageOf, messageMaker, type Vocabulary } from "../platform/i18n.js";
import type { Verdict } from "./reasons.js";

type Position = { lat: number; lon: number };
export type ReportColumn =
  | "device"
  | "project"
  | "town"
  | "village"
  | "road"
  | "verdict"
  | "verdictCode"
  | "evidence"
  | "why"
  | "scope"
  | "name"
  | "claimed"
  | "reporting"
  | "verified"
  | "subsidy"
  | "claimedYuan"
  | "verifiedYuan"
  | "withheldYuan"
  | "lat"
  | "lon";

/**
 * The finance verification's words: each verdict's evidence (its figures are the parameters, so a program reads them
 * and a person reads the sentence), and the problems of a claims list being imported.
 */
export type VerificationWords = {
  evidence_verified: { litNights: number; nights: number; pvDays: number; distanceM: number };
  evidence_not_reporting: { registered: boolean; nightsWithData: number };
  /** `lastSeen`: ISO 8601. */
  evidence_silent: { lastSeen: string; silentHours: number };
  evidence_no_position: { claimed: Position };
  evidence_location: { distanceM: number; limitM: number; claimed: Position; reported: Position };
  evidence_not_lit: { litNights: number; nights: number; needed: number };
  evidence_no_charging: { pvDays: number; days: number; needed: number; minWh: number };
  evidence_duplicate_device: { sameSerialOrImei: readonly { deviceId: string; projectId: string }[] };
  evidence_duplicate_pole: { within: number; claims: readonly { deviceId: string; distanceM: number }[] };
  verdict: { verdict: Verdict };
  report_sheet: { sheet: "summary" | "detail" | "visits" };
  report_column: { column: ReportColumn };
  report_title: { from: string; to: string; nights: number; town: string | null; project: string | null };
  report_scope: { scope: "all" | "town" | "project" };
  report_district: Record<string, never>;
  report_visit_why: { why: "failed" | "silent" | "sample" };
  report_digest: { digest: string };
  /** The summary sheet's signature block, for the printed report: who made it, who checked it, and when. */
  report_signature: { line: "preparer" | "reviewer" | "date" };
  claims_body: Record<string, never>;
  claims_unreadable: { kind: "csv" | "xlsx" };
  claims_missing_columns: { columns: readonly string[] };
  /** A workbook refused from its zip's central directory, before anything is inflated (issue 16, V10). */
  xlsx_too_many_entries: { entries: number; max: number };
  /** `bytes`: what its entries declare they inflate to (a zip bomb declares gigabytes). */
  xlsx_too_large: { bytes: number; maxBytes: number };
  claim_repeated: { line: number; deviceId: string; first: number };
  project_differs: { line: number; projectId: string; first: number };
};

const VERDICT_ZH: Record<Verdict, string> = {
  verified: "已核实",
  not_reporting: "未上报数据",
  silent: "超过72小时无数据（需现场核查）",
  location_mismatch: "位置不符",
  not_lit: "夜间亮灯不足",
  no_charging: "光伏不发电",
  duplicate_device: "设备重复申报",
  duplicate_pole: "灯杆位置重复",
};
const VERDICT_EN: Record<Verdict, string> = {
  verified: "verified",
  not_reporting: "not reporting",
  silent: "silent over 72 h (to visit)",
  location_mismatch: "location mismatch",
  not_lit: "not lit enough at night",
  no_charging: "PV not charging",
  duplicate_device: "device claimed twice",
  duplicate_pole: "pole claimed twice",
};
const COLUMN_ZH: Record<ReportColumn, string> = {
  device: "设备编号",
  project: "项目编号",
  town: "镇街",
  village: "村",
  road: "道路",
  verdict: "结论",
  verdictCode: "结论代码",
  evidence: "证据",
  why: "核查原因",
  scope: "范围",
  name: "名称",
  claimed: "申报数量",
  reporting: "上报数量",
  verified: "核实数量",
  subsidy: "补助标准(元)",
  claimedYuan: "申报补助(元)",
  verifiedYuan: "核实补助(元)",
  withheldYuan: "扣减补助(元)",
  lat: "申报纬度",
  lon: "申报经度",
};
const COLUMN_EN: Record<ReportColumn, string> = {
  device: "Device",
  project: "Project",
  town: "Town",
  village: "Village",
  road: "Road",
  verdict: "Verdict",
  verdictCode: "Verdict code",
  evidence: "Evidence",
  why: "Why visit",
  scope: "Scope",
  name: "Name",
  claimed: "Claimed",
  reporting: "Reporting",
  verified: "Verified",
  subsidy: "Subsidy (yuan)",
  claimedYuan: "Claimed (yuan)",
  verifiedYuan: "Verified (yuan)",
  withheldYuan: "Withheld (yuan)",
  lat: "Claimed latitude",
  lon: "Claimed longitude",
};
type Num = { num: (x: number, d?: number) => string };
/** A position as people read it: 北纬 29.35120°，东经 105.91130° (5 decimals: about a metre), south and west said so. */
const atZh = (p: Position, f: Num) =>
  `${p.lat < 0 ? "南纬" : "北纬"} ${f.num(Math.abs(p.lat), 5)}°，${p.lon < 0 ? "西经" : "东经"} ${f.num(Math.abs(p.lon), 5)}°`;
const atEn = (p: Position, f: Num) =>
  `${f.num(Math.abs(p.lat), 5)}° ${p.lat < 0 ? "S" : "N"}, ${f.num(Math.abs(p.lon), 5)}° ${p.lon < 0 ? "W" : "E"}`;

export const VERIFICATION_WORDS: Vocabulary<VerificationWords> = {
  evidence_verified: {
    zh: (p, f) => `${p.nights} 晚中 ${p.litNights} 晚亮灯达标，${p.pvDays} 天发电正常，距申报位置 ${f.num(p.distanceM)} 米`,
    en: (p, f) =>
      `lit to standard on ${p.litNights} of ${p.nights} nights, charging on ${p.pvDays} days, ${f.num(p.distanceM)} m from the claimed position`,
  },
  evidence_not_reporting: {
    zh: (p) => (p.registered ? "已登记，但从未上报数据" : "未登记，从未上报数据"),
    en: (p) => (p.registered ? "registered, but never reported" : "not registered; never reported"),
  },
  evidence_silent: {
    zh: (p, f) => `最后上报 ${f.time(p.lastSeen)}，已 ${p.silentHours} 小时无数据`,
    en: (p, f) => `last report ${f.time(p.lastSeen)}, silent for ${p.silentHours} h`,
  },
  evidence_no_position: {
    zh: (p, f) => `从未上报位置（申报位置 ${atZh(p.claimed, f)}）`,
    en: (p, f) => `no position reported (claimed at ${atEn(p.claimed, f)})`,
  },
  evidence_location: {
    zh: (p, f) =>
      `上报位置距申报位置 ${f.num(p.distanceM)} 米，允许 ${f.num(p.limitM)} 米（申报 ${atZh(p.claimed, f)}；上报 ${atZh(p.reported, f)}）`,
    en: (p, f) =>
      `reported ${f.num(p.distanceM)} m from the claimed position, ${f.num(p.limitM)} m allowed (claimed ${atEn(p.claimed, f)}; reported ${atEn(p.reported, f)})`,
  },
  evidence_not_lit: {
    zh: (p) => `${p.nights} 晚中 ${p.litNights} 晚亮灯达标，需 ${p.needed} 晚`,
    en: (p) => `lit to standard on ${p.litNights} of ${p.nights} nights; ${p.needed} needed`,
  },
  evidence_no_charging: {
    zh: (p, f) => `${p.days} 天中 ${p.pvDays} 天发电达标（每天至少 ${f.num(p.minWh)} 瓦时），需 ${p.needed} 天`,
    en: (p, f) => `charging to standard on ${p.pvDays} of ${p.days} days (at least ${f.num(p.minWh)} Wh a day); ${p.needed} needed`,
  },
  evidence_duplicate_device: {
    zh: (p, f) => `控制器序列号或 IMEI 与其他申报相同：${f.list(p.sameSerialOrImei.map((c) => `${c.deviceId}（${c.projectId}）`))}`,
    en: (p, f) => `same controller serial or IMEI as: ${f.list(p.sameSerialOrImei.map((c) => `${c.deviceId} (${c.projectId})`))}`,
  },
  evidence_duplicate_pole: {
    zh: (p, f) => `${f.num(p.within)} 米内另有申报：${f.list(p.claims.map((c) => `${c.deviceId}（${f.num(c.distanceM)} 米）`))}`,
    en: (p, f) => `other claims within ${f.num(p.within)} m: ${f.list(p.claims.map((c) => `${c.deviceId} (${f.num(c.distanceM)} m)`))}`,
  },
  verdict: { zh: (p) => VERDICT_ZH[p.verdict], en: (p) => VERDICT_EN[p.verdict] },
  report_sheet: {
    zh: (p) => ({ summary: "汇总", detail: "明细", visits: "现场核查" })[p.sheet],
    en: (p) => ({ summary: "Summary", detail: "Detail", visits: "Field visits" })[p.sheet],
  },
  report_column: { zh: (p) => COLUMN_ZH[p.column], en: (p) => COLUMN_EN[p.column] },
  report_title: {
    zh: (p) =>
      `路灯补助核查报告  核查期：${p.from} 至 ${p.to}（${p.nights} 夜）${p.town ? `  镇街：${p.town}` : ""}${p.project ? `  项目：${p.project}` : ""}`,
    en: (p) =>
      `Streetlight subsidy verification  ${p.from} to ${p.to} (${p.nights} nights)${p.town ? `  town: ${p.town}` : ""}${p.project ? `  project: ${p.project}` : ""}`,
  },
  report_scope: {
    zh: (p) => ({ all: "全部", town: "镇街", project: "项目" })[p.scope],
    en: (p) => ({ all: "all", town: "town", project: "project" })[p.scope],
  },
  report_district: { zh: () => "全区", en: () => "district" },
  report_visit_why: {
    zh: (p) => ({ failed: "未通过", silent: "待走访（长时间无数据）", sample: "随机抽查" })[p.why],
    en: (p) => ({ failed: "failed", silent: "to visit (silent)", sample: "random sample" })[p.why],
  },
  report_digest: { zh: (p) => `报告摘要 SHA-256：${p.digest}`, en: (p) => `Report digest SHA-256: ${p.digest}` },
  report_signature: {
    zh: (p) => ({ preparer: "制表人：____________", reviewer: "审核人：____________", date: "日期：______年____月____日" })[p.line],
    en: (p) => ({ preparer: "Prepared by: ____________", reviewer: "Checked by: ____________", date: "Date: ____________" })[p.line],
  },
  claims_body: { zh: () => "请上传 CSV 或 XLSX 格式的申报清单", en: () => "send the list as text/csv or as an XLSX file" },
  claims_unreadable: {
    zh: (p) => `无法读取这个 ${p.kind.toUpperCase()} 文件`,
    en: (p) => `not a readable ${p.kind.toUpperCase()} file`,
  },
  xlsx_too_many_entries: {
    zh: (p, f) => `这个 XLSX 文件有 ${f.num(p.entries)} 个内部条目（上限 ${f.num(p.max)}），不像是表格，未读取`,
    en: (p, f) => `This XLSX file holds ${f.num(p.entries)} entries (the limit is ${f.num(p.max)}): not a spreadsheet; not read`,
  },
  xlsx_too_large: {
    zh: (p, f) => `这个 XLSX 文件解压后有 ${f.num(Math.round(p.bytes / 1048576))} MB（上限 ${f.num(Math.round(p.maxBytes / 1048576))} MB），未解压`,
    en: (p, f) =>
      `This XLSX file would inflate to ${f.num(Math.round(p.bytes / 1048576))} MB (the limit is ${f.num(Math.round(p.maxBytes / 1048576))} MB); not inflated`,
  },
  claims_missing_columns: {
    zh: (p, f) =>
      `缺少这些列：${f.list(p.columns)}（列名如 项目编号、镇街、村、年度、批准数量、补助标准、设备编号、经度、纬度、控制器序列号、IMEI、安装日期）`,
    en: (p, f) =>
      `missing columns: ${f.list(p.columns)} (e.g. 项目编号, 镇街, 村, 年度, 批准数量, 补助标准, 设备编号, 经度, 纬度, 控制器序列号, IMEI, 安装日期)`,
  },
  claim_repeated: {
    zh: (p) => `第 ${p.line} 行：设备 ${p.deviceId} 重复申报（第 ${p.first} 行）`,
    en: (p) => `line ${p.line}: device ${p.deviceId} is claimed again (line ${p.first})`,
  },
  project_differs: {
    zh: (p) => `第 ${p.line} 行：项目 ${p.projectId} 与第 ${p.first} 行不一致（镇街、村、道路、年度、批准数量和补助标准须相同）`,
    en: (p) =>
      `line ${p.line}: project ${p.projectId} differs from line ${p.first} (town, village, road, year, approved number and subsidy must agree)`,
  },
};
export const verificationMessage = messageMaker<VerificationWords>();
export type VerificationMessage = MessageOf<VerificationWords>;
