/**
 * Runs a Grafana dashboard's InfluxQL queries the way Grafana's InfluxDB datasource (1.x, raw queries) sends them:
 * the template variables, `$timeFilter`, `$__interval` and the dashboard's (or the panel's own) relative range
 * substituted, then the query sent to InfluxDB's /query. For the dashboard tests: nothing in src/ uses it.
 */

export type GrafanaTarget = { refId: string; query: string; resultFormat: "time_series" | "table"; alias?: string };
export type GrafanaPanel = {
  id: number;
  type: string;
  title: string;
  timeFrom?: string;
  targets: GrafanaTarget[];
  fieldConfig: {
    defaults: Record<string, unknown>;
    overrides: { matcher: { id: string; options: string }; properties: { id: string; value: unknown }[] }[];
  };
  options: Record<string, unknown>;
  description?: string;
};
export type GrafanaVariable = { type: string; name: string; query: string; allValue?: string; includeAll?: boolean };
export type GrafanaDashboard = {
  uid: string;
  title: string;
  time: { from: string; to: string };
  templating: { list: GrafanaVariable[] };
  panels: GrafanaPanel[];
};
export type Series = { name: string; tags: Record<string, string>; columns: string[]; values: (number | string | null)[][] };

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `now-24h` → milliseconds before now (the relative ranges the dashboards use). */
export function relativeMs(expr: string): number {
  const m = /^(?:now-)?(\d+)([smhdw])$/.exec(expr);
  if (!m) throw new Error(`not a relative time: ${expr}`);
  return Number(m[1]) * (UNIT_MS[m[2] as string] as number);
}

/**
 * Grafana's interval for a range (kbn.roundInterval): the range over the panel's data points (about its width in
 * pixels; 1,000 here), rounded to the nearest of Grafana's steps, and never under the datasource's minimum
 * (`timeInterval: 1m` in grafana/provisioning/datasources/influxdb.yml).
 */
export function grafanaInterval(rangeMs: number, minMs = 60_000, points = 1000): string {
  const raw = Math.max(rangeMs / points, minMs);
  // kbn.roundInterval's table: below each bound, the step on its right
  const table: [number, number][] = [
    [15, 10],
    [35, 20],
    [75, 50],
    [150, 100],
    [350, 200],
    [750, 500],
    [1500, 1000],
    [3500, 2000],
    [7500, 5000],
    [12500, 10_000],
    [17500, 15_000],
    [25000, 20_000],
    [45000, 30_000],
    [90000, 60_000],
    [210000, 120_000],
    [450000, 300_000],
    [750000, 600_000],
    [1050000, 900_000],
    [1500000, 1_200_000],
    [2700000, 1_800_000],
    [5400000, 3_600_000],
    [9000000, 7_200_000],
    [16200000, 10_800_000],
    [32400000, 21_600_000],
    [86400000, 43_200_000],
    [604800000, 86_400_000],
    [1814400000, 604_800_000],
    [3628800000, 2_592_000_000],
  ];
  const step = table.find(([below]) => raw < below)?.[1] ?? 31_536_000_000;
  return step % 3_600_000 === 0 ? `${step / 3_600_000}h` : step % 60_000 === 0 ? `${step / 60_000}m` : `${step / 1000}s`;
}

/** What a query becomes in Grafana: every variable at the given value (All: the variable's allValue), the range and interval. */
export function substitute(
  query: string,
  opts: { from: number; to: number; interval: string; vars: Record<string, string>; dashboard: GrafanaDashboard },
): string {
  let q = query.replace(/\$timeFilter/g, `time >= ${opts.from}ms and time <= ${opts.to}ms`).replace(/\$__interval\b/g, opts.interval);
  for (const v of opts.dashboard.templating.list) {
    const value = opts.vars[v.name] ?? (v.type === "constant" ? v.query : (v.allValue ?? ".*"));
    q = q.replace(new RegExp(`\\$${v.name}\\b`, "g"), value);
  }
  if (/\$[a-z_]/i.test(q)) throw new Error(`a variable is left in: ${q}`);
  return q;
}

/** One InfluxQL query: its series (none when it matched nothing), or the error InfluxDB gave. */
export async function influxQuery(url: string, db: string, q: string): Promise<Series[]> {
  const res = (await (await fetch(`${url}/query?db=${encodeURIComponent(db)}&epoch=ms&q=${encodeURIComponent(q)}`)).json()) as {
    error?: string;
    results?: {
      error?: string;
      series?: { name: string; tags?: Record<string, string>; columns: string[]; values: (number | string | null)[][] }[];
    }[];
  };
  const err = res.error ?? res.results?.[0]?.error;
  if (err) throw new Error(`${err}: ${q}`);
  return (res.results?.[0]?.series ?? []).map((s) => ({ name: s.name, tags: s.tags ?? {}, columns: s.columns, values: s.values }));
}

/** A panel's targets run as Grafana runs them on the dashboard's default range (or the panel's `timeFrom`), by refId. */
export async function runPanel(
  influx: { url: string; db: string },
  dashboard: GrafanaDashboard,
  panel: GrafanaPanel,
  opts: { now?: number; vars?: Record<string, string> } = {},
): Promise<Record<string, Series[]>> {
  const to = opts.now ?? Date.now();
  const from = to - relativeMs(panel.timeFrom ?? dashboard.time.from);
  const out: Record<string, Series[]> = {};
  for (const t of panel.targets)
    out[t.refId] = await influxQuery(
      influx.url,
      influx.db,
      substitute(t.query, { from, to, interval: grafanaInterval(to - from), vars: opts.vars ?? {}, dashboard }),
    );
  return out;
}

/** A series' rows as objects by column name. */
export const rows = (s: Series): Record<string, number | string | null>[] =>
  s.values.map((v) => Object.fromEntries(s.columns.map((c, i) => [c, v[i] ?? null])));
