import { parseArgs } from "node:util";
import { createSimClock } from "./clock.js";
import { startStation } from "./station.js";

/**
 * npm run sim:station -- --api http://localhost:8080 --mqtt mqtt://localhost:1883 --key <admin key>
 *   [--speed 60] [--hours 7.5] [--machines 1] [--history 120] [--cycle-s 300]
 * Runs the station against a running service; with --speed, a shift in minutes.
 */
const { values } = parseArgs({
  options: {
    api: { type: "string", default: "http://localhost:8080" },
    mqtt: { type: "string", default: "mqtt://localhost:1883" },
    key: { type: "string", default: process.env.AGRILUME_ADMIN_KEY ?? "" },
    speed: { type: "string", default: "1" },
    hours: { type: "string", default: "7.5" },
    machines: { type: "string", default: "1" },
    history: { type: "string", default: "120" },
    "cycle-s": { type: "string", default: "300" },
  },
});
if (!values.key) {
  process.stderr.write("需要管理员密钥 / an admin key is needed: --key <key> or AGRILUME_ADMIN_KEY\n");
  process.exit(2);
}
const speed = Number(values.speed);
const runMs = Number(values.hours) * 3600_000;
const clock = createSimClock(speed, runMs);
const controller = new AbortController();
process.once("SIGINT", () => controller.abort());
const station = await startStation({
  apiUrl: values.api,
  mqttUrl: values.mqtt,
  key: values.key,
  clock,
  machines: Number(values.machines),
  historyT: Number(values.history),
  cycleMs: Number(values["cycle-s"]) * 1000,
  signal: controller.signal,
});
process.stdout.write(`订单 / order ${station.orderId} · 设备 / machines ${station.machines.join(", ")} · ×${speed}\n`);
const started = Date.now();
/** One line of progress (the order as the API has it now; none when the API does not answer). */
const show = (p: Awaited<ReturnType<typeof station.progress>> | null) => {
  const simH = ((Date.now() - started) * speed) / 3600_000;
  if (p)
    process.stdout.write(
      `\r  ${simH.toFixed(1)}/${values.hours} h  ${p.producedT} t (${p.progressPct} %)  ${p.rateTPerHour} t/h  ETA ${p.eta ?? "—"}   `,
    );
  if ((Date.now() - started) * speed >= runMs) controller.abort();
};
const timer = setInterval(() => {
  void station.progress().then(show, () => show(null));
}, 1000);
controller.signal.addEventListener("abort", () => {
  clearInterval(timer);
  const planted = station.planted();
  process.stdout.write(
    `\n已植入故障 / planted faults: ${planted.length}\n${planted.map((f) => `  ${new Date(f.ts).toISOString()} ${f.machineId} ${f.batchId} ${f.fault} ${f.detail}`).join("\n")}\n`,
  );
  setTimeout(() => process.exit(0), 500);
});
