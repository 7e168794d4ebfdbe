import mqtt, { type MqttClient } from "mqtt";

/**
 * The load generator: `devices` real MQTT connections, each publishing `perDevice` QoS 1 messages with
 * at most `window` unacknowledged at a time (a controller's in-flight limit), optionally paced to
 * `rate` messages per second in all. Latency here is publish → PUBACK.
 */
export type Load = {
  url: string;
  devices: { id: string; secret?: string }[];
  perDevice: number;
  window: number;
  rate?: number;
  payload: (device: string, i: number) => string;
  topic: (device: string) => string;
};
export type LoadResult = { sent: number; acked: number; seconds: number; rate: number; ackP50Ms: number; ackP99Ms: number };

export async function connectAll(url: string, devices: { id: string; secret?: string }[], onProgress?: (n: number) => void): Promise<MqttClient[]> {
  const clients: MqttClient[] = [];
  const parallel = 50;
  for (let i = 0; i < devices.length; i += parallel) {
    const chunk = devices.slice(i, i + parallel);
    clients.push(
      ...(await Promise.all(
        chunk.map((d) =>
          mqtt.connectAsync(url, {
            clientId: d.id,
            ...(d.secret ? { username: d.id, password: d.secret } : {}),
            clean: true,
            reconnectPeriod: 0,
            keepalive: 120,
          }),
        ),
      )),
    );
    onProgress?.(clients.length);
  }
  return clients;
}

export async function runLoad(load: Load, clients: MqttClient[], onProgress?: (acked: number) => void): Promise<LoadResult> {
  if (load.rate) return runPaced(load, clients, load.rate, onProgress);
  const lat: number[] = [];
  let acked = 0;
  const started = performance.now();
  const total = load.devices.length * load.perDevice;
  const progress = setInterval(() => onProgress?.(acked), 500);
  await Promise.all(
    clients.map(async (c, d) => {
      const dev = load.devices[d]?.id ?? "";
      const topic = load.topic(dev);
      let next = 0;
      const inflight = new Set<Promise<void>>();
      for (let i = 0; i < load.perDevice; i++) {
        const sentAt = performance.now();
        const p: Promise<void> = c.publishAsync(topic, load.payload(dev, next++), { qos: 1 }).then(() => {
          lat.push(performance.now() - sentAt);
          acked++;
          inflight.delete(p);
        });
        inflight.add(p);
        if (inflight.size >= load.window) await Promise.race(inflight);
      }
      await Promise.all(inflight);
    }),
  );
  clearInterval(progress);
  const seconds = (performance.now() - started) / 1000;
  return loadResult(total, acked, seconds, lat);
}

/**
 * The paced load: every device publishes at rate / devices, staggered, with at most `window` unacknowledged. One clock
 * (every 2 ms) sends what is due for all devices. A timer per device per message, as before, loaded the thread it shares
 * with the service and bunched messages when it fell behind: p99 publish → queryable at 12,500/s was 0.66–1.45 s with
 * it and 0.33–0.52 s with the one clock, same service code (docs/BENCHMARKS.md).
 */
function runPaced(load: Load, clients: MqttClient[], rate: number, onProgress?: (acked: number) => void): Promise<LoadResult> {
  const lat: number[] = [];
  let acked = 0;
  let failed = 0;
  const started = performance.now();
  const total = load.devices.length * load.perDevice;
  const interval = 1000 / (rate / load.devices.length); // per device
  const devices = clients.map((c, d) => {
    const id = load.devices[d]?.id ?? "";
    return { c, id, topic: load.topic(id), next: 0, inflight: 0, t0: started + (d / load.devices.length) * interval };
  });
  const progress = setInterval(() => onProgress?.(acked), 500);
  return new Promise((resolve) => {
    const tick = () => {
      const now = performance.now();
      for (const dev of devices) {
        while (dev.next < load.perDevice && dev.inflight < load.window && dev.t0 + dev.next * interval <= now) {
          const sentAt = performance.now();
          dev.inflight++;
          void dev.c.publishAsync(dev.topic, load.payload(dev.id, dev.next++), { qos: 1 }).then(
            () => {
              lat.push(performance.now() - sentAt);
              acked++;
              dev.inflight--;
            },
            () => {
              failed++; // the connection dropped: counted, never acknowledged
              dev.inflight--;
            },
          );
        }
      }
      if (acked + failed < total) {
        setTimeout(tick, 2);
        return;
      }
      clearInterval(progress);
      const seconds = (performance.now() - started) / 1000;
      resolve(loadResult(total, acked, seconds, lat));
    };
    tick();
  });
}

/** A pass's rate and its publish → PUBACK percentiles. */
const loadResult = (sent: number, acked: number, seconds: number, lat: number[]): LoadResult => ({
  sent,
  acked,
  seconds: round(seconds),
  rate: Math.round(acked / seconds),
  ackP50Ms: pctile(lat, 0.5),
  ackP99Ms: pctile(lat, 0.99),
});

export const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;
export const pctile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return round(s[Math.min(s.length - 1, Math.floor(s.length * p))] ?? 0);
};
/** The middle value (of an even count, the upper of the two middle ones), rounded as `pctile` rounds. */
export const median = (xs: number[]) => pctile(xs, 0.5);
