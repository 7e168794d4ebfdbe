import { readFileSync } from "node:fs";

/**
 * Reads what bench/profile-preload.cjs wrote, against the phases of a benchmark's JSON output (`from`/`to` on the wall
 * clock): for each phase, where the service's thread spent its time (self time by function, and by function with its
 * callers' chain cut to `depth`), its event-loop stalls and its garbage collections.
 *
 *   AGRILUME_BENCH_PROFILE=DIR npm run bench -- --only offthread --out DIR/result.json
 *   node --import tsx bench/profile-read.ts DIR/service-PID.cpuprofile DIR/result.json [top=25]
 *
 * (or, instead of the results, a file of [{ "name": ..., "from": ms, "to": ms }, ...])
 */
type Node = { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] };
type Profile = { nodes: Node[]; startTime: number; endTime: number; samples: number[]; timeDeltas: number[] };

const [profilePath, phasesPath, topArg] = process.argv.slice(2);
if (!profilePath || !phasesPath) throw new Error("usage: profile-read.ts PROFILE PHASES.json [top]");
const top = Number(topArg ?? 25);
const profile = JSON.parse(readFileSync(profilePath, "utf8")) as Profile;
const extra = JSON.parse(readFileSync(profilePath.replace(/\.cpuprofile$/, ".stalls.json"), "utf8")) as {
  clock: { wallMs: number; monoUs: number };
  stalls: { atMs: number; heldMs: number }[];
  gcs: { atMs: number; ms: number; kind?: number }[];
};
type Phases = { name: string; from: number; to: number }[];
const read = JSON.parse(readFileSync(phasesPath, "utf8")) as Phases | { results: { offThread: { phases: Phases } } };
const phases = Array.isArray(read) ? read : read.results.offThread.phases;

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const short = (n: Node) => {
  const f = n.callFrame;
  const file = f.url.replace(/^.*\/(node_modules\/)?/, "");
  return `${f.functionName || "(anon)"} ${file}:${f.lineNumber + 1}`;
};
const toWall = (us: number) => extra.clock.wallMs + (us - extra.clock.monoUs) / 1000;

// each sample's wall time and its duration (the delta to the next one)
const times: number[] = [];
let t = profile.startTime;
for (const d of profile.timeDeltas) {
  t += d;
  times.push(toWall(t));
}

for (const p of phases) {
  const self = new Map<string, number>();
  const chains = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (let i = 0; i < profile.samples.length - 1; i++) {
    const at = times[i] ?? 0;
    if (at < p.from || at > p.to) continue;
    const ms = (times[i + 1] ?? at) - at;
    const node = byId.get(profile.samples[i] ?? -1);
    if (!node) continue;
    total += ms;
    const name = node.callFrame.functionName;
    if (name === "(idle)" || name === "(program)") {
      idle += name === "(idle)" ? ms : 0;
    }
    self.set(short(node), (self.get(short(node)) ?? 0) + ms);
    // the chain of callers from the first frame of the service's own code (src/) upwards, 4 deep
    const chain: string[] = [];
    let id: number | undefined = node.id;
    while (id !== undefined && chain.length < 6) {
      const n = byId.get(id);
      if (!n) break;
      if (n.callFrame.url.includes("/src/") || n.callFrame.url.includes("/devices/") || chain.length === 0) chain.push(short(n));
      id = parent.get(id);
    }
    const key = chain.join(" < ");
    chains.set(key, (chains.get(key) ?? 0) + ms);
  }
  const seconds = (p.to - p.from) / 1000;
  process.stdout.write(`\n=== ${p.name}: ${seconds.toFixed(1)} s; sampled ${(total / 1000).toFixed(2)} s, idle ${(idle / 1000).toFixed(2)} s\n`);
  const list = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, v]) => `  ${v.toFixed(0).padStart(6)} ms  ${k}`)
      .join("\n");
  process.stdout.write(`self time:\n${list(self)}\nwith callers in src/:\n${list(chains)}\n`);
  const stalls = extra.stalls.filter((s) => s.atMs >= p.from && s.atMs <= p.to).sort((a, b) => b.heldMs - a.heldMs);
  process.stdout.write(
    `stalls ≥ 20 ms: ${stalls.length}; longest: ${stalls
      .slice(0, 12)
      .map((s) => `${s.heldMs} ms @+${((s.atMs - p.from) / 1000).toFixed(2)} s`)
      .join(", ")}\n`,
  );
  const gcs = extra.gcs.filter((g) => g.atMs >= p.from && g.atMs <= p.to);
  process.stdout.write(
    `GC ≥ 5 ms: ${gcs.length}, ${gcs.reduce((s, g) => s + g.ms, 0)} ms; longest ${gcs
      .sort((a, b) => b.ms - a.ms)
      .slice(0, 8)
      .map((g) => `${g.ms} (kind ${g.kind})`)
      .join(", ")}\n`,
  );
  // the longest stretches of the thread: which functions the samples around each stall were in
  for (const s of stalls.slice(0, 5)) {
    const from = s.atMs;
    const to = s.atMs + s.heldMs + 5;
    const inStall = new Map<string, number>();
    for (let i = 0; i < profile.samples.length - 1; i++) {
      const at = times[i] ?? 0;
      if (at < from || at > to) continue;
      const ms = (times[i + 1] ?? at) - at;
      const chain: string[] = [];
      let id: number | undefined = profile.samples[i];
      while (id !== undefined && chain.length < 4) {
        const n = byId.get(id);
        if (!n) break;
        if (n.callFrame.url.includes("/src/") || chain.length === 0) chain.push(short(n));
        id = parent.get(id);
      }
      const key = chain.join(" < ");
      inStall.set(key, (inStall.get(key) ?? 0) + ms);
    }
    process.stdout.write(`  stall ${s.heldMs} ms @+${((s.atMs - p.from) / 1000).toFixed(2)} s:\n${list(inStall).replace(/^/gm, "  ")}\n`);
  }
}
