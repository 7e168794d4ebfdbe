import { randomUUID } from "node:crypto";
import { type Ack, CHEMISTRIES, type Chemistry, LIGHT_COMMAND_SCHEMAS, type LightCommandName, topics } from "../../devices/index.js";
import type { Presence, PresenceChange, Subscribed } from "../ingest/presence.js";
import type { RejectRecord } from "../ingest/rejects.js";
import type { Sink } from "../ingest/store-writer.js";
import type { WalRecord } from "../ingest/wal.js";
import { invalid } from "../platform/errors.js";
import type { Logger } from "../platform/log.js";
import { issueMessage } from "../platform/validation.js";
import type { Registry } from "../registry/registry.js";
import type { DeviceRecord } from "../registry/store.js";
import { type Profile, ProfileSchema } from "../streetlights/expectation.js";
import type { CommandBus } from "../transport/command-bus.js";
import { controlMessage } from "./messages.js";
import type { Applied, AppliedProfile, Campaign, ControlStore, LightCommand } from "./store.js";

export type ControlSettings = {
  /** Commands a second sent by campaigns, all together (AGRILUME_CONTROL_RATE_PER_S). */
  ratePerS: number;
  /** How long a command waits for a light that is offline before it expires (AGRILUME_CONTROL_EXPIRY_H). */
  expiryMs: number;
  /** A light whose clock is off by more than this gets a `time` command (AGRILUME_CONTROL_CLOCK_TOLERANCE_S). */
  clockToleranceMs: number;
  /** Finished commands older than this are deleted by the retention job (AGRILUME_CONTROL_COMMAND_RETENTION). */
  commandRetentionMs: number;
};
/** How often the waves run: a send goes as soon as the rate allows it (the gate below), not only on the second. */
export const WAVE_MS = 100;
/** At most one clock sync an hour per light: a light that cannot keep time is not sent one at every answer. */
const TIME_RESEND_MS = 3600_000;

/** The battery a light's registration names (`batteryChemistry`, `systemV`), for the LVD range of `cmd/config`. */
export const batteryOf = (d: DeviceRecord): { chemistry: Chemistry | null; nominalV: 12 | 24 } => {
  const c = d.attrs.batteryChemistry;
  return { chemistry: (CHEMISTRIES as readonly unknown[]).includes(c) ? (c as Chemistry) : null, nominalV: d.attrs.systemV === 24 ? 24 : 12 };
};

/**
 * Streetlight control (PROTOCOL.md §3a): commands to lights, each tracked created → sent → applied | rejected |
 * expired; what each light applied (the monitor judges a light by it); campaigns sent in waves under a rate limit.
 *
 * Pending commands are held in memory by light (bounded by the registry times the command kinds: a newer command of
 * the same kind to a light replaces an unanswered older one, which expires). A light's answers come through the
 * write-ahead log (the `control` sink), so an answer PUBACKed is never lost to a crash.
 */
export function createLightControl(deps: {
  store: ControlStore;
  registry: Registry;
  presence: Presence;
  bus: CommandBus;
  clock: () => number;
  log: Logger;
  settings: ControlSettings;
  /** Answers that name no command of theirs, kept as rejects (the rejects store and metric, as for bad readings). */
  rejectAcks?: (rs: RejectRecord[]) => Promise<void>;
}) {
  const { store, registry, presence, bus, clock, log, settings } = deps;
  /** Unanswered commands by light, oldest first. */
  const pending = new Map<string, LightCommand[]>();
  const applied = new Map<string, Applied>();
  const campaigns = new Map<string, Campaign>();
  /** Campaign commands not yet sent, in the order they go out. */
  const queue: LightCommand[] = [];
  /**
   * Commands to send again to lights that came back online, and clock syncs: they go out before the campaigns' in the
   * same waves, under the same rate (5,000 lights reconnecting after a power cut are not all sent theirs at once).
   * A command is in it once (`inResend`); bounded by the pending commands.
   */
  const resend: LightCommand[] = [];
  const inResend = new Set<LightCommand>();
  /**
   * The rate limit: when each of the latest sends finished (ascending, at most `ratePerS`). A send starts only while
   * fewer than `ratePerS` finished within the second before, so the broker never gets more than `ratePerS` commands
   * in any second, however late a wave runs or however long a publish takes. (A send counts for a whole second and one
   * millisecond of the clock: the clock's milliseconds are whole, so a send made at 12.9 ms reads 12, and at 1012.0 ms
   * the next would come 999.1 ms after it.)
   */
  const doneAt: number[] = [];
  const allowance = (now: number) => {
    while (doneAt.length > 0 && (doneAt[0] as number) < now - 1000) doneAt.shift();
    return Math.max(0, settings.ratePerS - doneAt.length);
  };
  const noteSent = () => {
    doneAt.push(clock());
    if (doneAt.length > settings.ratePerS) doneAt.shift();
  };
  /** A wave under way (the waves' timer may fire while one still sends). */
  let waving = false;
  /** Each light's profiles with the time it applied each, oldest first (what a past night is judged by). */
  const history = new Map<string, { at: number; profile: Profile }[]>();
  const noteProfile = (p: AppliedProfile) => {
    const parsed = ProfileSchema.safeParse(p.body);
    if (!parsed.success) return;
    const list = history.get(p.deviceId) ?? [];
    list.push({ at: p.at, profile: parsed.data });
    list.sort((a, b) => a.at - b.at);
    history.set(p.deviceId, list);
  };

  const appliedOf = (id: string): Applied =>
    applied.get(id) ?? { deviceId: id, profile: null, override: null, config: null, rejected: null, clockOffsetMs: null, timeSentAt: null };

  /** The profile a light applied, parsed once per answer (the monitor asks at every reading). */
  const parsedProfiles = new Map<string, Profile>();
  const setApplied = (a: Applied) => {
    applied.set(a.deviceId, a);
    parsedProfiles.delete(a.deviceId);
    if (a.profile) {
      const p = ProfileSchema.safeParse(a.profile.body);
      if (p.success) parsedProfiles.set(a.deviceId, p.data);
    }
  };

  const addPending = (c: LightCommand) => {
    const list = pending.get(c.deviceId) ?? [];
    list.push(c);
    pending.set(c.deviceId, list);
  };
  const dropPending = (c: LightCommand) => {
    const list = pending.get(c.deviceId);
    if (!list) return;
    const i = list.indexOf(c);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) pending.delete(c.deviceId);
  };

  /** Validates a command's body for a light, with the light's battery for `config`; the problems as a 422. */
  const validate = (name: LightCommandName, body: unknown, d: DeviceRecord): unknown => {
    const given =
      name === "config" && body && typeof body === "object" ? (body as { battery?: { chemistry: unknown; nominalV: unknown } }).battery : undefined;
    const own = batteryOf(d);
    // the range `lvdV` is checked against is the registered battery's: a caller cannot name another
    if (given && (given.chemistry !== own.chemistry || given.nominalV !== own.nominalV))
      throw invalid(controlMessage("config_battery", { deviceId: d.id }));
    const filled = name === "config" && body && typeof body === "object" ? { ...(body as object), battery: batteryOf(d) } : body;
    const parsed = LIGHT_COMMAND_SCHEMAS[name].safeParse({ id: "check", [name]: filled });
    if (!parsed.success) throw invalid(parsed.error.issues.slice(0, 10).map((i) => issueMessage(i, "body")));
    return (parsed.data as Record<string, unknown>)[name];
  };

  const make = (d: DeviceRecord, name: LightCommandName, body: unknown, by: string, expiresAt: number, campaignId: string | null): LightCommand => ({
    id: `C${randomUUID().replaceAll("-", "").slice(0, 20)}`,
    deviceId: d.id,
    town: d.town,
    campaignId,
    name,
    body,
    state: "created",
    createdBy: by,
    createdAt: clock(),
    sentAt: null,
    sends: 0,
    answeredAt: null,
    expiresAt,
    reason: null,
  });

  /** Publishes a command (the profile retained, so a light that reconnects gets it from the broker too). */
  const publish = async (c: LightCommand) => {
    const at = clock();
    // the time as it leaves, not as it was made: a `time` sent again on reconnect carries the clock of that send
    if (c.name === "time") c.body = { serverMs: at };
    try {
      await bus.command("streetlight", c.deviceId, c.name, { id: c.id, [c.name]: c.body }, { retain: c.name === "profile" });
    } finally {
      noteSent();
    }
    c.state = "sent";
    c.sentAt = at;
    c.sends++;
  };

  /**
   * An older unanswered command of the same kind to the same light is superseded: it expires now (unanswered: no
   * `answeredAt`). True when it was a profile already published (retained on the broker).
   */
  const supersede = (c: LightCommand, changed: LightCommand[]): boolean => {
    let retained = false;
    for (const old of [...(pending.get(c.deviceId) ?? [])]) {
      if (old !== c && old.name === c.name) {
        old.state = "expired";
        old.reason = "superseded";
        if (old.name === "profile" && old.sentAt !== null) retained = true;
        dropPending(old);
        changed.push(old);
      }
    }
    return retained;
  };
  /** Takes a light's retained profile off the broker (an empty retained payload), so a light that reconnects does not get a stale one. */
  const clearRetained = (deviceId: string) =>
    bus
      .command("streetlight", deviceId, "profile", "", { retain: true })
      .catch((e: unknown) => log.warn({ err: e, deviceId }, "could not clear a retained profile"));

  /** Publishes each (`sentAt`: when its publish began); one that fails waits for the light's next reconnect. */
  const sendNow = async (cs: LightCommand[]): Promise<LightCommand[]> => {
    const sent: LightCommand[] = [];
    for (const c of cs) {
      try {
        await publish(c);
        sent.push(c);
      } catch (e: unknown) {
        log.warn({ err: e, deviceId: c.deviceId, command: c.name }, "could not send a command; it is sent again when the light reconnects");
      }
    }
    return sent;
  };

  const heldBy = (c: LightCommand) => {
    if (!c.campaignId) return false;
    const k = campaigns.get(c.campaignId);
    return k?.state !== "running";
  };

  /** Queued for the next waves (once; a light that is not ready by then is queued again when it is). */
  const toResend = (c: LightCommand) => {
    if (inResend.has(c)) return;
    inResend.add(c);
    resend.push(c);
  };
  /**
   * Lights connected to the embedded broker that have not yet subscribed to their commands: what is published now
   * would be lost (a clean session has no subscription before its SUBSCRIBE). Theirs go out when they subscribe to
   * `cmd/#`, or at their first message after connecting (a persistent session that does not subscribe again).
   */
  const awaiting = new Set<string>();
  const ready = (id: string) => presence.isOnline(id) && !awaiting.has(id);

  /** Everything unanswered and not expired goes to a light that is ready again (it answers each id once). */
  const flush = (deviceId: string) => {
    awaiting.delete(deviceId);
    const now = clock();
    const cs = (pending.get(deviceId) ?? []).filter((c) => c.expiresAt > now && !heldBy(c));
    if (cs.length === 0) return;
    // (in the next waves, under the rate limit: 5,000 lights back after a power cut do not get everything at once)
    for (const c of cs) toResend(c);
  };
  /**
   * A light online: connected to the embedded broker, it waits for its SUBSCRIBE; seen first by a message (an external
   * broker, whose subscriptions the service cannot see), it is sent its commands now.
   */
  const onPresence = (ch: PresenceChange) => {
    if (ch.family !== "streetlight") return;
    if (!ch.online) awaiting.delete(ch.deviceId);
    else if (ch.cause === "connected") awaiting.add(ch.deviceId);
    else flush(ch.deviceId);
  };
  const onSubscribed = (s: Subscribed) => {
    const prefix = topics.commandFilter("streetlight", s.deviceId).slice(0, -1);
    if (registry.get(s.deviceId)?.family === "streetlight" && s.filters.some((f) => f.startsWith(prefix))) flush(s.deviceId);
  };
  /** A light's first message after connecting without subscribing (its session kept its subscription). */
  const onReading = (e: { device: DeviceRecord }) => {
    if (awaiting.has(e.device.id)) flush(e.device.id);
  };
  presence.events.on("change", onPresence);
  presence.events.on("subscribed", onSubscribed);

  /**
   * A light's answer (from the write-ahead log, in order), applied to its command and its settings. `known` holds the
   * commands it names that are no longer pending (read from the store): an `applied` to a superseded or expired one
   * (a retained profile the light got on reconnecting) is what the light runs, and is recorded. An answer naming
   * another light's command, an unknown one, or the wrong command name is the reason it returns (kept as a reject).
   */
  const answer = (
    deviceId: string,
    ack: Ack,
    at: number,
    changed: Map<string, LightCommand>,
    appliedChanged: Map<string, Applied>,
    known: Map<string, LightCommand | undefined>,
  ): "ack_unknown_command" | "ack_other_light" | "ack_cmd_mismatch" | null => {
    const list = pending.get(deviceId) ?? [];
    let c = changed.get(ack.id) ?? list.find((x) => x.id === ack.id);
    let a = appliedChanged.get(deviceId) ?? appliedOf(deviceId);
    if (ack.clock !== undefined) a = { ...a, clockOffsetMs: ack.clock - at };
    appliedChanged.set(deviceId, a);
    let late = false;
    if (!c) {
      c = known.get(ack.id);
      if (!c) return "ack_unknown_command";
      if (c.deviceId !== deviceId) return "ack_other_light";
      if (c.name !== ack.cmd) return "ack_cmd_mismatch";
      // answered already (a retained profile applied again after a reconnect), or refused late: nothing new
      if (!(c.state === "expired" && ack.result === "applied")) return null;
      late = true;
    }
    if (c.deviceId !== deviceId) return "ack_other_light";
    if (c.name !== ack.cmd) return "ack_cmd_mismatch";
    if (late || c.state === "created" || c.state === "sent") {
      c.state = ack.result;
      c.answeredAt = at;
      c.reason = ack.result === "rejected" ? (ack.reason ?? "unspecified") : null;
      dropPending(c);
      changed.set(c.id, c);
      if (ack.result === "rejected") a = { ...a, rejected: { commandId: c.id, name: c.name, reason: c.reason ?? "unspecified", at } };
      else if (c.name === "profile") a = { ...a, profile: { commandId: c.id, body: c.body, at } };
      else if (c.name === "config") a = { ...a, config: { commandId: c.id, body: c.body, at } };
      else if (c.name === "override") {
        const o = c.body as { action: "on" | "off" | "dim"; pct?: number; minutes: number };
        a = { ...a, override: { commandId: c.id, action: o.action, pct: o.pct ?? null, from: at, until: at + o.minutes * 60_000 } };
      }
    }
    appliedChanged.set(deviceId, a);
    return null;
  };

  /** The sink that reads the lights' answers from the write-ahead log (checkpointed with them, in one transaction). */
  const sink: Sink = {
    name: "control",
    accepts: (r) => r.kind === "reading" && (r.reading.measurement === "streetlight_ack" || r.reading.measurement === "streetlight_status"),
    checkpoint: () => store.checkpoint(),
    async write(records: WalRecord[], checkpoint: number) {
      const changed = new Map<string, LightCommand>();
      const appliedChanged = new Map<string, Applied>();
      // the commands answered that are no longer pending (rare: read one by one)
      const known = new Map<string, LightCommand | undefined>();
      for (const r of records) {
        if (r.kind !== "reading" || r.reading.measurement !== "streetlight_ack") continue;
        const ack = r.reading.payload as unknown as Ack;
        if (!known.has(ack.id) && !(pending.get(r.reading.deviceId) ?? []).some((x) => x.id === ack.id))
          known.set(ack.id, await store.command(ack.id));
      }
      const bad: RejectRecord[] = [];
      for (const r of records) {
        if (r.kind !== "reading") continue;
        const { deviceId, receivedAt, payload } = r.reading;
        if (r.reading.measurement === "streetlight_status") {
          // a light may put its clock in its status message too (PROTOCOL.md §3a)
          const lightClock = (payload as { clock?: unknown }).clock;
          if (typeof lightClock === "number")
            appliedChanged.set(deviceId, { ...(appliedChanged.get(deviceId) ?? appliedOf(deviceId)), clockOffsetMs: lightClock - receivedAt });
          continue;
        }
        if (r.reading.measurement !== "streetlight_ack") continue;
        const ack = payload as unknown as Ack;
        const why = answer(deviceId, ack, receivedAt, changed, appliedChanged, known);
        if (why !== null) {
          const text = JSON.stringify(payload);
          bad.push({
            seq: r.seq,
            deviceId,
            clientId: null,
            topic: topics.ack(deviceId),
            reason: why,
            detail: controlMessage(why, { id: ack.id, cmd: ack.cmd }),
            payload: text.slice(0, 1024),
            payloadEncoding: "utf8",
            payloadBytes: Buffer.byteLength(text),
            receivedAt,
          });
        }
      }
      if (bad.length > 0 && deps.rejectAcks) await deps.rejectAcks(bad);
      const profiles: AppliedProfile[] = [];
      for (const c of changed.values()) {
        if (c.name === "profile" && c.state === "applied")
          profiles.push({ deviceId: c.deviceId, at: c.answeredAt as number, commandId: c.id, body: c.body });
      }
      await store.writeAnswers([...changed.values()], [...appliedChanged.values()], checkpoint, profiles);
      for (const p of profiles) noteProfile(p);
      for (const a of appliedChanged.values()) setApplied(a);
      for (const a of appliedChanged.values()) syncClock(a);
    },
  };

  /** A light whose clock is off by more than the tolerance gets the time (at most once an hour). */
  const syncClock = (a: Applied) => {
    const now = clock();
    if (a.clockOffsetMs === null || Math.abs(a.clockOffsetMs) <= settings.clockToleranceMs) return;
    if (a.timeSentAt !== null && now - a.timeSentAt < TIME_RESEND_MS) return;
    const d = registry.get(a.deviceId);
    if (d?.family !== "streetlight") return;
    const c = make(d, "time", { serverMs: now }, "service", now + TIME_RESEND_MS, null);
    const next = { ...a, timeSentAt: now };
    setApplied(next);
    const changed = [c];
    supersede(c, changed); // only the newest time waits for a light
    addPending(c);
    // (sent in the next wave, under the rate limit: lights back after a power cut may all have drifted)
    void store
      .writeAnswers(changed, [next], null)
      .then(() => {
        if (ready(d.id)) toResend(c);
      })
      .catch((e: unknown) => log.warn({ err: e, deviceId: d.id }, "could not record a clock sync"));
  };

  /** Takes commands to many lights: written as created, then the direct ones sent at once to the lights online. */
  const create = async (cs: LightCommand[], direct: boolean) => {
    const changed: LightCommand[] = [...cs];
    const stale: string[] = [];
    for (const c of cs) {
      if (supersede(c, changed) && !ready(c.deviceId)) stale.push(c.deviceId);
      addPending(c);
    }
    // a superseded profile already published stays retained on the broker: taken back, so a light that reconnects
    // does not get it before (or, if the new one expires, instead of) the new one
    for (const id of stale) await clearRetained(id);
    if (direct) await sendNow(cs.filter((c) => ready(c.deviceId)));
    else queue.push(...cs);
    await store.writeCommands(changed);
  };

  /**
   * One wave: what the rate limit allows now, commands to lights that came back first, then the campaigns', to lights
   * online; offline ones wait for reconnect.
   */
  const wave = async (): Promise<number> => {
    if (waving || (resend.length === 0 && queue.length === 0)) return 0;
    waving = true;
    try {
      return await waveNow();
    } finally {
      waving = false;
    }
  };
  const waveNow = async (): Promise<number> => {
    const now = clock();
    const allowed = allowance(now);
    const batch: LightCommand[] = [];
    while (resend.length > 0 && batch.length < allowed) {
      const c = resend.shift() as LightCommand;
      inResend.delete(c);
      if ((c.state === "created" || c.state === "sent") && c.expiresAt > now && !heldBy(c) && ready(c.deviceId)) batch.push(c);
    }
    // (a light that came back before its campaign's wave reached it has its command in both lists: sent once)
    const resent = new Set(batch);
    for (let i = 0; i < queue.length && batch.length < allowed; ) {
      const c = queue[i] as LightCommand;
      const k = c.campaignId ? campaigns.get(c.campaignId) : undefined;
      if (c.state !== "created" || !k || k.state === "cancelled" || k.state === "done") {
        queue.splice(i, 1);
        continue;
      }
      if (k.state === "paused") {
        i++;
        continue;
      }
      queue.splice(i, 1);
      if (ready(c.deviceId) && !inResend.has(c) && !resent.has(c)) batch.push(c);
    }
    if (batch.length === 0) return 0;
    const sent = await sendNow(batch);
    await store.writeCommands(sent);
    return sent.length;
  };

  /** Commands past their expiry, unanswered: expired, and a profile's retained message taken back. */
  const expire = async (now = clock()) => {
    const changed: LightCommand[] = [];
    for (const list of [...pending.values()]) {
      for (const c of [...list]) {
        if (c.expiresAt > now) continue;
        c.state = "expired";
        c.answeredAt = now;
        dropPending(c);
        changed.push(c);
        if (c.name === "profile" && !(pending.get(c.deviceId) ?? []).some((x) => x.name === "profile")) {
          // the broker would give the light, when it reconnects, this profile or (unsent) an older one it still
          // retains: an empty retained payload clears it
          await clearRetained(c.deviceId);
        }
      }
    }
    await store.writeCommands(changed);
    return changed.length;
  };

  return {
    sink,
    async load() {
      for (const a of await store.allApplied()) setApplied(a);
      for (const p of await store.profileHistory()) noteProfile(p);
      for (const k of await store.campaigns(1000)) if (k.state === "running" || k.state === "paused") campaigns.set(k.id, k);
      for (const c of await store.pending()) {
        addPending(c);
        if (c.state === "created" && c.campaignId) queue.push(c);
      }
    },
    validate,
    /** Commands to one light or a few, sent at once to those online. */
    async command(ds: readonly DeviceRecord[], name: LightCommandName, body: unknown, by: string, expiresInMs = settings.expiryMs) {
      const checked = ds.map((d) => validate(name, body, d));
      const expiresAt = clock() + expiresInMs;
      const cs = ds.map((d, i) => make(d, name, checked[i], by, expiresAt, null));
      await create(cs, true);
      return cs;
    },
    /** A campaign: its commands, created now and sent in waves (`wave`, every second). */
    async startCampaign(
      k: Omit<Campaign, "id" | "state" | "createdAt" | "lights" | "expiresAt">,
      ds: readonly DeviceRecord[],
      expiresInMs = settings.expiryMs,
    ) {
      const checked = ds.map((d) => validate(k.command.name, k.command.body, d));
      const now = clock();
      const campaign: Campaign = {
        ...k,
        id: `K${randomUUID().replaceAll("-", "").slice(0, 12)}`,
        state: "running",
        createdAt: now,
        expiresAt: now + expiresInMs,
        lights: ds.length,
      };
      await store.putCampaign(campaign);
      campaigns.set(campaign.id, campaign);
      await create(
        ds.map((d, i) => make(d, k.command.name, checked[i], k.createdBy, campaign.expiresAt, campaign.id)),
        false,
      );
      return campaign;
    },
    async setCampaignState(id: string, state: "running" | "paused" | "cancelled") {
      const k = campaigns.get(id) ?? (await store.campaign(id));
      if (!k) return null;
      if (k.state === "cancelled" || k.state === "done") return k;
      k.state = state;
      campaigns.set(id, k);
      if (state === "running") {
        // resumed: its unsent commands go out in the waves again (those of lights that came back while it was paused too)
        const queued = new Set(queue);
        for (const list of pending.values()) for (const c of list) if (c.campaignId === id && c.state === "created" && !queued.has(c)) queue.push(c);
      }
      if (state === "cancelled") {
        const changed: LightCommand[] = [];
        for (const c of queue.filter((x) => x.campaignId === id && x.state === "created")) {
          c.state = "cancelled";
          c.answeredAt = clock();
          dropPending(c);
          changed.push(c);
        }
        for (const list of [...pending.values()]) {
          for (const c of [...list]) {
            if (c.campaignId === id && c.state === "created") {
              c.state = "cancelled";
              c.answeredAt = clock();
              dropPending(c);
              changed.push(c);
            }
          }
        }
        await store.writeCommands(changed);
        campaigns.delete(id);
      }
      await store.putCampaign(k);
      return k;
    },
    /** A campaign's live counts: by state, and of the unanswered, how many wait for a light offline. */
    async campaignStatus(id: string) {
      const k = campaigns.get(id) ?? (await store.campaign(id));
      if (!k) return null;
      const { byState, sent } = await store.countsOf(id);
      if (k.state === "running" && (byState.created ?? 0) + (byState.sent ?? 0) === 0) {
        // every light answered, or its command expired: the campaign is done
        k.state = "done";
        campaigns.delete(id);
        await store.putCampaign(k);
      }
      let waitingOffline = 0;
      let queued = 0;
      for (const list of pending.values()) {
        for (const c of list) {
          if (c.campaignId !== id) continue;
          if (!presence.isOnline(c.deviceId)) waitingOffline++;
          else if (c.state === "created") queued++;
        }
      }
      return {
        campaign: k,
        counts: {
          lights: k.lights,
          sent,
          awaitingAnswer: byState.sent ?? 0,
          queued,
          waitingOffline,
          applied: byState.applied ?? 0,
          rejected: byState.rejected ?? 0,
          expired: byState.expired ?? 0,
          cancelled: byState.cancelled ?? 0,
        },
      };
    },
    campaign: async (id: string) => campaigns.get(id) ?? (await store.campaign(id)),
    campaigns: (limit: number) => store.campaigns(limit),
    /** When each light of a campaign applied its command. */
    appliedIn: (campaignId: string) => store.appliedIn(campaignId),
    list: (q: Parameters<ControlStore["list"]>[0]) => store.list(q),
    wave,
    expire,
    /** What a light applied, for the monitor and the API. */
    applied: (id: string): Applied => appliedOf(id),
    /** The profile a light applied by command, or null (a v1 light, or none sent): it is judged by its registered one. */
    profileOf: (id: string): Profile | null => parsedProfiles.get(id) ?? null,
    /**
     * The profile a light had applied at `t` (the latest it confirmed at or before then), or null when it had none yet:
     * a past night is judged by it, not by the profile the light runs now.
     */
    profileAt(id: string, t: number): Profile | null {
      const list = history.get(id);
      if (!list) return null;
      let found: Profile | null = null;
      for (const e of list) {
        if (e.at > t) break;
        found = e.profile;
      }
      return found;
    },
    /** The retention job's part (docs/DATA.md): finished commands, emptied campaigns and replaced profiles past the retention. */
    async prune(now = clock()) {
      const before = now - settings.commandRetentionMs;
      const done = await store.prune(before);
      for (const [id, list] of history) {
        // as the store: a profile replaced before the cutoff goes; the one in force then stays
        let keepFrom = 0;
        for (let i = 1; i < list.length; i++) if ((list[i] as { at: number }).at <= before) keepFrom = i;
        if (keepFrom > 0) history.set(id, list.slice(keepFrom));
      }
      return done;
    },
    /** The override in force on a light at t, if any. */
    overrideAt(id: string, t: number): { pct: number } | null {
      const o = applied.get(id)?.override;
      if (!o || t < o.from || t >= o.until) return null;
      return { pct: o.action === "off" ? 0 : o.action === "on" ? 100 : (o.pct ?? 100) };
    },
    pendingOf: (id: string): readonly LightCommand[] => pending.get(id) ?? [],
    /** For the pipeline's `reading` event: a light's first message after connecting releases what waits for it. */
    onReading,
    halt() {
      presence.events.off("change", onPresence);
      presence.events.off("subscribed", onSubscribed);
    },
  };
}
export type LightControl = ReturnType<typeof createLightControl>;
