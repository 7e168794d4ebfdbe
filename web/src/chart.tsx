/**
 * A line chart drawn by uPlot (small, fast on a phone's canvas, with a touch cursor that reads the value under the
 * finger), scaled to the screen's width, in China time; it says what it shows in words for screen readers (range and
 * latest value), which is also what tests read.
 */
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { type Lang, translate } from "./i18n";
import { formatNumber, formatTime } from "./ui";

export type Point = { ts: number; v: number };
const H = 140;
/** A gap of more than 3 hours between readings breaks the line (the light said nothing then). */
const GAP_MS = 3 * 3600_000;
const DAY_S = 86_400;
const hourMinute = uPlot.fmtDate("{HH}:{mm}");
const monthDay = uPlot.fmtDate("{MM}-{DD}");
/**
 * The time axis' labels in China time on the 24-hour clock, as the rest of the console (uPlot's default is "12am"/"3pm"
 * in English): the date where the steps are days or a day begins, else the hour.
 */
const timeLabels = (_u: uPlot, splits: number[], _axis: number, _space: number, step: number) =>
  splits.map((s) => {
    const d = uPlot.tzDate(new Date(s * 1000), "Asia/Shanghai");
    return step >= DAY_S || (d.getHours() === 0 && d.getMinutes() === 0) ? monthDay(d) : hourMinute(d);
  });

export function LineChart(props: { title: string; unit: string; points: Point[]; lang: Lang; digits?: number; colour?: string }) {
  const { points, unit, lang } = props;
  const digits = props.digits ?? 1;
  const box = useRef<HTMLDivElement>(null);

  useEffect(() => {
    const el = box.current;
    if (!el || points.length === 0) return;
    const xs: number[] = [];
    const ys: (number | null)[] = [];
    points.forEach((p, i) => {
      const prev = points[i - 1];
      if (prev && p.ts - prev.ts > GAP_MS) {
        xs.push((prev.ts + 1) / 1000);
        ys.push(null);
      }
      xs.push(p.ts / 1000);
      ys.push(p.v);
    });
    const value = (_u: uPlot, v: number | null) => (v === null || v === undefined ? "–" : `${formatNumber(lang, v, digits)} ${unit}`);
    const plot = new uPlot(
      {
        width: Math.max(200, el.clientWidth),
        height: H,
        tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Asia/Shanghai"),
        legend: { show: true, live: true },
        cursor: { drag: { x: false, y: false }, points: { size: 6 } },
        scales: { x: { time: true } },
        axes: [
          { size: 28, font: "10px system-ui, sans-serif", stroke: "currentColor", grid: { stroke: "rgba(0,0,0,0.08)" }, values: timeLabels },
          {
            size: 48, // "12.82" whole at 10 px
            font: "10px system-ui, sans-serif",
            stroke: "currentColor",
            grid: { stroke: "rgba(0,0,0,0.08)" },
            values: (_u, vs) => vs.map((v) => formatNumber(lang, v, digits)),
          },
        ],
        series: [
          { label: translate(lang, "chart.time"), value: (_u, ts) => (ts ? formatTime(ts * 1000) : "–") },
          { label: props.title, stroke: props.colour ?? "#1b1b1b", width: 1.5, spanGaps: false, value },
        ],
      },
      [xs, ys],
      el,
    );
    const ro = new ResizeObserver(() => plot.setSize({ width: Math.max(200, el.clientWidth), height: H }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      plot.destroy();
    };
  }, [points, lang, digits, unit, props.colour, props.title]);

  if (points.length === 0) return null;
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const p of points) {
    lo = Math.min(lo, p.v);
    hi = Math.max(hi, p.v);
  }
  const t0 = (points[0] as Point).ts;
  const last = points.at(-1) as Point;
  const summary = `${props.title}: ${formatNumber(lang, lo, digits)}–${formatNumber(lang, hi, digits)} ${unit}, ${formatTime(t0)} – ${formatTime(last.ts)}; ${formatNumber(lang, last.v, digits)} ${unit} @ ${formatTime(last.ts)}`;
  return (
    <figure class="chart">
      <figcaption>
        {props.title} <span class="muted">({unit})</span>
      </figcaption>
      <div ref={box} role="img" aria-label={summary} class="chart-plot" />
    </figure>
  );
}
