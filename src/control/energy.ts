import ExcelJS from "exceljs";
import { addDays } from "../platform/clock.js";
import type { Message } from "../platform/i18n.js";
import type { Registry } from "../registry/registry.js";
import type { LightEnergy, NightStore } from "../streetlights/store.js";
import { type EnergyColumn, controlMessage as m } from "./messages.js";

export type EnergyRow = {
  /** The light's id, the village's or the town's name. */
  key: string;
  town: string | null;
  village: string | null;
  lights: number;
  nights: number;
  burnHours: number;
  kWhConsumed: number;
  kWhGenerated: number;
  /** Share of the expected lit minutes that were lit (over the nights recorded); null without any. */
  availability: number | null;
  /** Nights the lamp went dark on a flat battery (`energy_limited`). */
  flatBatteryNights: number;
};
export type EnergyReport = { month: string; from: string; to: string; by: "light" | "village" | "town"; total: EnergyRow; rows: EnergyRow[] };

const r1 = (x: number) => Math.round(x * 10) / 10;
const r3 = (x: number) => Math.round(x * 1000) / 1000;

/** The month's first and last China dates ("2026-11" → 2026-11-01 … 2026-11-30). */
export function monthRange(month: string): { from: string; to: string } {
  const from = `${month}-01`;
  const [y, mo] = month.split("-").map(Number) as [number, number];
  const next = mo === 12 ? `${y + 1}-01-01` : `${y}-${String(mo + 1).padStart(2, "0")}-01`;
  return { from, to: addDays(next, -1) };
}

/**
 * Energy and availability per light, village or town over a month, from the nightly records (the nights that began
 * in that month): burn hours (lit minutes), kWh the lamps consumed and the panels generated (the day before each night),
 * availability (lit ÷ expected lit minutes) and nights lost to flat batteries. `towns` keeps only those towns' lights.
 */
export async function energyReport(
  nights: NightStore,
  registry: Registry,
  q: {
    month: string;
    town?: string | undefined;
    village?: string | undefined;
    by: "light" | "village" | "town";
    towns?: readonly string[] | undefined;
  },
): Promise<EnergyReport> {
  const { from, to } = monthRange(q.month);
  const groups = new Map<string, { town: string | null; village: string | null; lights: number; e: LightEnergy }>();
  const total = { town: null, village: null, lights: 0, e: empty("") };
  for (const e of await nights.energy(from, to)) {
    const d = registry.get(e.deviceId);
    if (d?.family !== "streetlight") continue;
    if (q.town && d.town !== q.town) continue;
    if (q.village && d.village !== q.village) continue;
    if (q.towns && !(d.town !== null && q.towns.includes(d.town))) continue;
    const key = q.by === "light" ? d.id : q.by === "village" ? `${d.town ?? ""}\u0000${d.village ?? ""}` : (d.town ?? "");
    const g = groups.get(key) ?? { town: d.town, village: q.by === "town" ? null : d.village, lights: 0, e: empty(key) };
    add(g.e, e);
    g.lights++;
    groups.set(key, g);
    add(total.e, e);
    total.lights++;
  }
  const row = (key: string, g: { town: string | null; village: string | null; lights: number; e: LightEnergy }): EnergyRow => ({
    key,
    town: g.town,
    village: g.village,
    lights: g.lights,
    nights: g.e.nights,
    burnHours: r1(g.e.litMin / 60),
    kWhConsumed: r3(g.e.loadWh / 1000),
    kWhGenerated: r3(g.e.pvWh / 1000),
    availability: g.e.expectedMin > 0 ? r3(Math.min(1, g.e.litMin / g.e.expectedMin)) : null,
    flatBatteryNights: g.e.flatNights,
  });
  const rows = [...groups]
    .map(([k, g]) => row(q.by === "village" ? (g.village ?? "") : k, g))
    .sort((a, b) => cmp(a.town, b.town) || cmp(a.village, b.village) || cmp(a.key, b.key));
  return { month: q.month, from, to, by: q.by, total: row("", total), rows };
}
const cmp = (a: string | null, b: string | null) => (a ?? "").localeCompare(b ?? "");
const empty = (deviceId: string): LightEnergy => ({
  deviceId,
  nights: 0,
  expectedMin: 0,
  litMin: 0,
  coveredMin: 0,
  loadWh: 0,
  pvWh: 0,
  flatNights: 0,
});
const add = (a: LightEnergy, b: LightEnergy) => {
  a.nights += b.nights;
  a.expectedMin += b.expectedMin;
  a.litMin += b.litMin;
  a.coveredMin += b.coveredMin;
  a.loadWh += b.loadWh;
  a.pvWh += b.pvWh;
  a.flatNights += b.flatNights;
};

const COLUMNS: EnergyColumn[] = [
  "light",
  "town",
  "village",
  "lights",
  "nights",
  "burnHours",
  "kWhConsumed",
  "kWhGenerated",
  "availability",
  "flatNights",
];

/** The report as a workbook: a title row, Chinese (or English) headers, a row per light, village or town, then the total. */
export async function energyXlsx(r: EnergyReport, render: (msg: Message) => string): Promise<Buffer> {
  const wb = new ExcelJS.Workbook();
  wb.creator = "Agrilume";
  const ws = wb.addWorksheet(render(m("energy_sheet", { month: r.month })));
  ws.addRow([render(m("energy_title", { month: r.month, from: r.from, to: r.to, by: r.by }))]);
  const columns = COLUMNS.map((c) => (c === "light" ? ({ light: "light", village: "village", town: "town" } as const)[r.by] : c));
  ws.addRow(columns.map((c) => render(m("energy_column", { column: c }))));
  const line = (x: EnergyRow) => [
    x.key,
    x.town ?? "",
    x.village ?? "",
    x.lights,
    x.nights,
    x.burnHours,
    x.kWhConsumed,
    x.kWhGenerated,
    x.availability,
    x.flatBatteryNights,
  ];
  for (const x of r.rows) ws.addRow(line(x));
  ws.addRow(line({ ...r.total, key: render(m("energy_total", {})) }));
  ws.getColumn(9).numFmt = "0.0%";
  ws.getRow(2).font = { bold: true };
  ws.views = [{ state: "frozen", ySplit: 2 }];
  for (const [i, w] of [16, 12, 12, 8, 8, 10, 12, 12, 10, 12].entries()) ws.getColumn(i + 1).width = w;
  return Buffer.from(await wb.xlsx.writeBuffer());
}
