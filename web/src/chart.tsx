/**
 * A small line chart drawn as SVG: no library (the console's bundle stays small on a phone's connection), scales to
 * the screen's width, says what it shows in words for screen readers (range and latest value).
 */

import type { Lang } from "./i18n";
import { formatNumber, formatTime } from "./ui";

export type Point = { ts: number; v: number };
const W = 360;
const H = 120;
const PAD = { l: 40, r: 8, t: 8, b: 20 };

export function LineChart(props: { title: string; unit: string; points: Point[]; lang: Lang; digits?: number; colour?: string }) {
  const { points, unit, lang } = props;
  const digits = props.digits ?? 1;
  if (points.length === 0) return null;
  const t0 = points[0]?.ts ?? 0;
  const t1 = Math.max(points.at(-1)?.ts ?? 1, t0 + 1);
  let lo = Math.min(...points.map((p) => p.v));
  let hi = Math.max(...points.map((p) => p.v));
  if (hi - lo < 1e-9) {
    lo -= 1;
    hi += 1;
  }
  const x = (ts: number) => PAD.l + ((ts - t0) / (t1 - t0)) * (W - PAD.l - PAD.r);
  const y = (v: number) => PAD.t + (1 - (v - lo) / (hi - lo)) * (H - PAD.t - PAD.b);
  // a gap of more than 3 hours between readings breaks the line (the light said nothing then)
  let d = "";
  points.forEach((p, i) => {
    const gap = i === 0 || p.ts - (points[i - 1]?.ts ?? 0) > 3 * 3600_000;
    d += `${gap ? "M" : "L"}${x(p.ts).toFixed(1)},${y(p.v).toFixed(1)}`;
  });
  const last = points.at(-1) as Point;
  const summary = `${props.title}: ${formatNumber(lang, lo, digits)}–${formatNumber(lang, hi, digits)} ${unit}, ${formatTime(t0)} – ${formatTime(t1)}; ${formatNumber(lang, last.v, digits)} ${unit} @ ${formatTime(last.ts)}`;
  // day marks: China midnights
  const days: number[] = [];
  for (let m = Math.ceil((t0 + 8 * 3600_000) / 86_400_000) * 86_400_000 - 8 * 3600_000; m < t1; m += 86_400_000) days.push(m);
  return (
    <figure class="chart">
      <figcaption>
        {props.title} <span class="muted">({unit})</span>
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={summary} preserveAspectRatio="none">
        {days.map((m) => (
          <g key={m}>
            <line x1={x(m)} x2={x(m)} y1={PAD.t} y2={H - PAD.b} class="grid" />
            <text x={x(m) + 2} y={H - 6} class="tick">
              {formatTime(m).slice(5, 10)}
            </text>
          </g>
        ))}
        <text x={PAD.l - 4} y={PAD.t + 8} class="tick" text-anchor="end">
          {formatNumber(lang, hi, digits)}
        </text>
        <text x={PAD.l - 4} y={H - PAD.b} class="tick" text-anchor="end">
          {formatNumber(lang, lo, digits)}
        </text>
        <path d={d} fill="none" stroke={props.colour ?? "currentColor"} stroke-width="1.5" vector-effect="non-scaling-stroke" />
      </svg>
    </figure>
  );
}
