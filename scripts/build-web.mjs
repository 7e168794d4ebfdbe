// Builds the web console into web/dist. Runs as npm's `prepare` step, so `npm install` builds it.
// A production install (npm install --omit=dev, as in the Dockerfile's runtime stage) has no Vite:
// it says so and leaves the build to the stage that has it.
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
try {
  require.resolve("vite");
} catch {
  console.log("agrilume: Vite is not installed (production install); the web console is not built here");
  process.exit(0);
}
const { build } = await import("vite");
const started = Date.now();
await build({ configFile: new URL("../web/vite.config.ts", import.meta.url).pathname });
console.log(`agrilume: web console built into web/dist in ${Date.now() - started} ms`);
