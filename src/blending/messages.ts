import type { Format } from "../platform/i18n.js";
import { type MessageOf, messageMaker, type Vocabulary } from "../platform/i18n.js";

type Nutrient = "n" | "p2o5" | "k2o";
/** A material's names as its catalogue gives them (src/blending/materials.ts). */
export type MaterialName = { zh: string; en: string };
type OrderState = "planned" | "running" | "paused" | "finished";
type BatchState = "running" | "held" | "complete" | "aborted";

/**
 * The blending station's words: the conditions of machines and orders, why an operator's request cannot be done
 * (an order, a formula a solver cannot make), and the cells of the batch file.
 */
export type BlendingWords = {
  // conditions
  machine_offline_in_hours: Record<string, never>;
  /** `name`: the material's names in the station's catalogue (absent in details stored before they were given). */
  batch_out_of_tolerance: { batchId: string; deviations: readonly { material: string; name?: MaterialName; kg: number }[] };
  scale_still: { kg: number; seconds: number };
  hopper_below_refill: { material: string; name?: MaterialName; kg: number; refillKg: number };
  /** `eta`: ISO 8601. */
  finish_after_due: { eta: string; dueDate: string };
  past_due_idle: { dueDate: string };
  // requests that cannot be done
  material_builtin: { material: string };
  grade_format: { grade: string };
  grade_richest: { richest: string };
  station_unknown: { station: string };
  formula_unknown: { formulaId: string };
  machine_not_blender: { machineId: string };
  machine_other_station: { machineId: string; station: string | null; orderStation: string };
  machine_busy: { machineId: string; orderId: string };
  order_finished: { orderId: string };
  order_not_running: { orderId: string; state: OrderState };
  materials_unknown: { materials: readonly string[] };
  solve_two_suppliers: { nutrient: Nutrient; first: string; second: string };
  solve_no_supplier: { nutrients: readonly Nutrient[] };
  solve_no_combination: Record<string, never>;
  solve_unwanted_nutrient: { nutrient: Nutrient; kgPerTonne: number };
  solve_negative: { materials: readonly string[] };
  solve_no_carrier: { element: string };
  solve_over_tonne: { kgPerTonne: number };
  solve_no_filler: Record<string, never>;
  soil_sufficient: Record<string, never>;
  /** The nutrients needed (kg per mu) are in a ratio the station's materials cannot blend (every phosphate carries N). */
  ratio_not_blendable: { n: number; p2o5: number; k2o: number };
  // batch events kept as rejects (PROTOCOL.md §2)
  /** The event names an order that is not this machine's: unknown, never started on it, or of another station. */
  batch_not_machines_order: { orderId: string; machineId: string };
  /** A later event of a batch names another order than the batch's first event did. */
  batch_order_changed: { batchId: string; orderId: string; batchOrderId: string };
  batch_over_capacity: { kg: number; maxKg: number };
  batch_bags_over_weight: { bags: number; bagKg: number; maxBags: number };
  // schema explanations
  hint_hhmm: Record<string, never>;
  hint_period_order: Record<string, never>;
  hint_periods_overlap: Record<string, never>;
  hint_soil_one_of: Record<string, never>;
  // the batch file
  batch_state: { state: BatchState };
  batch_in_tolerance: { ok: boolean };
};

const NUTRIENT: Record<Nutrient, string> = { n: "N", p2o5: "P2O5", k2o: "K2O" };
const ORDER_STATE_ZH: Record<OrderState, string> = { planned: "待生产", running: "生产中", paused: "已暂停", finished: "已完成" };
const BATCH_STATE_ZH: Record<BatchState, string> = { running: "进行中", held: "暂停(保持)", complete: "完成", aborted: "中止" };
const signed = (kg: number, f: Format) => `${kg > 0 ? "+" : ""}${f.num(kg, 2)}`;

export const BLENDING_WORDS: Vocabulary<BlendingWords> = {
  machine_offline_in_hours: { zh: () => "工作时间内离线", en: () => "offline during working hours" },
  batch_out_of_tolerance: {
    zh: (p, f) => `批次 ${p.batchId} 超差：${f.list(p.deviations.map((d) => `${d.name?.zh ?? d.material} ${signed(d.kg, f)} kg`))}`,
    en: (p, f) => `batch ${p.batchId}: ${f.list(p.deviations.map((d) => `${d.name?.en ?? d.material} ${signed(d.kg, f)} kg`))}`,
  },
  scale_still: {
    zh: (p, f) => `运行中，秤重 ${f.num(p.kg)} kg 已 ${p.seconds} 秒未变`,
    en: (p, f) => `running, scale at ${f.num(p.kg)} kg without change for ${p.seconds} s`,
  },
  hopper_below_refill: {
    zh: (p, f) => `${p.name?.zh ?? p.material}料仓 ${f.num(p.kg)} kg，低于补料线 ${f.num(p.refillKg, 0)} kg`,
    en: (p, f) => `${p.name?.en ?? p.material}: ${f.num(p.kg)} kg, refill below ${f.num(p.refillKg, 0)} kg`,
  },
  finish_after_due: {
    zh: (p, f) => `预计 ${f.time(p.eta)} 完成，晚于交货期 ${p.dueDate}`,
    en: (p, f) => `projected finish ${f.time(p.eta)} after the due date ${p.dueDate}`,
  },
  past_due_idle: {
    zh: (p) => `已过交货期 ${p.dueDate}，订单未完成且没有在生产`,
    en: (p) => `past the due date ${p.dueDate}, unfinished and nothing running`,
  },
  material_builtin: {
    zh: (p) => `${p.material} 是内置原料；如需改动，请为某个配肥站单独添加`,
    en: (p) => `${p.material} is a built-in material; add it for a station to redefine it there`,
  },
  grade_format: { zh: (p) => `“${p.grade}” 不是养分配比，应写作 15-15-15 这样`, en: (p) => `"${p.grade}" is not a grade like 15-15-15` },
  grade_richest: {
    zh: (p) => `此配比最多能配到 ${p.richest}`,
    en: (p) => `the richest grade of this ratio that can be made is ${p.richest}`,
  },
  station_unknown: {
    zh: (p) => `配肥站 ${p.station} 未登记（POST /api/v1/stations）`,
    en: (p) => `station ${p.station} is not registered (POST /api/v1/stations)`,
  },
  formula_unknown: { zh: (p) => `配方 ${p.formulaId} 不存在`, en: (p) => `formula ${p.formulaId} does not exist` },
  machine_not_blender: { zh: (p) => `${p.machineId} 不是已登记的配肥机`, en: (p) => `${p.machineId} is not a registered blending machine` },
  machine_other_station: {
    zh: (p) => `${p.machineId} 属于配肥站 ${p.station ?? "（无）"}，不是 ${p.orderStation}`,
    en: (p) => `${p.machineId} belongs to station ${p.station ?? "(none)"}, not ${p.orderStation}`,
  },
  machine_busy: {
    zh: (p) => `${p.machineId} 正在生产订单 ${p.orderId}，请先暂停或完成该订单`,
    en: (p) => `${p.machineId} is running order ${p.orderId}; pause or finish it first`,
  },
  order_finished: { zh: (p) => `订单 ${p.orderId} 已完成`, en: (p) => `order ${p.orderId} is finished` },
  order_not_running: {
    zh: (p) => `订单 ${p.orderId} ${ORDER_STATE_ZH[p.state]}，不在生产中`,
    en: (p) => `order ${p.orderId} is ${p.state}, not running`,
  },
  materials_unknown: { zh: (p, f) => `没有这些原料：${f.list(p.materials)}`, en: (p, f) => `unknown material: ${f.list(p.materials)}` },
  solve_two_suppliers: {
    zh: (p) => `${NUTRIENT[p.nutrient]} 只能由一种原料提供：${p.first} 和 ${p.second} 请选其一`,
    en: (p) => `choose one material for ${NUTRIENT[p.nutrient]}: both ${p.first} and ${p.second} are given`,
  },
  solve_no_supplier: {
    zh: (p, f) => `没有原料提供 ${f.list(p.nutrients.map((n) => NUTRIENT[n]))}`,
    en: (p, f) => `no material supplies ${f.list(p.nutrients.map((n) => NUTRIENT[n]))}`,
  },
  solve_no_combination: { zh: () => "所选原料配不出这个配比", en: () => "the chosen materials cannot be combined into this grade" },
  solve_unwanted_nutrient: {
    zh: (p, f) => `配比中没有 ${NUTRIENT[p.nutrient]}，但所选原料每吨会带入 ${f.num(p.kgPerTonne, 0)} kg`,
    en: (p, f) => `the grade has no ${NUTRIENT[p.nutrient]}, but the materials bring ${f.num(p.kgPerTonne, 0)} kg/t of it`,
  },
  solve_negative: {
    zh: (p, f) => `${f.list(p.materials)} 的用量会是负数：其他原料带入的养分已超过配比`,
    en: (p, f) => `${f.list(p.materials)} would be negative: another material already brings more than the grade allows`,
  },
  solve_no_carrier: { zh: (p) => `没有含 ${p.element} 的原料`, en: (p) => `no material carries ${p.element}` },
  solve_over_tonne: {
    zh: (p, f) => `每吨原料合计 ${f.num(p.kgPerTonne, 0)} kg，超过 1000 kg`,
    en: (p, f) => `the materials add up to ${f.num(p.kgPerTonne, 0)} kg per tonne, more than 1000`,
  },
  solve_no_filler: { zh: () => "没有填充料补足一吨", en: () => "no filler material to make up the tonne" },
  soil_sufficient: {
    zh: () => "按此产量，土壤供给已满足作物需要：无需施肥",
    en: () => "the soil supplies all the crop needs for this yield: no fertilizer is recommended",
  },
  ratio_not_blendable: {
    zh: (p) =>
      `每亩需 N ${p.n}、P₂O₅ ${p.p2o5}、K₂O ${p.k2o} 公斤，本站原料配不出这个比例${
        p.n === 0 ? "：土壤氮已够，而磷源（磷酸一铵、磷酸二铵）都含氮。请加入不含氮的磷肥（如重过磷酸钙 0-46-0）后再算，或单施磷钾肥" : ""
      }`,
    en: (p) =>
      `${p.n} N, ${p.p2o5} P2O5 and ${p.k2o} K2O kg per mu: the station's materials cannot blend this ratio${
        p.n === 0
          ? ": the soil supplies the nitrogen, and every phosphate here (MAP, DAP) carries some. Add a nitrogen-free phosphate (e.g. TSP 0-46-0) and ask again, or apply straight P and K"
          : ""
      }`,
  },
  batch_not_machines_order: {
    zh: (p) => `订单 ${p.orderId} 不是在配肥机 ${p.machineId} 上开始生产的订单：批次只计入本机正在生产的订单`,
    en: (p) => `order ${p.orderId} was not started on machine ${p.machineId}: a batch counts only toward its own machine's order`,
  },
  batch_order_changed: {
    zh: (p) => `批次 ${p.batchId} 属于订单 ${p.batchOrderId}，此事件却写为订单 ${p.orderId}`,
    en: (p) => `batch ${p.batchId} belongs to order ${p.batchOrderId}, but this event names order ${p.orderId}`,
  },
  batch_over_capacity: {
    zh: (p, f) => `批次原料合计 ${f.num(p.kg, 0)} kg，超过一批的上限 ${f.num(p.maxKg, 0)} kg（秤的量程）`,
    en: (p, f) => `the batch's materials add up to ${f.num(p.kg, 0)} kg, more than one batch can weigh (${f.num(p.maxKg, 0)} kg, the scale's range)`,
  },
  batch_bags_over_weight: {
    zh: (p) => `${p.bags} 袋超过这批料能装的 ${p.maxBags} 袋（每袋 ${p.bagKg} kg）`,
    en: (p) => `${p.bags} bags is more than the batch fills (${p.maxBags} bags of ${p.bagKg} kg)`,
  },
  hint_hhmm: { zh: () => "应为 HH:MM，00:00–23:59", en: () => "HH:MM, 00:00–23:59" },
  hint_period_order: { zh: () => "每个时段的结束应晚于开始", en: () => "each period must end after it starts" },
  hint_periods_overlap: { zh: () => "时段应按先后排列且不重叠", en: () => "periods must be in order and not overlap" },
  hint_soil_one_of: {
    zh: () => "soilSupplyKgPerMu 与 soilTest 只给其一",
    en: () => "give soilSupplyKgPerMu or soilTest, one of them",
  },
  batch_state: { zh: (p) => BATCH_STATE_ZH[p.state], en: (p) => p.state },
  batch_in_tolerance: { zh: (p) => (p.ok ? "合格" : "超差"), en: (p) => (p.ok ? "in tolerance" : "out of tolerance") },
};
export const blendingMessage = messageMaker<BlendingWords>();
export type BlendingMessage = MessageOf<BlendingWords>;
