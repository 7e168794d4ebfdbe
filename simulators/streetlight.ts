import mqtt, { type MqttClient } from "mqtt";
import SunCalc from "suncalc";
import { type StreetlightTelemetry, topics } from "../devices/index.js";
import { DEFAULT_PROFILE, levelAt, nightAround, type Profile } from "../src/streetlights/expectation.js";
import type { Credentials } from "./api.js";
import { type LightControlState, overrideAt } from "./obey.js";

/**
 * A solar streetlight controller (DOMAIN.md §2): a PV panel following the sun at the light's own
 * position (clouds by day), a 12 V battery with low-voltage disconnect at 11.0 V and reconnect at
 * 12.0 V, a lamp lit from dusk to dawn with its dimming profile, and the day's energy counters.
 * A planted fault changes one part of that.
 */
export const LIGHT_FAULTS = ["failed_lamp", "aged_battery", "stolen_panel", "stuck_relay", "comm_loss", "moved_pole", "phantom"] as const;
export type LightFault = (typeof LIGHT_FAULTS)[number];
export type LightSpec = {
  id: string;
  lat: number;
  lon: number;
  lampW: number;
  panelWp: number;
  batteryAh: number;
  fault?: LightFault | null;
  profile?: Profile;
  /** What it applied by command (protocol v1.1: simulators/obey.ts); absent for a v1 light. */
  control?: LightControlState;
};

export type LightPhysics = {
  socPct: number;
  pvWh: number;
  loadWh: number;
  day: string;
  disconnected: boolean;
  lastOn: boolean;
  cloud: (t: number) => number;
};

const TZ = 8 * 3600_000;

export function newPhysics(spec: LightSpec, cloud: (t: number) => number = () => 1, socPct = 70): LightPhysics {
  return { socPct: spec.fault === "aged_battery" ? 25 : socPct, pvWh: 0, loadWh: 0, day: "", disconnected: false, lastOn: false, cloud };
}

/** Advances the light by `stepS` seconds to time t and returns what its controller reports. */
export function streetlightReading(spec: LightSpec, s: LightPhysics, t: number, stepS: number): StreetlightTelemetry {
  const day = new Date(t + TZ).toISOString().slice(0, 10);
  if (day !== s.day) {
    s.day = day;
    s.pvWh = 0;
    s.loadWh = 0;
  }
  const alt = SunCalc.getPosition(new Date(t), spec.lat, spec.lon).altitude;
  const panel = spec.fault === "stolen_panel" ? 0 : spec.panelWp;
  const pvW = alt > 0 ? panel * 0.8 * Math.sin(alt) * s.cloud(t) : 0;
  const profile = spec.control?.profile ?? spec.profile ?? DEFAULT_PROFILE;
  const override = spec.control ? overrideAt(spec.control, t) : null;
  const n = nightAround(t, spec.lat, spec.lon, profile);
  // the controller switches on a few minutes after sunset and off a few minutes before sunrise (inside the ±30 min band)
  const night = t >= n.start + 5 * 60_000 && t < n.end - 5 * 60_000;
  const capacityWh = spec.batteryAh * 12.8 * (spec.fault === "aged_battery" ? 0.1 : 1);
  const batteryV = 11.0 + (s.socPct / 100) * 2.6;
  if (s.disconnected && batteryV >= 12.0) s.disconnected = false;
  // low-voltage disconnect at 11.0 V, or where `cmd/config` set it
  if (!s.disconnected && (s.socPct <= 0.5 || batteryV <= (spec.control?.lvdV ?? 0))) s.disconnected = true;
  const relay = spec.fault === "stuck_relay" || ((override !== null ? override > 0 : night) && !s.disconnected);
  const dimPct = override !== null ? override : night ? levelAt(t, n, profile) : 100;
  const loadW = !relay || s.disconnected ? 0 : spec.fault === "failed_lamp" ? 0.3 : (spec.lampW * dimPct) / 100;
  const wh = (w: number) => (w * stepS) / 3600;
  s.pvWh += wh(pvW);
  s.loadWh += wh(loadW);
  s.socPct = Math.min(100, Math.max(0, s.socPct + ((wh(pvW) * 0.9 - wh(loadW)) / capacityWh) * 100));
  const v = 11.0 + (s.socPct / 100) * 2.6;
  const away = spec.fault === "moved_pole" ? 120 / 111_195 : 0; // reported 120 m north of its registered pole
  const r2 = (x: number) => Math.round(x * 100) / 100;
  return {
    ts: t,
    pv: { v: pvW > 0 ? r2(17 + 3 * Math.sin(alt)) : 0.4, a: pvW > 0 ? r2(pvW / 18) : 0, w: r2(pvW) },
    battery: { v: r2(v), soc: Math.round(s.socPct), tempC: 14 },
    load: { on: relay && !s.disconnected, w: r2(loadW), a: r2(loadW / v), dimPct: relay ? dimPct : 0 },
    energyToday: { pvWh: Math.round(s.pvWh), loadWh: Math.round(s.loadWh) },
    faults: s.disconnected ? ["over_discharge"] : [],
    gps: { lat: spec.lat + away, lon: spec.lon, accM: 3 },
  };
}

export async function connectDevice(mqttUrl: string, family: "streetlight" | "blender", creds: Credentials, fw: string): Promise<MqttClient> {
  const status = topics.uplink(family, creds.id, "status");
  const client = await mqtt.connectAsync(mqttUrl, {
    clientId: creds.id,
    username: creds.id,
    password: creds.secret,
    clean: true,
    reconnectPeriod: 5000,
    will: { topic: status, payload: Buffer.from(JSON.stringify({ online: false })), qos: 1, retain: true },
  });
  await client.publishAsync(status, JSON.stringify({ online: true, fw }), { qos: 1, retain: true });
  return client;
}
