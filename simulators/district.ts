import type { MqttClient } from "mqtt";
import { topics } from "../devices/index.js";
import type { Credentials } from "./api.js";
import type { SimClock } from "./clock.js";
import { newControlState, obeyCommands } from "./obey.js";
import { seeded } from "./random.js";
import { connectDevice, LIGHT_FAULTS, type LightFault, type LightPhysics, type LightSpec, newPhysics, streetlightReading } from "./streetlight.js";

/**
 * The Yongchuan scenario (DOMAIN.md §1): 18,105 subsidised lights in 23 towns; the first 270 on the
 * 梳妆台村 road in 来苏镇, about 52 m apart along 14 km; the rest in villages of about 100 lights on
 * roads around 29.35° N 105.93° E. `lights` scales it down (the 梳妆台村 road fills first).
 */
export const TOWNS = [
  "来苏镇",
  "胜利路街道",
  "中山路街道",
  "茶山竹海街道",
  "大安街道",
  "陈食街道",
  "卫星湖街道",
  "南大街街道",
  "青峰镇",
  "金龙镇",
  "临江镇",
  "何埂镇",
  "松溉镇",
  "仙龙镇",
  "吉安镇",
  "五间镇",
  "宝峰镇",
  "双石镇",
  "红炉镇",
  "永荣镇",
  "三教镇",
  "板桥镇",
  "朱沱镇",
];
export const DISTRICT_LIGHTS = 18_105;
export type PlannedLight = LightSpec & { town: string; village: string; projectId: string; fault: LightFault | null };

/**
 * Plans the lights and their faults. By default faults follow DOMAIN.md §2 (2–5 % of a good fleet out
 * on a given night: 4 % spread over the kinds, plus 0.5 % phantom lights claimed but never installed);
 * `faultCounts` plants exact numbers instead (tests).
 */
export function planDistrict(opts: {
  lights: number;
  seed?: number;
  faultRate?: number;
  faultCounts?: Partial<Record<LightFault, number>>;
}): PlannedLight[] {
  const rnd = seeded(opts.seed ?? 1);
  const out: PlannedLight[] = [];
  const perVillage = 100;
  for (let i = 0; i < opts.lights; i++) {
    if (i < 270) {
      // 梳妆台村: a road heading east-north-east; 52 m between poles
      const along = i * 52;
      out.push({
        id: `YC-LS-${String(i + 1).padStart(5, "0")}`,
        town: "来苏镇",
        village: "梳妆台村",
        lat: 29.3512 + (along * 0.35) / 111_195,
        lon: 105.9113 + (along * 0.94) / (111_195 * Math.cos((29.35 * Math.PI) / 180)),
        lampW: 30,
        panelWp: 120,
        batteryAh: 60,
        projectId: "YC-2025-017",
        fault: null,
      });
      continue;
    }
    const k = i - 270;
    const village = Math.floor(k / perVillage);
    const town = TOWNS[1 + (village % (TOWNS.length - 1))] ?? "来苏镇";
    const vr = seeded(village + 1000);
    const [vlat, vlon, dir] = [29.15 + vr() * 0.4, 105.73 + vr() * 0.4, vr() * Math.PI];
    const along = (k % perVillage) * 50;
    out.push({
      id: `YC-LS-${String(i + 1).padStart(5, "0")}`,
      town,
      village: `${town.replace(/(镇|街道)$/, "")}${village + 1}村`,
      lat: vlat + (along * Math.sin(dir)) / 111_195,
      lon: vlon + (along * Math.cos(dir)) / 96_800,
      lampW: 30,
      panelWp: 120,
      batteryAh: 60,
      projectId: `YC-2025-${String(100 + (village % 300)).padStart(3, "0")}`,
      fault: null,
    });
  }
  const order = out.map((_, i) => i).sort(() => rnd() - 0.5);
  let next = 0;
  const counts =
    opts.faultCounts ??
    Object.fromEntries(
      LIGHT_FAULTS.map((f) => [f, Math.round(opts.lights * (f === "phantom" ? 0.005 : (opts.faultRate ?? 0.04) / (LIGHT_FAULTS.length - 1)))]),
    );
  for (const f of LIGHT_FAULTS) {
    for (let c = 0; c < (counts[f] ?? 0) && next < order.length; c++) {
      const light = out[order[next++] as number];
      if (light) light.fault = f;
    }
  }
  return out;
}

/**
 * Runs the lights: each its own MQTT connection with its own credentials, reporting every
 * `intervalMs` of simulated time from `from` to `until`. A comm_loss light drops off at `lossAt`;
 * a phantom never connects. Resolves when simulated time reaches `until`, with the lights still connected.
 */
export async function runDistrict(opts: {
  mqttUrl: string;
  lights: { plan: PlannedLight; creds: Credentials }[];
  clock: SimClock;
  from: number;
  until: number;
  intervalMs: number;
  lossAt?: number;
  cloud?: (t: number) => number;
  signal: AbortSignal;
  onProgress?: (simT: number, sent: number) => void;
  /** Past readings first, on the same connections: from `history.from` to `from`, one every `history.intervalMs`. */
  history?: { from: number; intervalMs: number; onProgress?: (sent: number, total: number) => void };
  /**
   * Share of the lights that are protocol v1 controllers, which never subscribe to commands (spread evenly); the others
   * obey (simulators/obey.ts): they apply profiles, overrides and config, reject what they cannot do, and answer.
   */
  v1Share?: number;
}): Promise<{ sent: number; close: () => Promise<void> }> {
  const live: { plan: PlannedLight; client: MqttClient; physics: LightPhysics; next: number; topic: string }[] = [];
  const v1Share = opts.v1Share ?? 0;
  for (const [i, { plan, creds }] of opts.lights.entries()) {
    if (plan.fault === "phantom") continue;
    const v1 = Math.floor((i + 1) * v1Share) > Math.floor(i * v1Share);
    const client = await connectDevice(opts.mqttUrl, "streetlight", creds, v1 ? "sim-1.0" : "sim-2.1");
    if (!v1) {
      plan.control = newControlState();
      await obeyCommands(client, plan.id, plan.control, { now: () => opts.clock.now() });
    }
    live.push({
      plan,
      client,
      physics: newPhysics(plan, opts.cloud),
      next: opts.history?.from ?? opts.from,
      topic: topics.uplink("streetlight", plan.id, "telemetry"),
    });
  }
  let sent = 0;
  const history = opts.history;
  const historyTotal = history ? live.length * Math.ceil((opts.from - history.from) / history.intervalMs) : 0;
  let historySent = 0;
  /** At most this many readings a light per round, so a backlog goes out in steps that show progress. */
  const ROUND = 200;
  const lossAt = opts.lossAt ?? opts.from + (opts.until - opts.from) / 2;
  while (!opts.signal.aborted) {
    const now = Math.min(opts.clock.now(), opts.until);
    const pending: Promise<unknown>[] = [];
    let behind = false;
    const historyBefore = historySent;
    for (const l of live) {
      for (let n = 0; l.next <= now; n++) {
        if (n === ROUND) {
          behind = true;
          break;
        }
        if (l.plan.fault === "comm_loss" && l.next >= lossAt) {
          // The module dies: no goodbye. Not while this round's readings wait for their PUBACK: a forced end drops their
          // callbacks (mqtt.js, with reconnect on), and the round would wait for them for ever. The next round ends it.
          if (n > 0) behind = true;
          else if (l.client.connected) l.client.end(true);
          break;
        }
        const past = history !== undefined && l.next < opts.from;
        // (a light told another report interval by `cmd/config` keeps it)
        const stepMs = past ? history.intervalMs : l.plan.control?.reportIntervalS ? l.plan.control.reportIntervalS * 1000 : opts.intervalMs;
        pending.push(l.client.publishAsync(l.topic, JSON.stringify(streetlightReading(l.plan, l.physics, l.next, stepMs / 1000)), { qos: 1 }));
        l.next = past ? Math.min(l.next + stepMs, opts.from) : l.next + stepMs;
        sent++;
        if (past) historySent++;
      }
    }
    await Promise.all(pending);
    if (history && historySent > historyBefore) history.onProgress?.(historySent, historyTotal);
    opts.onProgress?.(now, sent);
    if (now >= opts.until && !behind) break;
    if (!behind) await new Promise((r) => setTimeout(r, 50));
  }
  // Connections stay open (the lights are still there) until the caller closes them.
  return {
    sent,
    close: async () => {
      await Promise.all(live.map((l) => (l.client.connected ? l.client.endAsync() : Promise.resolve())));
    },
  };
}
