// A CPU profile of the service's own thread, for benchmarks that run the service as a process of its own
// (bench/offthread.ts with AGRILUME_BENCH_PROFILE=DIR, which hands it on as BENCH_PROFILE_DIR: the service refuses unknown AGRILUME_ settings): preloaded with `--require`, it samples every 0.5 ms from the
// start and, on SIGUSR2, writes DIR/service-PID.cpuprofile (open it in Chrome's DevTools or read it with
// bench/profile-read.ts) and DIR/service-PID.stalls.json: each time the event loop was held 20 ms or more, and every
// garbage collection of 5 ms or more, on the wall clock (ms since 1970), with the profile's clock beside it.
// `--cpu-prof` writes its profile only at a clean exit, which a benchmark that kills the service never reaches.
const { Session } = require("node:inspector");
const { writeFileSync } = require("node:fs");
const { join } = require("node:path");
const { PerformanceObserver, performance } = require("node:perf_hooks");

const dir = process.env.BENCH_PROFILE_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  const post = (method, params) => new Promise((resolve, reject) => session.post(method, params ?? {}, (e, r) => (e ? reject(e) : resolve(r))));
  // the profile's clock (µs, monotonic) against the wall clock
  const clock = { wallMs: Date.now(), monoUs: Number(process.hrtime.bigint() / 1000n) };
  const stalls = [];
  const gcs = [];
  let last = performance.now();
  const tick = setInterval(() => {
    const now = performance.now();
    if (now - last >= 25) stalls.push({ atMs: Math.round(performance.timeOrigin + last), heldMs: Math.round(now - last - 5) });
    last = now;
  }, 5);
  tick.unref();
  new PerformanceObserver((list) => {
    for (const e of list.getEntries())
      if (e.duration >= 5) gcs.push({ atMs: Math.round(performance.timeOrigin + e.startTime), ms: Math.round(e.duration), kind: e.detail?.kind });
  }).observe({ entryTypes: ["gc"] });
  void post("Profiler.enable")
    .then(() => post("Profiler.setSamplingInterval", { interval: 500 }))
    .then(() => post("Profiler.start"));
  process.on("SIGUSR2", () => {
    void post("Profiler.stop").then(({ profile }) => {
      writeFileSync(join(dir, `service-${process.pid}.cpuprofile`), JSON.stringify(profile));
      writeFileSync(join(dir, `service-${process.pid}.stalls.json`), JSON.stringify({ clock, stalls, gcs }));
      process.stderr.write(`AGRILUME_PROFILE_WRITTEN\n`);
    });
  });
}
