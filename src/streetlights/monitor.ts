import { EventEmitter } from "node:events";
import type { StreetlightTelemetry } from "../../devices/index.js";
import type { AcceptedReading } from "../ingest/pipeline.js";
import type { Presence, PresenceChange } from "../ingest/presence.js";
import { chinaDayStart } from "../platform/clock.js";
import type { Logger } from "../platform/log.js";
import type { Registry } from "../registry/registry.js";
import type { DeviceRecord } from "../registry/store.js";
import type { DashboardPoint } from "../storage/dashboard-points.js";
import type { TelemetryStore } from "../storage/telemetry-store.js";
import { BAND_MS, DEFAULT_PROFILE, distanceM, localDate, nightAround, nightOf, type Profile, ProfileSchema } from "./expectation.js";
import { streetlightMessage as msg, type StreetlightMessage } from "./messages.js";
import { computeNight, flagChargeFaults, type NightRecord } from "./nightly.js";
import { CONDITIONS, type Condition, initialState, type LightInfo, type LightState, type NeighbourView, step } from "./rules.js";
import type { NightStore } from "./store.js";

/** Neighbours: lights of the same village within this distance (proposal: about 20 poles either side at 52 m). */
export const NEIGHBOUR_M = 1000;
/** At most this many of them, the nearest: about 20 poles either side (as above). Bounds the work and the index where
 * lights stand closer together (a village square, or a registry with every light at one point). */
export const NEIGHBOUR_MAX = 40;
/** A neighbour's reading counts for this long around the time judged. */
const NEIGHBOUR_FRESH_MS = 30 * 60_000;
/** Readings read back at start to restore each light's live state (monitor.restore): an hour is 12 readings at the
 * 5-minute interval, more than the 10-minute latch of an anomaly needs. */
export const RESTORE_MS = 3600_000;
/** Nights looked back over by the nightly job (it catches up after downtime). */
const NIGHTS_BACK = 3;

type Recent = { ts: number; pvW: number; lit: boolean };

/**
 * Live condition of every light (rules.ts, at the readings' own timestamps), with its neighbours'
 * recent readings to tell weather from faults; and after each dawn, the nightly records.
 */
export function createStreetlightMonitor(deps: {
  registry: Registry;
  presence: Presence;
  telemetry: TelemetryStore;
  nights: NightStore;
  clock: () => number;
  reportIntervalMs: number;
  log: Logger;
  /** The highest write-ahead log seq that every store holds: a reading with a higher seq is accepted but not yet queryable. */
  storedSeq: () => number;
  /** Points for dashboards (src/storage/dashboard-points.ts). */
  writeDashboardPoints?: (points: DashboardPoint[]) => Promise<void> | void;
  /**
   * What each light applied by command (src/control): it is judged by that profile and override, not its registered
   * one; a past night by the profile it had applied then (`profileAt`).
   */
  control?: {
    profileOf: (id: string) => Profile | null;
    profileAt: (id: string, t: number) => Profile | null;
    overrideAt: (id: string, t: number) => { pct: number } | null;
  };
  /** Every device that has ever connected (presence history), and how long after installation a silent light is a problem. */
  neverReported?: { seen: () => Promise<Set<string>>; graceMs: number };
}) {
  const { registry, presence, telemetry, nights, clock, log } = deps;
  const writeDashboardPoints = deps.writeDashboardPoints ?? (() => undefined);
  /** Fire-and-forget, from the reading path: a point that cannot be written is logged, never an unhandled rejection. */
  const pushPoints = (points: DashboardPoint[]) =>
    Promise.resolve()
      .then(() => writeDashboardPoints(points))
      .catch((e: unknown) => log.warn({ err: e }, "could not write dashboard points"));
  /** Live state per light that reported: bounded by the registry (only registered devices' readings arrive; none is deleted). */
  const states = new Map<string, LightState>();
  /** Each change of a light's condition (alerts listen). */
  const events = new EventEmitter<{ condition: [deviceId: string, condition: Condition, detail: StreetlightMessage | null, at: number] }>();
  /**
   * The time of each light's newest condition point: a dashboard reads a light's condition as its newest point, so a
   * point is never stamped before the one it replaces. Bounded by the registry, as `states`.
   */
  const pointAt = new Map<string, number>();
  /**
   * A light's condition for dashboards (the map, the fault pie), stamped at the time of the reading that decided it
   * (or of the presence change), or 1 ms after the light's previous point when that is later (a late reading that
   * changes the live state, after the light came back online): the newest point is always what the API says.
   */
  const conditionPoint = (d: DeviceRecord, condition: Condition, online: boolean, at: number): DashboardPoint => {
    const prev = pointAt.get(d.id);
    const ts = prev !== undefined && at <= prev ? prev + 1 : at;
    pointAt.set(d.id, ts);
    return {
      measurement: "streetlight_condition",
      tags: { device: d.id, town: d.town ?? "", village: d.village ?? "" },
      fields: { condition, code: CONDITIONS.indexOf(condition), online: online ? 1 : 0, lat: d.lat ?? 0, lon: d.lon ?? 0 },
      ts,
    };
  };
  // Going offline is a condition change too (silence is judged on the server clock). Coming back online, the light's
  // known condition holds until a reading says otherwise. A light whose condition is not known yet is no longer offline
  // (alerts hear it, as the API's `off` with no reading yet), but the dashboards get no point until its first reading
  // decides one: never a made-up `off`. Removed by halt().
  const onPresence = (c: PresenceChange) => {
    const d = registry.get(c.deviceId);
    if (d?.family !== "streetlight") return;
    if (c.online) {
      const s = states.get(d.id);
      if (!s) {
        events.emit("condition", d.id, "off", msg("no_reading_yet", {}), c.at);
        return;
      }
      void pushPoints([conditionPoint(d, s.condition, true, c.at)]);
      events.emit("condition", d.id, s.condition, s.detail, c.at);
      return;
    }
    void pushPoints([conditionPoint(d, "offline", false, c.at)]);
    events.emit("condition", d.id, "offline", msg("light_silent", { cause: c.cause }), c.at);
  };
  presence.events.on("change", onPresence);
  /** Each light's latest reading, for its neighbours' rules: bounded likewise. */
  const recent = new Map<string, Recent>();
  const noteRecent = (id: string, ts: number, body: StreetlightTelemetry) => {
    const last = recent.get(id);
    if (!last) recent.set(id, { ts, pvW: body.pv.w, lit: body.load.on && body.load.w > 0 });
    else if (last.ts <= ts) {
      last.ts = ts;
      last.pvW = body.pv.w;
      last.lit = body.load.on && body.load.w > 0;
    }
  };
  /** Each light's neighbours, once asked for: bounded likewise, and emptied when the registry changes size. */
  let neighbourIndex: { size: number; byId: Map<string, string[]> } = { size: -1, byId: new Map() };
  /**
   * Nights that have ended but received readings since (buffered data): their records are computed again, once the
   * store holds those readings (by light: the seq of its latest such reading; a pass before that would read a part
   * of them, or none, and drop the mark). At most one entry per night of the 60 days a reading may be late
   * (devices/decode.ts), each with at most every registered light; each nightly pass (every 5 minutes) takes them out.
   */
  const stale = new Map<string, Map<string, number>>();

  // Per attributes object (the registry shares one among lights with the same attributes), so a reading
  // does not parse the profile again, and a large registry does not hold an entry per light.
  const parsed = new WeakMap<object, { lampW: number | null; profile: Profile }>();
  const registered = (d: DeviceRecord) => {
    let a = parsed.get(d.attrs);
    if (!a) {
      const p = ProfileSchema.safeParse(d.attrs.profile);
      a = { lampW: typeof d.attrs.lampW === "number" ? d.attrs.lampW : null, profile: p.success ? p.data : DEFAULT_PROFILE };
      parsed.set(d.attrs, a);
    }
    return a;
  };
  /**
   * What a light is judged by, per device record (a record is replaced when the device changes), made again only when
   * the profile it applied by command changes: every reading asks for it, and a new object with a new closure each time
   * was garbage on the reading path (under tsx a closure made in an object literal is named by a helper each time: 1 %
   * of the service's thread, docs/BENCHMARKS.md). The override is read live through the closure.
   */
  const infos = new WeakMap<DeviceRecord, LightInfo>();
  const info = (d: DeviceRecord): LightInfo => {
    const a = registered(d);
    const control = deps.control;
    const profile = control?.profileOf(d.id) ?? a.profile;
    let i = infos.get(d);
    if (i === undefined || i.profile !== profile || i.lampW !== a.lampW) {
      i = control
        ? { lat: d.lat ?? 0, lon: d.lon ?? 0, lampW: a.lampW, profile, overrideAt: overrideOf(control, d.id) }
        : { lat: d.lat ?? 0, lon: d.lon ?? 0, lampW: a.lampW, profile };
      infos.set(d, i);
    }
    return i;
  };
  const overrideOf =
    (control: NonNullable<typeof deps.control>, id: string) =>
    (t: number): { pct: number } | null =>
      control.overrideAt(id, t);
  /**
   * The profile a light is judged by on the night of `date`: the one it had applied at that night's dusk (a profile
   * applied later, today's too, does not change how an earlier night is judged), else its registered one.
   */
  const profileOf = (d: DeviceRecord, date: string): Profile => {
    const control = deps.control;
    if (!control) return info(d).profile;
    const dusk = nightOf(date, d.lat as number, d.lon as number, DEFAULT_PROFILE).dusk;
    return control.profileAt(d.id, dusk) ?? registered(d).profile;
  };

  /** The nearest NEIGHBOUR_MAX of the same village within NEIGHBOUR_M, computed once per light (and again if the registry grows). */
  const neighboursOf = (id: string): string[] => {
    if (neighbourIndex.size !== registry.size()) neighbourIndex = { size: registry.size(), byId: new Map() };
    let near = neighbourIndex.byId.get(id);
    if (!near) {
      const a = registry.get(id);
      const here = a?.lat == null || a.lon == null ? null : { lat: a.lat, lon: a.lon };
      near =
        a && here
          ? registry
              .village("streetlight", a.town, a.village)
              .flatMap((b) =>
                b.id === a.id || b.lat === null || b.lon === null ? [] : [{ id: b.id, m: distanceM(here, { lat: b.lat, lon: b.lon }) }],
              )
              .filter((b) => b.m <= NEIGHBOUR_M)
              .sort((x, y) => x.m - y.m)
              .slice(0, NEIGHBOUR_MAX)
              .map((b) => b.id)
          : [];
      neighbourIndex.byId.set(id, near);
    }
    return near;
  };
  const neighbourView = (id: string, ts: number): NeighbourView => {
    const v = { reporting: 0, charging: 0, lit: 0 };
    for (const n of neighboursOf(id)) {
      const r = recent.get(n);
      if (!r || Math.abs(r.ts - ts) > NEIGHBOUR_FRESH_MS) continue;
      v.reporting++;
      if (r.pvW >= 5) v.charging++;
      if (r.lit) v.lit++;
    }
    return v;
  };

  const conditionOf = (d: DeviceRecord): { condition: Condition; since: string | null; detail: StreetlightMessage | null } => {
    const p = presence.get(d.id);
    const s = states.get(d.id);
    if (!p?.online)
      return {
        condition: "offline",
        since: p ? new Date(p.since).toISOString() : null,
        detail: p ? msg("silent_since", { lastSeen: new Date(p.lastSeen ?? p.since).toISOString() }) : msg("never_reported", {}),
      };
    if (!s) return { condition: "off", since: null, detail: msg("no_reading_yet", {}) };
    return { condition: s.condition, since: new Date(s.since).toISOString(), detail: s.detail };
  };

  const markStale = (date: string, id: string, seq: number) => {
    let m = stale.get(date);
    if (!m) {
      m = new Map();
      stale.set(date, m);
    }
    m.set(id, Math.max(seq, m.get(id) ?? 0));
  };

  const villageOf = (id: string) => {
    const d = registry.get(id);
    return d ? `${d.town}/${d.village}` : null;
  };
  /** Lights in chunks of about `size`, a village never split between two (its charge faults are judged together). */
  const byVillages = (lights: DeviceRecord[], size: number): DeviceRecord[][] => {
    const villages = new Map<string, DeviceRecord[]>();
    for (const d of lights) {
      const k = villageOf(d.id) ?? "";
      const list = villages.get(k);
      if (list) list.push(d);
      else villages.set(k, [d]);
    }
    const chunks: DeviceRecord[][] = [];
    let current: DeviceRecord[] = [];
    for (const list of villages.values()) {
      if (current.length > 0 && current.length + list.length > size) {
        chunks.push(current);
        current = [];
      }
      current.push(...list);
    }
    if (current.length > 0) chunks.push(current);
    return chunks;
  };

  /** Lights settled: known to have connected once, or said to have never reported (once per start; the alert engine keeps one open alert). Bounded by the registry. */
  const saidNever = new Set<string>();
  /**
   * A registered light that never connected is a phantom until proven otherwise (issue 20 #5): past its installation
   * day (or registration) plus the grace period, it is `offline` with the reason, which opens an alert. Its first
   * connect clears it as any offline light's does.
   */
  async function checkNeverReported(now: number): Promise<number> {
    const never = deps.neverReported;
    if (!never) return 0;
    // Lights past their grace that are not online and not said yet; the presence history is read only when there are some.
    const due: { d: DeviceRecord; installed: number }[] = [];
    for (const d of registry.list({ family: "streetlight" })) {
      if (saidNever.has(d.id) || presence.isOnline(d.id)) continue;
      const installed = typeof d.attrs.installedOn === "string" ? chinaDayStart(d.attrs.installedOn) : d.createdAt;
      if (now - Math.max(d.createdAt, installed) >= never.graceMs) due.push({ d, installed });
    }
    if (due.length === 0) return 0;
    const seen = await never.seen();
    let said = 0;
    for (const { d, installed } of due) {
      saidNever.add(d.id); // settled either way: it connected once, or it is said now
      if (seen.has(d.id)) continue;
      said++;
      events.emit("condition", d.id, "offline", msg("never_reported", { since: installed }), now);
    }
    return said;
  }

  let nightlyRun: Promise<number> | null = null;
  /** Set on stop: a long pass (a large registry) ends after its current chunk instead of holding up the shutdown. */
  let halted = false;
  async function nightlyPass(now: number): Promise<number> {
    let written = 0;
    const recentDates = Array.from({ length: NIGHTS_BACK }, (_, k) => localDate(now - (NIGHTS_BACK - k) * 86_400_000));
    for (const date of [...new Set([...recentDates, ...stale.keys()])].sort()) {
      const done = await nights.recordedOn(date);
      // Listed with the marks taken, no await between: a light registered during a pass has its marks kept for the next.
      const lights = registry.list({ family: "streetlight" }).filter((d) => d.lat !== null && d.lon !== null);
      const marks = stale.get(date) ?? new Map<string, number>();
      stale.delete(date);
      const stored = deps.storedSeq();
      const redo = new Set<string>();
      for (const [id, seq] of marks) {
        if (seq <= stored) redo.add(id);
        else markStale(date, id, seq); // not in the store yet: the next run
      }
      const due: DeviceRecord[] = [];
      for (let i = 0; i < lights.length; i++) {
        // (a district's first pass after a start works out each light's night: in slices, so PUBACKs go out between)
        if (i > 0 && i % 2000 === 0) await new Promise((r) => setImmediate(r));
        const d = lights[i] as DeviceRecord;
        if (stale.get(date)?.has(d.id)) continue;
        if (done.has(d.id) && !redo.has(d.id)) continue;
        const n = nightOf(date, d.lat as number, d.lon as number, profileOf(d, date));
        if (n.end + BAND_MS + 5 * 60_000 <= now) due.push(d);
      }
      for (const chunk of byVillages(due, 500)) {
        if (halted) {
          for (const id of redo) markStale(date, id, marks.get(id) ?? 0); // recomputed by the next run
          return written;
        }
        const any = chunk[0] as DeviceRecord;
        const ref = nightOf(date, any.lat as number, any.lon as number, DEFAULT_PROFILE);
        const rows = await telemetry.rawMany({
          deviceIds: chunk.map((d) => d.id),
          measurement: "streetlight_telemetry",
          from: ref.dusk - 15 * 3600_000,
          to: ref.dawn + 2 * 3600_000,
        });
        // A night counts for a light registered before it began, or that reported during it.
        const records: NightRecord[] = chunk
          .filter((d) => {
            const n = nightOf(date, d.lat as number, d.lon as number, profileOf(d, date));
            return d.createdAt < n.start || (rows.get(d.id) ?? []).some((x) => x.ts >= n.start && x.ts < n.end);
          })
          .map((d) =>
            computeNight({
              deviceId: d.id,
              night: nightOf(date, d.lat as number, d.lon as number, profileOf(d, date)),
              lampW: info(d).lampW,
              profile: profileOf(d, date),
              maxGapMs: 2 * deps.reportIntervalMs,
              readings: (rows.get(d.id) ?? []).map((x) => ({ ...(x.payload as unknown as StreetlightTelemetry), ts: x.ts })),
            }),
          );
        // The village's other lights count too: their records of this night already stored (a light computed again
        // alone, after a late reading, gets the answer the first pass gave it beside them).
        const mine = new Set(chunk.map((d) => d.id));
        const others = [...new Set(chunk.map((d) => villageOf(d.id)))].flatMap((v) => {
          const one = chunk.find((d) => villageOf(d.id) === v);
          return one ? registry.village("streetlight", one.town, one.village).filter((d) => !mine.has(d.id)) : [];
        });
        flagChargeFaults(
          records,
          villageOf,
          others.length > 0
            ? await nights.on(
                date,
                others.map((d) => d.id),
              )
            : [],
        );
        await nights.write(records);
        written += records.length;
        await writeDashboardPoints(
          records.map((rec) => {
            const d = registry.get(rec.deviceId);
            return {
              measurement: "streetlight_night" as const,
              tags: { device: rec.deviceId, town: d?.town ?? "", village: d?.village ?? "" },
              fields: {
                lit: rec.classification === "lit" ? 1 : 0,
                litMin: rec.litMin,
                expectedMin: rec.expectedMin,
                loadWh: rec.loadWh,
                pvWh: rec.pvWhDayBefore ?? 0,
                classification: rec.classification,
              },
              ts: Date.parse(rec.dusk),
            };
          }),
        );
      }
    }
    if (written > 0) log.info({ written }, "nightly records written");
    return written;
  }

  return {
    events,
    onReading(r: AcceptedReading) {
      if (r.message.family !== "streetlight" || r.message.kind !== "telemetry") return;
      const reported = r.message.body as StreetlightTelemetry;
      const body = reported.ts === r.ts ? (reported as StreetlightTelemetry & { ts: number }) : { ...reported, ts: r.ts };
      const i = info(r.device);
      const known = states.get(r.device.id);
      const prev = known ?? initialState(r.ts);
      const next = step(prev, body, i, () => neighbourView(r.device.id, r.ts));
      states.set(r.device.id, next);
      if (next.condition !== prev.condition || next.since !== prev.since) {
        void pushPoints([conditionPoint(r.device, next.condition, true, r.ts)]);
        events.emit("condition", r.device.id, next.condition, next.detail, next.since);
      } else if (!known && next.instant === next.condition) {
        // The first reading of a light not known yet says `off` itself: the dashboards hear it (an anomaly not latched
        // yet leaves the initial `off`, which no reading said: nothing is written).
        void pushPoints([conditionPoint(r.device, next.condition, true, r.ts)]);
      }
      noteRecent(r.device.id, r.ts, body);
      // A reading for a night that has already ended (afternoon readings count for that evening's night).
      const n = nightAround(r.ts, i.lat, i.lon, i.profile);
      if (n.end + BAND_MS + 5 * 60_000 <= clock()) markStale(n.date, r.device.id, r.seq);
    },
    conditionOf,
    /** The time of a light's newest reading applied to its live state (null before its first). */
    lastReadingAt: (id: string): number | null => states.get(id)?.lastTs ?? null,
    /**
     * After a restart: every light's live state, from its readings of the last RESTORE_MS in the store, applied in
     * time order as they came (neighbours included), so the API and the dashboards say the last known condition, not
     * the initial `off`. A condition that began before that window keeps its condition with `since` at most that old.
     * Writes no points and raises no alerts (those are already stored). Returns the lights restored.
     */
    async restore(now = clock()): Promise<number> {
      const lights = registry.list({ family: "streetlight" });
      const rows: { d: DeviceRecord; ts: number; body: StreetlightTelemetry & { ts: number } }[] = [];
      for (let i = 0; i < lights.length; i += 2000) {
        const chunk = lights.slice(i, i + 2000);
        const got = await telemetry.rawMany({
          deviceIds: chunk.map((d) => d.id),
          measurement: "streetlight_telemetry",
          from: now - RESTORE_MS,
          to: now + 1,
        });
        for (const d of chunk)
          for (const x of got.get(d.id) ?? []) rows.push({ d, ts: x.ts, body: { ...(x.payload as unknown as StreetlightTelemetry), ts: x.ts } });
      }
      rows.sort((a, b) => a.ts - b.ts);
      for (const { d, ts, body } of rows) {
        if (states.has(d.id) && (states.get(d.id) as LightState).lastTs >= ts) continue;
        const prev = states.get(d.id) ?? initialState(ts);
        states.set(
          d.id,
          step(prev, body, info(d), () => neighbourView(d.id, ts)),
        );
        noteRecent(d.id, ts, body);
      }
      const newest = new Map<string, number>();
      for (const { d, ts } of rows) {
        pointAt.set(d.id, Math.max(ts, pointAt.get(d.id) ?? 0));
        newest.set(d.id, Math.max(ts, newest.get(d.id) ?? 0));
      }
      // what presence restored from its history learns when each light last spoke
      for (const [id, at] of newest) presence.heard(id, at);
      return newest.size;
    },
    expectedOf: (d: DeviceRecord) => info(d),
    /**
     * Computes the records of nights that have ended (dawn + 30 min + a margin for late reports) and are
     * not yet recorded, and again those that received readings since (buffered data, up to 60 days old).
     * Runs are serialised.
     */
    /**
     * Ends a nightly pass under way after its current chunk (what it has not written, the next start writes), and
     * stops following presence: the connections closing on shutdown are not lights going offline.
     */
    halt() {
      halted = true;
      presence.events.off("change", onPresence);
    },
    /** Lights registered, installed and past the grace period that never connected: said `offline` (see checkNeverReported). */
    checkNeverReported: (now = clock()) => checkNeverReported(now),
    runNightly(now = clock()): Promise<number> {
      const run = (nightlyRun ?? Promise.resolve(0)).then(() => nightlyPass(now));
      nightlyRun = run.catch(() => 0);
      return run;
    },
    async summary(
      filter: {
        town?: string | undefined;
        village?: string | undefined;
        condition?: Condition | undefined;
        night?: string | undefined;
        limit: number;
        offset: number;
      },
      visible: (d: DeviceRecord) => boolean,
    ) {
      const lights = registry.list({ family: "streetlight", town: filter.town, village: filter.village }).filter(visible);
      const counts: Record<string, number> = {};
      const rows = lights.map((d) => ({ d, c: conditionOf(d) }));
      for (const { c } of rows) counts[c.condition] = (counts[c.condition] ?? 0) + 1;
      const online = lights.filter((d) => presence.isOnline(d.id)).length;
      const lastDate = filter.night ?? (await nights.latestDate());
      const classes = lastDate ? await nights.classesOn(lastDate) : new Map<string, string>();
      const recorded = lights.filter((d) => classes.has(d.id));
      const lit = recorded.filter((d) => classes.get(d.id) === "lit").length;
      const listed = rows.filter((r) => !filter.condition || r.c.condition === filter.condition);
      return {
        total: lights.length,
        online,
        onlineShare: lights.length ? round(online / lights.length) : null,
        counts,
        lastNight: { date: lastDate, records: recorded.length, lit, litShare: recorded.length ? round(lit / recorded.length) : null },
        listed: listed.length,
        lights: listed
          .slice(filter.offset, filter.offset + filter.limit)
          .map(({ d, c }) => ({ id: d.id, town: d.town, village: d.village, lat: d.lat, lon: d.lon, ...c })),
      };
    },
  };
}
export type StreetlightMonitor = ReturnType<typeof createStreetlightMonitor>;

const round = (x: number) => Math.round(x * 10_000) / 10_000;
