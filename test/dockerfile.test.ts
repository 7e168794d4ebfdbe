import { type ChildProcess, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../harness/helpers.js";
import { run, serviceEnv, startService } from "./process.js";

/**
 * The Dockerfile, without Docker: its stages read as data and checked, then carried out in temporary directories
 * instruction by instruction (COPY from the build context or the build stage, the npm commands of RUN, CMD,
 * HEALTHCHECK), the runtime stage's `npm ci --omit=dev` for real, and the service started by its CMD.
 */
type Step = { op: string; args: string };
type Stage = { image: string; name: string | undefined; steps: Step[] };

function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  const lines = text
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
  for (const line of lines) {
    const [, op = "", args = ""] = /^(\S+)\s+(.*)$/.exec(line) ?? [];
    if (op.toUpperCase() === "FROM") {
      const [, image = "", name] = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args) ?? [];
      stages.push({ image, name, steps: [] });
    } else {
      const stage = stages.at(-1);
      if (!stage) throw new Error(`${line}: before any FROM`);
      stage.steps.push({ op: op.toUpperCase(), args });
    }
  }
  return stages;
}

const dockerfile = readFileSync("Dockerfile", "utf8");
const stages = parseDockerfile(dockerfile);
const build = stages[0] as Stage;
const runtime = stages.at(-1) as Stage;
const runs = (s: Stage) => s.steps.filter((x) => x.op === "RUN").map((x) => x.args);
const cmd = JSON.parse(runtime.steps.find((s) => s.op === "CMD")?.args ?? "null") as string[];
const pkg = JSON.parse(readFileSync("package.json", "utf8")) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  scripts: Record<string, string>;
  engines: { node: string };
};
/** Build and development tools: none of them may be a runtime dependency or in the runtime image. */
const TOOLS = ["tsx", "typescript", "vite", "vitest", "@biomejs/biome", "preact", "esbuild", "rolldown", "playwright-core", "axe-core"];

describe("Dockerfile", () => {
  it("two stages on one supported Node LTS line, one that package.json's engines accepts", () => {
    expect(stages.map((s) => s.name)).toEqual(["build", undefined]);
    const [, major] = /^node:(\d+)-bookworm-slim$/.exec(build.image) ?? [];
    expect(Number(major)).toBeGreaterThanOrEqual(22); // Node 20 ended on 2026-04-30
    expect(Number(major) % 2).toBe(0); // an LTS line
    expect(runtime.image).toBe(build.image);
    expect(enginesAccept(pkg.engines.node, Number(major)), pkg.engines.node).toBe(true);
  });

  it("the build stage installs from the lock with every dependency and runs npm run build", () => {
    expect(runs(build).some((r) => /^npm ci\b/.test(r) && !r.includes("--omit"))).toBe(true);
    expect(runs(build).some((r) => r.startsWith("npm run build"))).toBe(true);
  });

  it("the runtime stage installs production dependencies only, copies the build's dist, runs compiled JavaScript", () => {
    expect(runs(runtime).some((r) => /^npm ci (?=.*--omit=dev)/.test(r))).toBe(true);
    const copies = runtime.steps.filter((s) => s.op === "COPY").map((s) => s.args);
    expect(copies).toContain("--from=build /app/dist ./dist");
    // From the context only what npm ci reads and the launcher of npm run backup / restore: no sources, no TypeScript.
    expect(copies.filter((c) => !c.startsWith("--from="))).toEqual(["package.json package-lock.json ./", "scripts/agrilume.mjs ./scripts/"]);
    expect(cmd.slice(0, 1)).toEqual(["node"]);
    expect(cmd.at(-1)).toMatch(/^dist\/.+\.js$/);
    for (const s of runtime.steps) expect(s.args, `${s.op} ${s.args}`).not.toMatch(/\btsx\b|\.ts\b|--import|(?<![\w/.-])src\b/);
  });

  it("installs with npm ci alone: no fallback to npm install", () => {
    expect(dockerfile).not.toMatch(/npm install|\|\|/);
  });
});

describe("package.json", () => {
  it("no build or development tool is a runtime dependency", () => {
    for (const t of TOOLS) expect(Object.keys(pkg.dependencies)).not.toContain(t);
    expect(Object.keys(pkg.dependencies).filter((d) => d.startsWith("@types/") || d.startsWith("@preact/"))).toEqual([]);
  });

  it("every runtime dependency is imported by the service, and the service imports no other package", () => {
    const used = importedPackages(["src", "devices"]);
    // tsx is resolved by src/platform/workers.ts only when the service runs from its .ts sources (a worker thread
    // registers it itself; compiled, the worker is a .js file and that branch is never taken): a development dependency.
    expect(readFileSync("src/platform/workers.ts", "utf8")).toMatch(/if \(!ENTRY\.pathname\.endsWith\("\.ts"\)\) return new Worker\(ENTRY\);/);
    used.delete("tsx");
    expect([...used].sort()).toEqual(Object.keys(pkg.dependencies).sort());
  });

  it("every development dependency is used: imported outside the service, a command in a script, or types of a dependency", () => {
    const imported = importedPackages(["test", "web", "scripts", "bench", "simulators", "vitest.config.ts"]);
    const commands = new Set(
      Object.values(pkg.scripts)
        .join(" ")
        .split(/[\s&|;]+/),
    );
    for (const d of Object.keys(pkg.devDependencies)) {
      const { bin = {} } = JSON.parse(readFileSync(join("node_modules", d, "package.json"), "utf8")) as { bin?: string | Record<string, string> };
      const bins = typeof bin === "string" ? [d] : Object.keys(bin); // (a single bin is named after the package)
      const typesOf = d.startsWith("@types/") ? d.slice("@types/".length) : null;
      const ok =
        imported.has(d) ||
        bins.some((b) => commands.has(b)) ||
        (typesOf !== null && (typesOf === "node" || typesOf in pkg.dependencies || imported.has(typesOf)));
      expect(ok, d).toBe(true);
    }
  });

  it("no production dependency has an install script (the image installs with --ignore-scripts)", () => {
    const lock = JSON.parse(readFileSync("package-lock.json", "utf8")) as { packages: Record<string, { dev?: boolean; hasInstallScript?: boolean }> };
    expect(Object.entries(lock.packages).filter(([, p]) => p.hasInstallScript && !p.dev)).toEqual([]);
  });
});

/** Whether a range of the forms `>=X.Y.Z` and `^X.Y.Z`, joined by `||`, accepts every release of Node `major` from some minor on. */
function enginesAccept(range: string, major: number): boolean {
  return range.split("||").some((part) => {
    const p = part.trim();
    const [, min] = /^>=\s*(\d+)\./.exec(p) ?? [];
    const [, caret] = /^\^(\d+)\./.exec(p) ?? [];
    return (min !== undefined && Number(min) <= major) || Number(caret) === major;
  });
}

/** Package names in import and require specifiers of the TypeScript and JavaScript files under `roots`. */
function importedPackages(roots: string[]): Set<string> {
  const names = new Set<string>();
  const visit = (path: string) => {
    if (statSync(path).isDirectory()) {
      if (basename(path) === "node_modules" || path === join("web", "dist")) return;
      for (const f of readdirSync(path)) visit(join(path, f));
    } else if (/\.(ts|tsx|mjs|js)$/.test(path)) {
      for (const [, spec = ""] of readFileSync(path, "utf8").matchAll(
        /(?:(?<![\w/."'])(?:from|import|require)|\.resolve)\s*\(?\s*"([^"./\s][^"\s]*)"/g,
      )) {
        if (spec.startsWith("node:")) continue;
        names.add(
          spec
            .split("/")
            .slice(0, spec.startsWith("@") ? 2 : 1)
            .join("/"),
        );
      }
    }
  };
  for (const r of roots) visit(r);
  return names;
}

/** .dockerignore's patterns as Docker reads them (a pattern also excludes everything under what it matches). */
const ignored = (() => {
  const patterns = readFileSync(".dockerignore", "utf8")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"))
    .map(
      (p) =>
        new RegExp(
          `^${p
            .replace(/[.+^${}()|[\]\\]/g, "\\$&")
            .replace(/\*\*/g, "\0")
            .replace(/\*/g, "[^/]*")
            .replace(/\0/g, ".*")}(/.*)?$`,
        ),
    );
  return (path: string) => patterns.some((p) => p.test(path));
})();

describe("the Dockerfile carried out without Docker", () => {
  let tmp: ReturnType<typeof tempDir>;
  /** Each stage's /app. */
  const dirs = { build: "", runtime: "" };
  const started: ChildProcess[] = [];
  const skipped: string[] = [];

  /** COPY with Docker's meaning: a directory's contents go into the destination; files into a destination ending in / by name. */
  const copy = (stageDir: string, args: string) => {
    const words = args.split(/\s+/);
    const from = words.find((w) => w.startsWith("--from="))?.slice("--from=".length);
    const [dest = "", ...sources] = words.filter((w) => !w.startsWith("--")).reverse();
    sources.reverse();
    expect(dest.startsWith("/") || dest.startsWith("..")).toBe(false); // relative to WORKDIR /app
    for (const source of sources) {
      const src = from ? join(dirs[from as keyof typeof dirs], relative("/app", source)) : source;
      expect(from ? source.startsWith("/app/") : !ignored(source), source).toBe(true);
      const target = join(stageDir, dest);
      if (statSync(src).isDirectory()) {
        cpSync(src, target, { recursive: true, filter: (p) => from !== undefined || !ignored(relative(".", p)) });
      } else {
        mkdirSync(dest.endsWith("/") ? target : dirname(target), { recursive: true });
        cpSync(src, dest.endsWith("/") ? join(target, basename(src)) : target);
      }
    }
  };

  /** RUN: each command of an && chain that the test knows; anything else fails the test (teach it here). */
  const runStep = (stage: keyof typeof dirs, args: string) => {
    const cwd = dirs[stage];
    for (const command of args.split(/\s*&&\s*/)) {
      if (/^npm ci\b/.test(command) && stage === "build") {
        // Every dependency, as this worktree installed them from the same lock (not downloaded again).
        symlinkSync(resolve("node_modules"), join(cwd, "node_modules"));
      } else if (/^npm ci\b/.test(command) || /^npm run build$/.test(command) || /^test -f [\w./-]+$/.test(command)) {
        run("sh", ["-c", command], { cwd, env: { ...process.env, npm_config_prefer_offline: "true" }, timeoutMs: 300_000 });
      } else if (/^npm cache clean --force$|^mkdir -p \/data$|^chown node:node \/data$/.test(command)) {
        skipped.push(command); // this machine's npm cache and /data are not the image's: the test's data directory stands in
      } else {
        throw new Error(`the test does not know how to carry out RUN ${command}`);
      }
    }
  };

  beforeAll(() => {
    tmp = tempDir("agrilume-image-");
    dirs.build = join(tmp.path, "build");
    dirs.runtime = join(tmp.path, "runtime");
    for (const [name, stage] of [
      ["build", build],
      ["runtime", runtime],
    ] as const) {
      mkdirSync(dirs[name], { recursive: true });
      for (const s of stage.steps) {
        if (s.op === "WORKDIR") expect(s.args).toBe("/app");
        if (s.op === "COPY") copy(dirs[name], s.args);
        if (s.op === "RUN") runStep(name, s.args);
      }
    }
  }, 600_000);
  afterEach(() => {
    for (const c of started.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  });
  afterAll(() => tmp?.remove());

  it("the runtime stage holds the production dependencies and the compiled service, nothing else", () => {
    const app = dirs.runtime;
    expect(readdirSync(app).sort()).toEqual(["dist", "node_modules", "package-lock.json", "package.json", "scripts"]);
    expect(readdirSync(join(app, "scripts"))).toEqual(["agrilume.mjs"]);
    for (const t of TOOLS) expect(existsSync(join(app, "node_modules", t)), t).toBe(false);
    for (const d of Object.keys(pkg.dependencies)) expect(existsSync(join(app, "node_modules", d, "package.json")), d).toBe(true);
    const files = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]));
    const dist = files(join(app, "dist")).map((f) => relative(app, f));
    expect(dist.filter((f) => !f.endsWith(".js") && !f.startsWith("dist/web/dist/"))).toEqual([]);
    expect(dist).toEqual(expect.arrayContaining([cmd.at(-1), "dist/web/dist/index.html"]));
    expect(skipped).toEqual(["npm cache clean --force", "mkdir -p /data", "chown node:node /data"]);
  });

  it("npm run backup and npm run restore work there, without tsx (the compiled service)", async () => {
    const data = join(tmp.path, "backed-up");
    const [, ...args] = cmd;
    const s = await startService(process.execPath, args, { cwd: dirs.runtime, env: serviceEnv(data), started });
    expect(await s.stop()).toBe(0);
    const npm = (dataDir: string, ...words: string[]) =>
      spawnSync("npm", ["run", "-s", ...words], { cwd: dirs.runtime, env: serviceEnv(dataDir), encoding: "utf8", timeout: 120_000 });
    const backup = join(tmp.path, "backup");
    const made = npm(data, "backup", "--", backup);
    expect(made.stderr).toBe("");
    expect(made.status).toBe(0);
    expect(made.stdout).toMatch(/^Backed up to /);
    const restored = join(tmp.path, "restored");
    const back = npm(restored, "restore", "--", backup);
    expect(back.stderr).toBe("");
    expect(back.status).toBe(0);
    expect(back.stdout).toContain("Restored the backup of");
    expect(existsSync(join(restored, "state.duckdb"))).toBe(true);
    // a refusal's exit code comes through the launcher
    expect(npm(restored, "restore", "--", backup).status).toBe(1);
  });

  it("its CMD starts the service, which serves the API and the console; its HEALTHCHECK passes while it runs and fails once it stopped", async () => {
    const env: Record<string, string> = {};
    for (const s of runtime.steps.filter((x) => x.op === "ENV")) {
      const [, k = "", v = ""] = /^(\w+)=(\S+)$/.exec(s.args) ?? [];
      env[k] = v;
    }
    expect(env).toEqual({ NODE_ENV: "production", AGRILUME_DATA_DIR: "/data" });
    const [, ...args] = cmd;
    const s = await startService(process.execPath, args, {
      cwd: dirs.runtime,
      env: { ...env, ...serviceEnv(join(tmp.path, "data")) },
      started,
    });
    expect((await fetch(`http://127.0.0.1:${s.ports.http}/health`)).status).toBe(200);
    const page = await fetch(`http://127.0.0.1:${s.ports.http}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<div id="app">');
    const health = runtime.steps.find((x) => x.op === "HEALTHCHECK")?.args ?? "";
    const [, check = ""] = /\bCMD (.+)$/.exec(health) ?? [];
    expect(check).toContain("127.0.0.1:8080/ready"); // the service's default port
    const probe = () => run("sh", ["-c", `${check.replace(":8080/", `:${s.ports.http}/`)} && echo healthy || echo unhealthy`], { cwd: dirs.runtime });
    expect(probe().trim()).toBe("healthy");
    expect(await s.stop()).toBe(0);
    expect(probe().trim()).toBe("unhealthy");
  });
});
