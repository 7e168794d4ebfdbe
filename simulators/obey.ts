import type { MqttClient } from "mqtt";
import { type Ack, LIGHT_COMMAND_SCHEMAS, LIGHT_COMMANDS, type LightCommandName, lvdRange, parseTopic, topics } from "../devices/index.js";
import type { Profile } from "../src/streetlights/expectation.js";

/**
 * What a v1.1 light controller does with commands (PROTOCOL.md §3a): it subscribes to its own `cmd/#`, checks each
 * command against its own limits, applies it, and answers on its ack topic with `applied` or `rejected` and a reason.
 * A command id it has answered before is answered the same again (commands are resent on reconnect).
 */
export type LightControlState = {
  /** The profile it runs by command (null: its factory one, the registered profile). */
  profile: Profile | null;
  override: { pct: number; until: number } | null;
  reportIntervalS: number | null;
  lvdV: number | null;
  /** Its clock's error (ms): what it puts in `clock` is Date.now() + this; a `time` command sets it to 0. */
  clockOffsetMs: number;
};

export const newControlState = (): LightControlState => ({ profile: null, override: null, reportIntervalS: null, lvdV: null, clockOffsetMs: 0 });

/** The override in force at t, if any (the simulator's physics asks). */
export const overrideAt = (s: LightControlState, t: number): number | null => (s.override && t < s.override.until ? s.override.pct : null);

export async function obeyCommands(
  client: MqttClient,
  id: string,
  state: LightControlState,
  opts: {
    /** A controller that refuses this command (e.g. `() => "unsupported"`), as some hardware does. */
    refuse?: (name: LightCommandName, body: unknown) => string | null;
    /** Its battery: what it checks an LVD against (default: lead-acid 12 V). */
    battery?: Parameters<typeof lvdRange>;
    now?: () => number;
    onAnswer?: (ack: Ack) => void;
  } = {},
): Promise<void> {
  const now = opts.now ?? Date.now;
  const answered = new Map<string, Ack>();
  const answer = (ack: Ack) => {
    answered.set(ack.id, ack);
    opts.onAnswer?.(ack);
    client.publish(topics.ack(id), JSON.stringify({ ...ack, clock: Date.now() + state.clockOffsetMs }), { qos: 1 });
  };
  client.on("message", (topic, payload) => {
    const t = parseTopic(topic);
    if (!t.ok || t.kind !== "cmd" || t.deviceId !== id || payload.length === 0) return; // an empty retained payload: a cleared profile
    const name = t.command as LightCommandName;
    let json: unknown;
    try {
      json = JSON.parse(payload.toString("utf8"));
    } catch {
      return; // no id to answer
    }
    const cmdId = (json as { id?: unknown })?.id;
    if (typeof cmdId !== "string") return;
    const before = answered.get(cmdId);
    if (before) return answer(before);
    if (!(LIGHT_COMMANDS as readonly string[]).includes(name))
      return answer({ id: cmdId, cmd: "profile", result: "rejected", reason: "unsupported" });
    const parsed = LIGHT_COMMAND_SCHEMAS[name].safeParse(json);
    if (!parsed.success) return answer({ id: cmdId, cmd: name, result: "rejected", reason: "invalid" });
    const body = (parsed.data as Record<string, unknown>)[name];
    const refused = opts.refuse?.(name, body) ?? null;
    if (refused) return answer({ id: cmdId, cmd: name, result: "rejected", reason: refused });
    switch (name) {
      case "profile":
        state.profile = body as Profile;
        break;
      case "override": {
        const o = body as { action: "on" | "off" | "dim"; pct?: number; minutes: number };
        state.override = { pct: o.action === "off" ? 0 : o.action === "on" ? 100 : (o.pct ?? 100), until: now() + o.minutes * 60_000 };
        break;
      }
      case "config": {
        const c = body as { reportIntervalS?: number; lvdV?: number };
        if (c.lvdV !== undefined) {
          const r = lvdRange(...(opts.battery ?? [null, 12]));
          if (c.lvdV < r.min || c.lvdV > r.max) return answer({ id: cmdId, cmd: name, result: "rejected", reason: "lvd_out_of_range" });
          state.lvdV = c.lvdV;
        }
        if (c.reportIntervalS !== undefined) state.reportIntervalS = c.reportIntervalS;
        break;
      }
      case "time":
        state.clockOffsetMs = 0;
        break;
    }
    answer({ id: cmdId, cmd: name, result: "applied" });
  });
  await client.subscribeAsync(topics.commandFilter("streetlight", id), { qos: 1 });
}
