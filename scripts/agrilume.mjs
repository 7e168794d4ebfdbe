// `npm run backup` and `npm run restore` (node scripts/agrilume.mjs backup|restore <dir>): the service's entry with
// these arguments, the TypeScript through tsx in a development checkout, the compiled dist/src/bin.js on a production
// install (npm ci --omit=dev, the Docker image), which has no tsx. Its exit code is the command's.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const source = fileURLToPath(new URL("../src/bin.ts", import.meta.url));
const compiled = fileURLToPath(new URL("../dist/src/bin.js", import.meta.url));
/** tsx, as this file resolves it (a development dependency: absent on a production install). */
const tsx = (() => {
  try {
    return import.meta.resolve("tsx");
  } catch {
    return null;
  }
})();
const entry = tsx && existsSync(source) ? ["--import", tsx, source] : [compiled];
if (!existsSync(entry.at(-1) ?? "")) {
  console.error(`agrilume: ${compiled} is missing: run npm run build first (or npm ci, which installs tsx)`);
  process.exit(1);
}
const res = spawnSync(process.execPath, [...entry, ...process.argv.slice(2)], { stdio: "inherit" });
process.exit(res.status ?? 1);
