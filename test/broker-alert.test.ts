import { describe, expect, it } from "vitest";
import { createAlertEngine } from "../src/alerts/engine.js";
import { BROKER_QUIET_MS, createBrokerFeed } from "../src/alerts/feeds.js";

describe("the broker's drop alert", () => {
  it("fires once on a rise, stays open while drops go on, and resolves after a quiet period", () => {
    let now = 1_000_000;
    const engine = createAlertEngine({ clock: () => now, persist: () => undefined });
    const feed = createBrokerFeed({ engine });
    const broker = "mqtt://mosquitto.example:1883";
    feed.dropped(broker, 0, 0, now);
    expect(engine.list()).toEqual([]);
    feed.dropped(broker, 4000, 4000, now);
    const a = engine.openFor(broker, "broker_dropped");
    expect(a).toMatchObject({ family: "broker", severity: "critical", town: null, station: null, state: "firing" });
    expect(a?.detail).toEqual({ code: "broker_dropped", params: { broker, rise: 4000, total: 4000 } });
    now += BROKER_QUIET_MS - 1000;
    feed.dropped(broker, 10, 4010, now);
    expect(engine.list()).toHaveLength(1);
    now += BROKER_QUIET_MS - 1;
    feed.tick(now);
    expect(engine.openFor(broker, "broker_dropped")).toBe(a);
    now += 1;
    feed.tick(now);
    expect(engine.openFor(broker, "broker_dropped")).toBeUndefined();
    expect(a?.state).toBe("resolved");
    // a later rise is a new alert
    feed.dropped(broker, 1, 4011, now + 1);
    expect(engine.openFor(broker, "broker_dropped")?.id).not.toBe(a?.id);
  });
});
