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

type View = { s: number; tx: number; ty: number };
type Hit = { x: number; y: number; id: string | null; n: number };
type Cell = { x: number; y: number; n: number; id: string; cond: string };
/** Screen cells of this many px gather the normal lights in them into one counted circle. */
const CELL = 40;
const MAX_ZOOM = 4000;

/**
 * The lights on a canvas that pans (drag, one finger), zooms (wheel, two fingers, the buttons; a tap on a cluster
 * zooms into it) and clusters: lights sharing a screen cell are one circle with their count, normal lights and
 * problems apart, problems on top. Each frame projects only what the view shows: 18,105 lights stay smooth.
 */
function LightCanvas(props: { lights: Light[]; label: string }) {
  const { t } = useSession();
  const canvas = useRef<HTMLCanvasElement>(null);
  const [width, setWidth] = useState(0);
  const hits = useRef<Hit[]>([]);
  const view = useRef<View | null>(null);
  const frame = useRef(0);
  const size = useRef({ w: 0, h: 0 });

  useEffect(() => {
    const el = canvas.current?.parentElement;
    if (!el) return;
    const ro = new ResizeObserver(() => setWidth(el.clientWidth));
    ro.observe(el);
    setWidth(el.clientWidth);
    return () => ro.disconnect();
  }, []);

  // Equirectangular with the longitude squeezed by cos(latitude): true to shape over a district.
  const base = useMemo(() => {
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
    const k = Math.cos((((minLat + maxLat) / 2) * Math.PI) / 180);
    const xs = new Float64Array(ls.length);
    const ys = new Float64Array(ls.length);
    ls.forEach(([, lat, lon], i) => {
      xs[i] = (lon - minLon) * k;
      ys[i] = maxLat - lat;
    });
    return { xs, ys, spanX: Math.max((maxLon - minLon) * k, 1e-4), spanY: Math.max(maxLat - minLat, 1e-4) };
  }, [props.lights]);

  const whole = (w: number, h: number): View => {
    const pad = 16;
    const s = Math.min((w - 2 * pad) / base.spanX, (h - 2 * pad) / base.spanY);
    return { s, tx: (w - base.spanX * s) / 2, ty: (h - base.spanY * s) / 2 };
  };

  const draw = () => {
    frame.current = 0;
    const c = canvas.current;
    const v = view.current;
    const { w: width, h: height } = size.current;
    if (!c || !v || width === 0) return;
    const ctx = c.getContext("2d");
    if (!ctx) return;
    const dpr = window.devicePixelRatio || 1;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = "#f4f6f4";
    ctx.fillRect(0, 0, width, height);
    const ls = props.lights;
    const out: Hit[] = [];
    // normal lights and problems gathered apart, per screen cell: problems are drawn after, so none hides
    const normal = new Map<number, Cell>();
    const problem = new Map<number, Cell>();
    const cols = Math.ceil(width / CELL) + 2;
    for (let i = 0; i < ls.length; i++) {
      const x = (base.xs[i] as number) * v.s + v.tx;
      const y = (base.ys[i] as number) * v.s + v.ty;
      if (x < -8 || y < -8 || x > width + 8 || y > height + 8) continue;
      const l = ls[i] as Light;
      const cells = NORMAL.has(l[3]) ? normal : problem;
      const key = (Math.floor(y / CELL) + 1) * cols + Math.floor(x / CELL) + 1;
      const cell = cells.get(key);
      if (cell) {
        cell.x += x;
        cell.y += y;
        cell.n++;
      } else cells.set(key, { x, y, n: 1, id: l[0], cond: l[3] });
    }
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.font = "11px system-ui, sans-serif";
    for (const [cells, single, fill] of [
      [normal, 3, "rgba(21,128,61,0.85)"],
      [problem, 5, "rgba(185,28,28,0.9)"],
    ] as const) {
      for (const cell of cells.values()) {
        const x = cell.x / cell.n;
        const y = cell.y / cell.n;
        if (cell.n === 1) {
          ctx.fillStyle = CONDITION_COLOUR[cell.cond] ?? "#999";
          ctx.beginPath();
          ctx.arc(x, y, single, 0, 2 * Math.PI);
          ctx.fill();
          if (cells === problem) {
            ctx.strokeStyle = "#fff";
            ctx.lineWidth = 1;
            ctx.stroke();
          }
          out.push({ x, y, id: cell.id, n: 1 });
          continue;
        }
        const r = Math.min(22, 7 + Math.log2(cell.n) * 2);
        ctx.fillStyle = fill;
        ctx.beginPath();
        ctx.arc(x, y, r, 0, 2 * Math.PI);
        ctx.fill();
        ctx.fillStyle = "#fff";
        ctx.fillText(String(cell.n), x, y);
        out.push({ x, y, id: null, n: cell.n });
      }
    }
    hits.current = out;
    // (what is on the canvas, for tests and a browser trace: marks drawn and the view)
    c.dataset.drawn = String(out.length);
    c.dataset.view = `${v.s.toFixed(3)},${v.tx.toFixed(1)},${v.ty.toFixed(1)}`;

    // A scale bar: 1, 2 or 5 × 10ⁿ metres, about a fifth of the width.
    const metresPerPx = 111_195 / v.s;
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
    ctx.fillText(metres >= 1000 ? `${metres / 1000} km` : `${Math.round(metres)} m`, 16 + barPx, height - 12);

    // Town names at the middle of their lights (at the district's scale; zoomed in, the lights speak for themselves).
    if (v.s <= whole(width, height).s * 4) {
      const towns = new Map<string, { x: number; y: number; n: number }>();
      ls.forEach(([, , , , town], i) => {
        if (!town) return;
        const s = towns.get(town) ?? { x: 0, y: 0, n: 0 };
        s.x += (base.xs[i] as number) * v.s + v.tx;
        s.y += (base.ys[i] as number) * v.s + v.ty;
        s.n++;
        towns.set(town, s);
      });
      ctx.font = "13px system-ui, sans-serif";
      ctx.textAlign = "center";
      for (const [name, s] of towns) {
        const x = s.x / s.n;
        const y = s.y / s.n - 14;
        ctx.lineWidth = 3;
        ctx.strokeStyle = "rgba(255,255,255,0.9)";
        ctx.strokeText(name, x, y);
        ctx.fillStyle = "#1b1b1b";
        ctx.fillText(name, x, y);
      }
    }
  };
  const redraw = () => {
    if (!frame.current) frame.current = requestAnimationFrame(draw);
  };

  useEffect(() => {
    const c = canvas.current;
    if (!c || width === 0) return;
    const height = Math.round(Math.min(width * 0.75, window.innerHeight * 0.7));
    const dpr = window.devicePixelRatio || 1;
    c.width = width * dpr;
    c.height = height * dpr;
    c.style.width = `${width}px`;
    c.style.height = `${height}px`;
    size.current = { w: width, h: height };
    view.current = whole(width, height);
    draw();
  }, [base, width]);
  useEffect(() => () => cancelAnimationFrame(frame.current), []);

  const zoomAt = (f: number, px: number, py: number) => {
    const v = view.current;
    if (!v) return;
    const min = whole(size.current.w, size.current.h).s / 2;
    const s = Math.min(Math.max(v.s * f, min), min * 2 * MAX_ZOOM);
    const g = s / v.s;
    view.current = { s, tx: px - (px - v.tx) * g, ty: py - (py - v.ty) * g };
    redraw();
  };
  const zoomButton = (f: number) => zoomAt(f, size.current.w / 2, size.current.h / 2);

  // pointers down (one: pan; two: pinch), and whether this touch moved (a tap opens, a drag does not)
  const pointers = useRef(new Map<number, { x: number; y: number }>());
  const moved = useRef(false);
  const local = (e: PointerEvent | WheelEvent | MouseEvent) => {
    const r = (canvas.current as HTMLCanvasElement).getBoundingClientRect();
    return { x: e.clientX - r.left, y: e.clientY - r.top };
  };
  const down = (e: PointerEvent) => {
    (e.currentTarget as HTMLCanvasElement).setPointerCapture(e.pointerId);
    pointers.current.set(e.pointerId, local(e));
    moved.current = false;
  };
  const move = (e: PointerEvent) => {
    const prev = pointers.current.get(e.pointerId);
    const v = view.current;
    if (!prev || !v) return;
    const p = local(e);
    const others = [...pointers.current.entries()].filter(([id]) => id !== e.pointerId).map(([, q]) => q);
    if (Math.abs(p.x - prev.x) + Math.abs(p.y - prev.y) > 2) moved.current = true;
    if (others.length === 1) {
      const o = others[0] as { x: number; y: number };
      const before = Math.hypot(prev.x - o.x, prev.y - o.y);
      const after = Math.hypot(p.x - o.x, p.y - o.y);
      if (before > 0) zoomAt(after / before, (p.x + o.x) / 2, (p.y + o.y) / 2);
    } else if (others.length === 0) {
      view.current = { ...v, tx: v.tx + p.x - prev.x, ty: v.ty + p.y - prev.y };
      redraw();
    }
    pointers.current.set(e.pointerId, p);
  };
  const up = (e: PointerEvent) => {
    pointers.current.delete(e.pointerId);
  };
  const wheel = (e: WheelEvent) => {
    e.preventDefault();
    const p = local(e);
    zoomAt(Math.exp(-e.deltaY / 300), p.x, p.y);
  };
  useEffect(() => {
    const c = canvas.current;
    if (!c) return;
    // (not passive: the page must not scroll while the map zooms)
    c.addEventListener("wheel", wheel, { passive: false });
    return () => c.removeEventListener("wheel", wheel);
  });

  const open = (e: MouseEvent) => {
    if (moved.current) return;
    const { x, y } = local(e);
    let best: (Hit & { d: number }) | null = null;
    for (const h of hits.current) {
      const d = (h.x - x) ** 2 + (h.y - y) ** 2;
      const reach = h.n > 1 ? 484 : 144;
      if (d < reach && (!best || d < best.d)) best = { ...h, d };
    }
    if (!best) return;
    if (best.id) window.location.hash = `#/lights/${encodeURIComponent(best.id)}`;
    else zoomAt(3, best.x, best.y);
  };

  return (
    <div class="map">
      <div class="map-controls">
        <button type="button" onClick={() => zoomButton(2)} aria-label={t("map.zoomIn")}>
          +
        </button>
        <button type="button" onClick={() => zoomButton(0.5)} aria-label={t("map.zoomOut")}>
          −
        </button>
        <button
          type="button"
          onClick={() => {
            view.current = whole(size.current.w, size.current.h);
            redraw();
          }}
        >
          {t("map.reset")}
        </button>
      </div>
      <canvas
        ref={canvas}
        role="img"
        aria-label={props.label}
        onClick={open}
        onPointerDown={down}
        onPointerMove={move}
        onPointerUp={up}
        onPointerCancel={up}
        style={{ touchAction: "none" }}
      />
    </div>
  );
}
