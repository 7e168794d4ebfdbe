import type { EventEmitter } from "node:events";
import { describe, expect, it } from "vitest";
import { registerLight, startTestApp } from "../harness/helpers.js";

/** Every listener on every event of `emitter`. */
const listeners = (emitter: EventEmitter) => Object.fromEntries(emitter.eventNames().map((e) => [String(e), emitter.listenerCount(e)]));
const processListeners = () =>
  Object.fromEntries(
    ["exit", "beforeExit", "SIGTERM", "SIGINT", "uncaughtException", "unhandledRejection", "warning"].map((e) => [e, process.listenerCount(e)]),
  );

describe("start and stop", () => {
  it("twice in one process: every listener a part added is removed by the stop, and none piles up on the process", async () => {
    const afterEach: ReturnType<typeof processListeners>[] = [];
    for (let round = 0; round < 2; round++) {
      const t = await startTestApp();
      const { app } = t;
      const emitters = {
        presence: app.presence.events as EventEmitter,
        orders: app.blending.events as EventEmitter,
        alerts: app.alerts.engine.events as EventEmitter,
        readings: app.pipeline.events as EventEmitter,
        conditions: app.streetlights.events as EventEmitter,
      };
      // the parts listen while the service runs: the streetlight monitor and light control (commands waiting for a
      // light that reconnects, sent once it has subscribed) to presence, the blending monitor to orders, the notifier
      // to alerts, both monitors, field work (a repaired light's proof) and light control (a light's first message
      // after connecting) to readings, the light feed to conditions
      expect(Object.fromEntries(Object.entries(emitters).map(([k, e]) => [k, listeners(e)]))).toEqual({
        presence: { change: 2, subscribed: 1 },
        orders: { order: 1 },
        alerts: { change: 1 },
        readings: { reading: 4 },
        conditions: { condition: 1 },
      });
      await registerLight(t, "LC-1");
      const seen: string[] = [];
      const offline = { deviceId: "LC-1", family: "streetlight" as const, online: false, cause: "silent", at: Date.now() };
      const onCondition = (id: string, condition: string) => seen.push(`${id} ${condition}`);
      app.streetlights.events.on("condition", onCondition);
      app.presence.events.emit("change", offline);
      expect(seen).toEqual(["LC-1 offline"]);
      app.streetlights.events.off("condition", onCondition);

      await t.stop();
      expect(Object.fromEntries(Object.entries(emitters).map(([k, e]) => [k, listeners(e)]))).toEqual({
        presence: {},
        orders: {},
        alerts: {},
        readings: {},
        conditions: {},
      });
      // a stopped streetlight monitor no longer turns presence into conditions
      app.streetlights.events.on("condition", onCondition);
      app.presence.events.emit("change", { ...offline, online: true });
      expect(seen).toEqual(["LC-1 offline"]);
      afterEach.push(processListeners());
    }
    // (pino's exit hook is installed once per process, on first use, and holds its streams weakly)
    expect(afterEach[1]).toEqual(afterEach[0]);
  });
});
