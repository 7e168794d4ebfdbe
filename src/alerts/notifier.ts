import { createHmac, randomUUID } from "node:crypto";
import { z } from "zod";
import { topics } from "../../devices/index.js";
import { type Catalogue, detailFields, type Lang, type Message } from "../platform/i18n.js";
import type { Logger } from "../platform/log.js";
import type { Claim, JobClaims } from "../storage/claims.js";
import type { Alert, AlertEngine, HistoryEntry, Origin } from "./engine.js";
import { alertMessage } from "./messages.js";
import type { AlertStore } from "./store.js";

export const ChannelInputSchema = z
  .object({
    name: z.string().trim().min(1).max(100).default("channel"),
    type: z.enum(["webhook", "dingtalk", "wecom", "mqtt"]),
    url: z.string().url().optional(),
    secret: z.string().min(1).max(200).optional(),
    towns: z.array(z.string().min(1)).min(1).optional(),
    stations: z.array(z.string().min(1)).min(1).optional(),
    lang: z.enum(["zh", "en"]).optional(),
  })
  .refine((c) => c.type === "mqtt" || !!c.url, "hint_channel_url");
export type Channel = z.infer<typeof ChannelInputSchema> & { id: string; createdAt: number };
export const SilenceInputSchema = z
  .object({
    town: z.string().optional(),
    deviceId: z.string().optional(),
    type: z.string().optional(),
    until: z.coerce.date(),
    reason: z.string().trim().min(1).max(500),
  })
  .refine((s) => s.town || s.deviceId || s.type, "hint_silence_scope");
export type Silence = {
  id: string;
  town?: string | undefined;
  deviceId?: string | undefined;
  type?: string | undefined;
  until: number;
  reason: string;
  by: string;
};
export type Delivery = {
  id: string;
  channelId: string;
  kind: "fired" | "resolved" | "reminder" | "digest";
  alertIds: string[];
  text: string;
  status: "pending" | "sent" | "failed";
  attempts: number;
  lastError: string | null;
  createdAt: number;
  sentAt: number | null;
};

export type NotifierOptions = { groupMs: number; remindMs: number; maxAttempts: number; lang: Lang };
export const DEFAULT_NOTIFY: NotifierOptions = { groupMs: 60_000, remindMs: 2 * 3600_000, maxAttempts: 8, lang: "zh" };

/**
 * Sends alerts to the channels that cover their town or station: new alerts of one scope that start close
 * together go out as one message; a reminder repeats what is still unacknowledged; a note follows a resolution.
 * Held-back and silenced alerts are not sent. Delivery is off the ingest path (timers), retried with backoff,
 * and every attempt is recorded.
 */
export function createNotifier(deps: {
  engine: AlertEngine;
  store: AlertStore;
  clock: () => number;
  log: Logger;
  /** Renders the messages in each channel's language (src/messages.ts). */
  messages: Catalogue;
  options?: Partial<NotifierOptions>;
  publish: (topic: string, body: unknown) => Promise<void>;
  /** A station's name, for the texts people read (the station's id when it has none). */
  stationName?: (id: string) => string | undefined;
  metrics?: { sent: (type: string) => void; failed: (type: string) => void };
  fetchImpl?: typeof fetch;
  /**
   * Claims in the state store (issue 18): a reminder of an alert on a channel is sent by the one instance that claims
   * it; several instances share the alerts, and each would find it due.
   */
  claims?: JobClaims;
  /** A shared store only: tells the other instances that channels or silences changed (they `load()` again). */
  settingsChanged?: (() => Promise<unknown>) | undefined;
}) {
  const o = { ...DEFAULT_NOTIFY, ...deps.options };
  const { engine, store, clock, log } = deps;
  const doFetch = deps.fetchImpl ?? fetch;
  let channels: Channel[] = [];
  /** Silences in force: an expired one is dropped at the next tick (its row stays in the store). */
  let silences: Silence[] = [];
  /** Groups waiting for their window: one per channel, kind and town or station; each is sent (and leaves) after groupMs. */
  const pending = new Map<string, { channel: Channel; kind: "fired" | "resolved"; alerts: Alert[]; first: number }>();
  /** When each firing alert was last recalled on each channel: `${channel}|${alert}`, dropped once the alert is no longer firing. */
  const lastReminder = new Map<string, number>();
  /** Failed deliveries to try again, with their alerts (a resolved one may have left the engine). Each leaves after maxAttempts. */
  let retries: { d: Delivery; channel: Channel; alerts: Alert[]; due: number }[] = [];

  const covers = (c: Channel, a: Alert) =>
    (!c.towns && !c.stations) ||
    (!!c.towns && !!a.town && c.towns.includes(a.town)) ||
    (!!c.stations && !!a.station && c.stations.includes(a.station));
  const silenced = (a: Alert, now: number) =>
    silences.some(
      (s) => s.until > now && (!s.town || s.town === a.town) && (!s.deviceId || s.deviceId === a.deviceId) && (!s.type || s.type === a.type),
    );
  const quiet = (a: Alert, now: number) => a.suppressedBy !== null || silenced(a, now);

  // Removed by stop().
  // (a change made on another instance is that instance's to send: each alert fires and resolves on one)
  const onChange = (a: Alert, e: HistoryEntry, origin: Origin = "here") => {
    if (origin !== "here" || (e.action !== "fired" && e.action !== "resolved")) return;
    const now = clock();
    if (quiet(a, now)) return;
    for (const c of channels) {
      if (!covers(c, a)) continue;
      const k = `${c.id}|${e.action}|${a.station ?? a.town ?? ""}`;
      const g = pending.get(k) ?? { channel: c, kind: e.action, alerts: [], first: now };
      g.alerts.push(a);
      pending.set(k, g);
    }
  };
  engine.events.on("change", onChange);

  const lang = (c: Channel) => c.lang ?? o.lang;
  const render = (c: Channel) => deps.messages.in(lang(c));
  const line = (a: Alert): Message =>
    alertMessage("alert_line", {
      type: a.type,
      where: [a.town, a.village, a.station && (deps.stationName?.(a.station) ?? a.station)].filter(Boolean).join(" "),
      deviceId: a.deviceId,
      detail: a.detail,
      since: new Date(a.since).toISOString(),
    });
  const title = (kind: Delivery["kind"], count: number): Message =>
    kind === "digest"
      ? alertMessage("digest_title", {})
      : alertMessage(kind === "fired" ? "alerts_fired" : kind === "resolved" ? "alerts_resolved" : "alerts_reminder", { count });

  async function send(c: Channel, d: Delivery, alerts: Alert[]): Promise<void> {
    // What chat lists preview: the first line as plain text, without its markdown marks (### 新告警 2 条 → 新告警 2 条).
    const [first = "", ...rest] = d.text.split("\n");
    const heading = first.replace(/^\s*(#{1,6}\s+|>\s*)/, "").replace(/\*\*/g, "");
    const timeout = AbortSignal.timeout(10_000);
    const post = async (url: string, body: unknown, headers: Record<string, string> = {}) => {
      const json = JSON.stringify(body);
      const res = await doFetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: json, signal: timeout });
      const text = await res.text();
      if (!res.ok) throw new Error(`${res.status} ${text.slice(0, 200)}`);
      // DingTalk and WeCom answer 200 with an error code in the body
      if ((c.type === "dingtalk" || c.type === "wecom") && /"errcode":\s*[1-9]/.test(text)) throw new Error(text.slice(0, 200));
    };
    if (c.type === "webhook") {
      const body = {
        kind: d.kind,
        text: d.text,
        alerts: alerts.map((a) => ({
          id: a.id,
          deviceId: a.deviceId,
          type: a.type,
          severity: a.severity,
          state: a.state,
          town: a.town,
          village: a.village,
          station: a.station,
          since: new Date(a.since).toISOString(),
          ...detailFields(render(c), a.detail),
        })),
      };
      const ts = String(clock());
      const json = JSON.stringify(body);
      // X-Agrilume-Signature: hex HMAC-SHA256 over "<timestamp>.<body>" with the channel's secret (README, "Alerts")
      const sig = c.secret ? createHmac("sha256", c.secret).update(`${ts}.${json}`).digest("hex") : undefined;
      const res = await doFetch(c.url ?? "", {
        method: "POST",
        headers: { "content-type": "application/json", "x-agrilume-timestamp": ts, ...(sig ? { "x-agrilume-signature": `sha256=${sig}` } : {}) },
        body: json,
        signal: timeout,
      });
      if (!res.ok) throw new Error(`${res.status} ${(await res.text()).slice(0, 200)}`);
    } else if (c.type === "dingtalk") {
      // DingTalk custom robot signing: sign = urlencode(base64(HMAC-SHA256(secret, timestamp + "\n" + secret)))
      let url = c.url ?? "";
      if (c.secret) {
        const ts = String(clock());
        const sign = createHmac("sha256", c.secret).update(`${ts}\n${c.secret}`).digest("base64");
        url += `${url.includes("?") ? "&" : "?"}timestamp=${ts}&sign=${encodeURIComponent(sign)}`;
      }
      await post(url, { msgtype: "markdown", markdown: { title: heading, text: d.text } });
    } else if (c.type === "wecom") {
      // WeCom has no title: the content's first line is what the chat list shows, so it is plain text
      await post(c.url ?? "", { msgtype: "markdown", markdown: { content: [heading, ...rest].join("\n") } });
    } else {
      for (const a of alerts)
        await deps.publish(topics.alert(a.town ?? a.station, a.type), {
          id: a.id,
          deviceId: a.deviceId,
          type: a.type,
          severity: a.severity,
          state: a.state,
          since: new Date(a.since).toISOString(),
          ...detailFields(render(c), a.detail),
          kind: d.kind,
        });
    }
  }

  async function deliver(c: Channel, d: Delivery, alerts: Alert[]) {
    d.attempts++;
    try {
      await send(c, d, alerts);
      d.status = "sent";
      d.sentAt = clock();
      d.lastError = null;
      deps.metrics?.sent(c.type);
    } catch (e: unknown) {
      d.lastError = failure(e);
      deps.metrics?.failed(c.type);
      if (d.attempts >= o.maxAttempts) d.status = "failed";
      else retries.push({ d, channel: c, alerts, due: clock() + Math.min(300_000, 1000 * 2 ** (d.attempts - 1)) });
      log.warn({ channel: c.id, attempts: d.attempts, err: d.lastError }, "alert delivery failed");
    }
    await store.putDelivery(d.id, c.id, d).catch((e: unknown) => log.warn({ err: e }, "could not record a delivery"));
  }

  /**
   * `once`: the delivery's id, the same on every instance, and the job's claim: the delivery is recorded (pending)
   * before it is sent, only while the claim is still this instance's and only if no instance recorded it first; so a
   * holder whose claim was taken over, or that stalled after recording it, never sends it a second time.
   */
  const enqueue = async (c: Channel, kind: Delivery["kind"], alerts: Alert[], text?: Message, once?: { id: string; claim: Claim }) => {
    const r = render(c);
    const d: Delivery = {
      id: once?.id ?? randomUUID(),
      channelId: c.id,
      kind,
      alertIds: alerts.map((a) => a.id),
      status: "pending",
      attempts: 0,
      lastError: null,
      createdAt: clock(),
      sentAt: null,
      text: text ? r(text) : [`### ${r(title(kind, alerts.length))}`, ...alerts.map((a) => r(line(a)))].join("\n"),
    };
    if (once && !(await store.claimDelivery(d.id, c.id, d, once.claim))) return;
    return deliver(c, d, alerts);
  };

  return {
    async load() {
      channels = await store.channels<Channel>();
      const now = clock();
      silences = (await store.silences<Silence>()).filter((s) => s.until > now);
    },
    channels: () => channels,
    async addChannel(input: z.infer<typeof ChannelInputSchema>) {
      const c: Channel = { ...input, id: randomUUID(), createdAt: clock() };
      await store.putChannel(c.id, c);
      channels.push(c);
      await deps.settingsChanged?.();
      return c;
    },
    /** Nothing more goes to a removed channel: its grouped alerts are dropped and its retries end as failed. */
    async removeChannel(id: string) {
      await store.deleteChannel(id);
      await deps.settingsChanged?.();
      const before = channels.length;
      channels = channels.filter((c) => c.id !== id);
      for (const [k, g] of pending) if (g.channel.id === id) pending.delete(k);
      for (const k of lastReminder.keys()) if (k.startsWith(`${id}|`)) lastReminder.delete(k);
      const ended = retries.filter((r) => r.channel.id === id);
      retries = retries.filter((r) => r.channel.id !== id);
      for (const r of ended) {
        r.d.status = "failed";
        r.d.lastError = "channel_removed";
        await store.putDelivery(r.d.id, id, r.d).catch((e: unknown) => log.warn({ err: e }, "could not record a delivery"));
      }
      return channels.length < before;
    },
    deliveries: (channelId: string, limit: number) => store.deliveries<Delivery>(channelId, limit),
    silences: () => silences.filter((s) => s.until > clock()),
    async addSilence(input: z.infer<typeof SilenceInputSchema>, by: string) {
      const s: Silence = {
        id: randomUUID(),
        town: input.town,
        deviceId: input.deviceId,
        type: input.type,
        until: input.until.getTime(),
        reason: input.reason,
        by,
      };
      await store.putSilence(s.id, s);
      silences.push(s);
      await deps.settingsChanged?.();
      return s;
    },
    async removeSilence(id: string) {
      await store.deleteSilence(id);
      silences = silences.filter((s) => s.id !== id);
      await deps.settingsChanged?.();
    },
    /** Sends what is due: groups whose window has passed, reminders, retries. Called on a timer (and by tests with fake time). */
    async tick() {
      const now = clock();
      const work: Promise<void>[] = [];
      silences = silences.filter((s) => s.until > now);
      for (const k of lastReminder.keys()) {
        const [channelId, alertId] = k.split("|");
        if (engine.get(alertId ?? "")?.state !== "firing" || !channels.some((c) => c.id === channelId)) lastReminder.delete(k);
      }
      for (const [k, g] of pending) {
        if (now - g.first < o.groupMs) continue;
        pending.delete(k);
        // (a new alert that lost to another instance's for the same problem has left the engine: that one is sent there)
        const still = g.alerts.filter((a) => !quiet(a, now) && (g.kind === "resolved" || (a.state !== "resolved" && engine.get(a.id) === a)));
        if (still.length > 0) work.push(enqueue(g.channel, g.kind, still));
      }
      for (const c of channels) {
        const due = engine
          .list()
          .filter(
            (a) =>
              a.state === "firing" &&
              covers(c, a) &&
              !quiet(a, now) &&
              now - a.since >= o.remindMs &&
              now - (lastReminder.get(`${c.id}|${a.id}`) ?? a.since) >= o.remindMs,
          );
        if (due.length === 0) continue;
        for (const a of due) lastReminder.set(`${c.id}|${a.id}`, now);
        work.push(
          (async () => {
            // the n-th reminder of an alert on a channel goes out from the instance that claims it first
            const mine: Alert[] = [];
            for (const a of due)
              if (!deps.claims || (await deps.claims.once("reminder", `${c.id}/${a.id}/${Math.floor((now - a.since) / o.remindMs)}`))) mine.push(a);
            if (mine.length > 0) await enqueue(c, "reminder", mine);
          })(),
        );
      }
      const due = retries.filter((x) => x.due <= now);
      retries = retries.filter((x) => x.due > now);
      for (const r of due) work.push(deliver(r.channel, r.d, r.alerts));
      await Promise.all(work);
    },
    /** What it holds in memory (each bounded: see the declarations above). */
    held: () => ({ pending: pending.size, reminders: lastReminder.size, silences: silences.length, retries: retries.length }),
    /** Stops following the engine (deliveries under way belong to tick() and sendMessage(), whose callers wait for them). */
    stop() {
      engine.events.off("change", onChange);
    },
    /**
     * A message of its own to the channels covering a town (the morning digest), in each channel's language. With
     * `once`, each channel's delivery has the id `${once.id}/${channel}` and is sent only under the job's claim (see enqueue).
     */
    async sendMessage(town: string, kind: Delivery["kind"], message: Message, alerts: Alert[], once?: { id: string; claim: Claim }) {
      await Promise.all(
        channels
          .filter((c) => (!c.towns && !c.stations) || c.towns?.includes(town))
          .map((c) => enqueue(c, kind, alerts, message, once && { id: `${once.id}/${c.id}`, claim: once.claim })),
      );
    },
  };
}
export type Notifier = ReturnType<typeof createNotifier>;

/**
 * Why a delivery failed, as its channel's owner can act on it: Node's fetch says only "fetch failed" and keeps the
 * reason in its cause (ECONNREFUSED 10.0.0.5:8080, a certificate, a name that does not resolve), so that is added.
 */
export function failure(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const cause = e.cause as (Error & { code?: string }) | undefined;
  if (!cause) return e.message;
  const why = cause.code && !cause.message.includes(cause.code) ? `${cause.code}: ${cause.message}` : (cause.message ?? String(cause));
  return `${e.message} (${why})`;
}
