import { addDays, chinaClock, chinaDate } from "../platform/clock.js";
import type { Lang } from "../platform/i18n.js";
import type { Registry } from "../registry/registry.js";
import type { NightStore } from "../streetlights/store.js";
import type { AlertEngine } from "./engine.js";
import type { Notifier } from "./notifier.js";

const CLASS_ZH: Record<string, string> = { dark: "不亮", energy_limited: "电量不足", offline: "离线", partial: "亮灯不足", cycling: "频繁开关" };
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
  at?: string;
}) {
  const at = deps.at ?? DIGEST_AT;
  return {
    /** Sends today's digest if it is time and it has not gone out yet; returns the towns it went to. */
    async run(now = deps.clock()): Promise<string[]> {
      const today = chinaDate(now);
      if (chinaClock(now) < at || (await deps.meta.get("digest_date")) === today) return [];
      await deps.meta.set("digest_date", today);
      const lastNight = addDays(today, -1);
      const classes = await deps.nights.classesOn(lastNight);
      const towns = new Map<string, { byCause: Map<string, string[]>; lights: number }>();
      for (const d of deps.registry.list({ family: "streetlight" })) {
        if (!d.town) continue;
        const t = towns.get(d.town) ?? { byCause: new Map(), lights: 0 };
        t.lights++;
        const c = classes.get(d.id);
        if (c && c !== "lit") t.byCause.set(c, [...(t.byCause.get(c) ?? []), d.id]);
        towns.set(d.town, t);
      }
      const sent: string[] = [];
      for (const [town, t] of towns) {
        const open = deps.engine.list().filter((a) => a.state !== "resolved" && a.town === town);
        const text = (l: Lang) => {
          const causes = [...t.byCause].map(([c, ids]) =>
            l === "zh"
              ? `- ${CLASS_ZH[c] ?? c}：${ids.length} 盏（${ids.slice(0, 10).join("、")}${ids.length > 10 ? " 等" : ""}）`
              : `- ${c}: ${ids.length} (${ids.slice(0, 10).join(", ")}${ids.length > 10 ? " …" : ""})`,
          );
          return l === "zh"
            ? [
                `### ${town} 昨夜（${lastNight}）路灯简报`,
                `共 ${t.lights} 盏；未正常亮灯：`,
                ...(causes.length ? causes : ["- 无"]),
                `仍未处理的告警：${open.length} 条`,
              ].join("\n")
            : [
                `### ${town}: last night (${lastNight})`,
                `${t.lights} lights; not lit as expected:`,
                ...(causes.length ? causes : ["- none"]),
                `Alerts still open: ${open.length}`,
              ].join("\n");
        };
        await deps.notifier.sendText(town, "digest", text, open);
        sent.push(town);
      }
      return sent;
    },
  };
}
