import mqtt, { type MqttClient } from "mqtt";
import { type StreetlightTelemetry, topics } from "../devices/index.js";
import type { Credentials } from "./api.js";

/**
 * A solar streetlight controller, first cut (fuller physics come with the streetlight issue):
 * a 12 V LiFePO4 battery, a PV panel that follows a rough day curve in Asia/Shanghai time, a 30 W
 * lamp lit from dusk to dawn at 100 % for 4 h then 50 %, and the day's energy counters
 * (DOMAIN.md §2: typical controller readings).
 */
export type LightSpec = { id: string; lat: number; lon: number; lampW: number; panelWp: number; batteryAh: number };

export function streetlightReading(
  spec: LightSpec,
  state: { socPct: number; pvWh: number; loadWh: number; day: number },
  now: number,
  stepS: number,
): StreetlightTelemetry {
  const local = new Date(now + 8 * 3600_000); // Asia/Shanghai, no DST
  const day = local.getUTCDate();
  if (day !== state.day) {
    state.day = day;
    state.pvWh = 0;
    state.loadWh = 0;
  }
  const hour = local.getUTCHours() + local.getUTCMinutes() / 60;
  const sun = Math.max(0, Math.sin(((hour - 6.5) / 12) * Math.PI)); // daylight ~06:30–18:30
  const night = hour >= 18.5 || hour < 6.5;
  const hoursAfterDusk = hour >= 18.5 ? hour - 18.5 : hour + 5.5;
  const dimPct = !night ? 0 : hoursAfterDusk < 4 ? 100 : 50;
  const pvW = spec.panelWp * 0.8 * sun;
  const loadW = state.socPct > 5 ? (spec.lampW * dimPct) / 100 : 0;
  const wh = (w: number) => (w * stepS) / 3600;
  state.pvWh += wh(pvW);
  state.loadWh += wh(loadW);
  const batteryWh = spec.batteryAh * 12.8;
  state.socPct = Math.min(100, Math.max(0, state.socPct + ((wh(pvW) * 0.9 - wh(loadW)) / batteryWh) * 100));
  const batteryV = 11.0 + (state.socPct / 100) * 2.6;
  return {
    ts: now,
    pv: { v: sun > 0 ? round(17 + 3 * sun) : 0.4, a: sun > 0 ? round(pvW / (17 + 3 * sun)) : 0, w: round(pvW) },
    battery: { v: round(batteryV), soc: Math.round(state.socPct), tempC: 15 },
    load: { on: loadW > 0, w: round(loadW), a: round(loadW / batteryV), dimPct: loadW > 0 ? dimPct : 0 },
    energyToday: { pvWh: Math.round(state.pvWh), loadWh: Math.round(state.loadWh) },
    faults: state.socPct <= 5 ? ["over_discharge"] : [],
    gps: { lat: spec.lat, lon: spec.lon, accM: 3 },
  };
}

const round = (x: number) => Math.round(x * 100) / 100;

export function connectDevice(mqttUrl: string, family: "streetlight" | "blender", creds: Credentials, fw: string): Promise<MqttClient> {
  const status = topics.uplink(family, creds.id, "status");
  const client = mqtt.connect(mqttUrl, {
    clientId: creds.id,
    username: creds.id,
    password: creds.secret,
    clean: true,
    reconnectPeriod: 5000,
    will: { topic: status, payload: Buffer.from(JSON.stringify({ online: false })), qos: 1, retain: true },
  });
  return new Promise((resolve, reject) => {
    client.once("connect", () => {
      client.publish(status, JSON.stringify({ online: true, fw }), { qos: 1, retain: true });
      resolve(client);
    });
    client.once("error", (e) => {
      client.end(true);
      reject(e);
    });
  });
}

export async function runStreetlight(mqttUrl: string, spec: LightSpec, creds: Credentials, intervalMs: number, signal: AbortSignal) {
  const client = await connectDevice(mqttUrl, "streetlight", creds, "sim-1.0");
  const state = { socPct: 60 + Math.random() * 30, pvWh: 0, loadWh: 0, day: -1 };
  const topic = topics.uplink("streetlight", creds.id, "telemetry");
  const tick = () => client.publish(topic, JSON.stringify(streetlightReading(spec, state, Date.now(), intervalMs / 1000)), { qos: 1 });
  tick();
  const timer = setInterval(tick, intervalMs);
  signal.addEventListener("abort", () => {
    clearInterval(timer);
    client.end();
  });
  return client;
}
