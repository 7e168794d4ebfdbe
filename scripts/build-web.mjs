// Builds the web console into web/dist, or into the directory given as `--out <dir>` (`npm run build` puts it in
// dist/web/dist, where the compiled service looks for it). Runs as npm's `prepare` step, so `npm install` builds it.
// A production install (npm ci --omit=dev, as in the Dockerfile's runtime stage) has no Vite:
// it says so and leaves the build to the stage that has it.
import { createRequire } from "node:module";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
try {
  require.resolve("vite");
} catch {
  console.log("agrilume: Vite is not installed (production install); the web console is not built here");
  process.exit(0);
}
const at = process.argv.indexOf("--out");
const outDir = at > 0 ? process.argv[at + 1] : undefined;
if (at > 0 && !outDir) {
  console.error("agrilume: --out needs a directory");
  process.exit(2);
}
const { build } = await import("vite");
const started = Date.now();
// A file path, not the URL's pathname: that is percent-encoded where the directory has spaces or Chinese characters.
await build({
  configFile: fileURLToPath(new URL("../web/vite.config.ts", import.meta.url)),
  ...(outDir ? { build: { outDir: resolve(outDir) } } : {}),
});
console.log(`agrilume: web console built into ${outDir ?? "web/dist"} in ${Date.now() - started} ms`);
