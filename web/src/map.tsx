import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import type { Answer } from "./api";
import type { Key } from "./i18n";
import { Badge, CONDITION_COLOUR, CONDITION_TONE, ErrorNote, Loading, TownSelect, useLoad, useSession } from "./ui";

/** [id, lat, lon, condition, town] */
type Light = Answer<"getStreetlightMap">["lights"][number];
const NORMAL = new Set(["lit", "off"]);

/**
 * Lights drawn from their own coordinates on a plain canvas: no map tiles, so it works on a district
 * office network without the internet. Problems are drawn larger and on top; the list below says the
 * same in words for screen readers and small screens.
 */
export function MapPage() {
  const { client, t } = useSession();
  const [town, setTown] = useState("");
  const all = useLoad(() => client.get<Answer<"getStreetlightMap">>(`/api/v1/streetlights/map`), [], 60_000);
  const towns = useMemo(() => [...new Set((all.data?.lights ?? []).map((l) => l[4]).filter((x): x is string => !!x))].sort(), [all.data]);
  const lights = useMemo(() => (all.data?.lights ?? []).filter((l) => !town || l[4] === town), [all.data, town]);
  const counts = useMemo(() => {
    const c = new Map<string, number>();
    for (const l of lights) c.set(l[3], (c.get(l[3]) ?? 0) + 1);
    return [...c.entries()].sort((a, b) => b[1] - a[1]);
  }, [lights]);
  const problems = lights.filter((l) => !NORMAL.has(l[3]));

  return (
    <>
      <h1>{t("map.title")}</h1>
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label={t("filters")}>
        <TownSelect value={town} towns={towns} onChange={setTown} />
      </form>
      <Loading when={all.loading && !all.data} />
      <ErrorNote error={all.error} />
      {all.data && lights.length === 0 && <p class="muted">{t("map.none")}</p>}
      {lights.length > 0 && (
        <>
          <ul class="legend" aria-label={t("map.legend")}>
            {counts.map(([c, n]) => (
              <li key={c}>
                <span class="swatch" style={{ background: CONDITION_COLOUR[c] ?? "#999" }} aria-hidden="true" />
                {t(`cond.${c}` as Key)} <strong>{n}</strong>
              </li>
            ))}
          </ul>
          <LightCanvas lights={lights} label={t("map.canvas", { n: lights.length, problems: problems.length })} />
          <h2>{t("map.problems", { n: problems.length })}</h2>
          <ul class="problem-list">
            {problems.slice(0, 200).map((l) => (
              <li key={l[0]}>
                <a href={`#/lights/${encodeURIComponent(l[0])}`}>{l[0]}</a>{" "}
                <Badge tone={CONDITION_TONE[l[3]] ?? "muted"}>{t(`cond.${l[3]}` as Key)}</Badge> <span class="muted">{l[4]}</span>
              </li>
            ))}
          </ul>
          {problems.length > 200 && <p class="muted">{t("map.more", { n: problems.length - 200 })}</p>}
        </>
      )}
    </>
  );
}

function LightCanvas(props: { lights: Light[]; label: string }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const [width, setWidth] = useState(0);
  const points = useRef<{ x: number; y: number; id: string }[]>([]);

  useEffect(() => {
    const el = canvas.current?.parentElement;
    if (!el) return;
    const ro = new ResizeObserver(() => setWidth(el.clientWidth));
    ro.observe(el);
    setWidth(el.clientWidth);
    return () => ro.disconnect();
  }, []);

  useEffect(() => {
    const c = canvas.current;
    if (!c || width === 0) return;
    const height = Math.round(Math.min(width * 0.75, window.innerHeight * 0.7));
    const dpr = window.devicePixelRatio || 1;
    c.width = width * dpr;
    c.height = height * dpr;
    c.style.width = `${width}px`;
    c.style.height = `${height}px`;
    const ctx = c.getContext("2d");
    if (!ctx) return;
    ctx.scale(dpr, dpr);
    ctx.fillStyle = "#f4f6f4";
    ctx.fillRect(0, 0, width, height);

    const ls = props.lights;
    let minLat = Infinity;
    let maxLat = -Infinity;
    let minLon = Infinity;
    let maxLon = -Infinity;
    for (const [, lat, lon] of ls) {
      minLat = Math.min(minLat, lat);
      maxLat = Math.max(maxLat, lat);
      minLon = Math.min(minLon, lon);
      maxLon = Math.max(maxLon, lon);
    }
    // Equirectangular with the longitude squeezed by cos(latitude): true to shape over a district.
    const k = Math.cos((((minLat + maxLat) / 2) * Math.PI) / 180);
    const spanX = Math.max((maxLon - minLon) * k, 1e-4);
    const spanY = Math.max(maxLat - minLat, 1e-4);
    const pad = 16;
    const scale = Math.min((width - 2 * pad) / spanX, (height - 2 * pad) / spanY);
    const ox = (width - spanX * scale) / 2;
    const oy = (height - spanY * scale) / 2;
    const project = (lat: number, lon: number) => ({ x: ox + (lon - minLon) * k * scale, y: oy + (maxLat - lat) * scale });

    const pts: { x: number; y: number; id: string }[] = [];
    // Normal lights first and small; problems after, larger, so none hides under a lit neighbour.
    for (const pass of [true, false]) {
      for (const [id, lat, lon, cond] of ls) {
        if (NORMAL.has(cond) !== pass) continue;
        const { x, y } = project(lat, lon);
        ctx.fillStyle = CONDITION_COLOUR[cond] ?? "#999";
        ctx.beginPath();
        ctx.arc(x, y, pass ? 2.5 : 5, 0, 2 * Math.PI);
        ctx.fill();
        if (!pass) {
          ctx.strokeStyle = "#fff";
          ctx.lineWidth = 1;
          ctx.stroke();
        }
        pts.push({ x, y, id });
      }
    }
    points.current = pts;

    // A scale bar: 1, 2 or 5 × 10ⁿ metres, about a fifth of the width.
    const metresPerPx = 111_195 / scale;
    const want = (width / 5) * metresPerPx;
    const pow = 10 ** Math.floor(Math.log10(want));
    const metres = [5, 2, 1].map((m) => m * pow).find((m) => m <= want) ?? pow;
    const barPx = metres / metresPerPx;
    ctx.strokeStyle = "#1b1b1b";
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.moveTo(12, height - 12);
    ctx.lineTo(12 + barPx, height - 12);
    ctx.moveTo(12, height - 17);
    ctx.lineTo(12, height - 7);
    ctx.moveTo(12 + barPx, height - 17);
    ctx.lineTo(12 + barPx, height - 7);
    ctx.stroke();
    ctx.font = "12px system-ui, sans-serif";
    ctx.fillStyle = "#1b1b1b";
    ctx.textAlign = "left";
    ctx.fillText(metres >= 1000 ? `${metres / 1000} km` : `${metres} m`, 16 + barPx, height - 8);

    // Town names at the middle of their lights.
    const towns = new Map<string, { x: number; y: number; n: number }>();
    for (const [, lat, lon, , town] of ls) {
      if (!town) continue;
      const p = project(lat, lon);
      const s = towns.get(town) ?? { x: 0, y: 0, n: 0 };
      s.x += p.x;
      s.y += p.y;
      s.n++;
      towns.set(town, s);
    }
    ctx.font = "13px system-ui, sans-serif";
    ctx.textAlign = "center";
    for (const [name, s] of towns) {
      const x = s.x / s.n;
      const y = s.y / s.n - 8;
      ctx.lineWidth = 3;
      ctx.strokeStyle = "rgba(255,255,255,0.9)";
      ctx.strokeText(name, x, y);
      ctx.fillStyle = "#1b1b1b";
      ctx.fillText(name, x, y);
    }
  }, [props.lights, width]);

  const open = (e: MouseEvent) => {
    const c = canvas.current;
    if (!c) return;
    const r = c.getBoundingClientRect();
    const x = e.clientX - r.left;
    const y = e.clientY - r.top;
    let best: { id: string; d: number } | null = null;
    for (const p of points.current) {
      const d = (p.x - x) ** 2 + (p.y - y) ** 2;
      if (d < 144 && (!best || d < best.d)) best = { id: p.id, d };
    }
    if (best) window.location.hash = `#/lights/${encodeURIComponent(best.id)}`;
  };

  return (
    <div class="map">
      <canvas ref={canvas} role="img" aria-label={props.label} onClick={open} />
    </div>
  );
}
