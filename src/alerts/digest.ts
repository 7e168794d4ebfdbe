import { addDays, chinaClock, chinaDate } from "../platform/clock.js";
import type { Message } from "../platform/i18n.js";
import type { Registry } from "../registry/registry.js";
import type { JobClaims } from "../storage/claims.js";
import { type NightClass, type NightStore, streetlightMessage } from "../streetlights/index.js";
import type { AlertEngine } from "./engine.js";
import { alertMessage } from "./messages.js";
import type { Notifier } from "./notifier.js";

/** China time of day after which last night's digest goes out (after dawn, when the nightly records exist). */
export const DIGEST_AT = "08:30";

/**
 * The morning digest, per town: last night's lights that did not light as they should, by cause (from the
 * nightly records), and the alerts still open. Sent once a day to the channels covering the town.
 */
export function createDigest(deps: {
  registry: Registry;
  nights: NightStore;
  engine: AlertEngine;
  notifier: Notifier;
  clock: () => number;
  /** Where the date of the last digest is kept, so a restart does not send it twice. */
  meta: { get: (key: string) => Promise<string | undefined>; set: (key: string, value: string) => Promise<void> };
  /**
   * The day's digest is a claimed job (issue 18): one instance of those sharing the state store sends it, each
   * channel's under the claim's fencing token, and another finishes it when that one's claim is taken over.
   */
  claims: JobClaims;
  at?: string;
  /** A line of another feature's for a town's digest (field work's figures), if it has one. */
  more?: ((town: string) => Promise<Message | null>) | undefined;
}) {
  const at = deps.at ?? DIGEST_AT;
  return {
    /** Sends today's digest if it is time and it has not gone out yet; returns the towns it went to. */
    async run(now = deps.clock()): Promise<string[]> {
      const today = chinaDate(now);
      if (chinaClock(now) < at || (await deps.meta.get("digest_date")) === today) return [];
      const claim = await deps.claims.claim("digest", today);
      if (!claim) return [];
      const lastNight = addDays(today, -1);
      const classes = await deps.nights.unlitOn(lastNight); // (a lit light is in no cause)
      const towns = new Map<string, { byCause: Map<NightClass, string[]>; lights: number }>();
      for (const d of deps.registry.list({ family: "streetlight" })) {
        if (!d.town) continue;
        const t = towns.get(d.town) ?? { byCause: new Map(), lights: 0 };
        t.lights++;
        const c = classes.get(d.id);
        if (c && c !== "lit") t.byCause.set(c as NightClass, [...(t.byCause.get(c as NightClass) ?? []), d.id]);
        towns.set(d.town, t);
      }
      const sent: string[] = [];
      for (const [town, t] of towns) {
        const open = deps.engine.list().filter((a) => a.state !== "resolved" && a.town === town);
        const causes = [...t.byCause].map(([c, ids]) => ({ cause: streetlightMessage("night_class", { class: c }), ids, count: ids.length }));
        const more = deps.more ? await deps.more(town).catch(() => null) : null;
        const digest = alertMessage("digest", { town, date: lastNight, lights: t.lights, causes, open: open.length, more });
        if (!(await deps.claims.holds(claim))) return sent; // taken over: the new holder sends the rest
        await deps.notifier.sendMessage(town, "digest", digest, open, { id: `digest/${today}/${town}`, claim });
        sent.push(town);
      }
      if (await deps.claims.done(claim)) await deps.meta.set("digest_date", today);
      return sent;
    },
  };
}
