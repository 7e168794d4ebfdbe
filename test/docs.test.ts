import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { FAULT_CODES, REJECT_REASONS } from "../devices/index.js";
import { MOSQUITTO_ACL } from "../harness/services.js";
import { SETTINGS } from "../src/platform/config.js";

describe("documents stay true", () => {
  const readme = readFileSync("README.md", "utf8");
  const protocol = readFileSync("docs/PROTOCOL.md", "utf8");
  it("the README lists every setting and the two commands", () => {
    for (const name of Object.keys(SETTINGS)) expect(readme, name).toContain(`\`${name}\``);
    expect(readme).toContain("npm install && npm run demo");
    expect(readme).toContain("npm install && npm test");
  });
  it("the README's API table names every route group the service serves", async () => {
    const { readdirSync } = await import("node:fs");
    const routes = readdirSync("src", { recursive: true, encoding: "utf8" })
      .filter((f) => f.endsWith("routes.ts"))
      .flatMap((f) => [...readFileSync(`src/${f}`, "utf8").matchAll(/"\/api\/v1\/([a-z-]+)/g)].map((m) => m[1] as string));
    for (const group of new Set(routes)) expect(readme, group).toContain(`/${group}`);
  });

  it("ARCHITECTURE.md's layout names every folder of src/", async () => {
    const { readdirSync } = await import("node:fs");
    const architecture = readFileSync("docs/ARCHITECTURE.md", "utf8");
    const layout = architecture.slice(architecture.indexOf("## Layout"), architecture.indexOf("### The allowed directions"));
    const folders = readdirSync("src", { withFileTypes: true }).filter((d) => d.isDirectory());
    expect(folders.length).toBeGreaterThan(5);
    for (const d of folders) expect(layout, d.name).toContain(`\`src/${d.name}/\``);
  });

  it("the domain reference the code cites as DOMAIN.md §n is in the repository, with those sections; nothing points outside it", async () => {
    const { execSync } = await import("node:child_process");
    const domain = readFileSync("docs/DOMAIN.md", "utf8");
    const cited = new Set(
      [...execSync("grep -rhoE 'DOMAIN\\.md §[0-9]+' src devices simulators README.md docs || true", { encoding: "utf8" }).matchAll(/§(\d+)/g)].map(
        (m) => m[1],
      ),
    );
    expect(cited.size).toBeGreaterThan(0);
    for (const n of cited) expect(domain, `§${n}`).toMatch(new RegExp(`^## ${n}\\. `, "m"));
    for (const doc of ["README.md", "docs/ARCHITECTURE.md", "docs/PROTOCOL.md", "docs/BENCHMARKS.md"])
      expect(readFileSync(doc, "utf8"), doc).not.toContain("../shared");
  });

  it("no document repeats a section", () => {
    for (const file of ["README.md", "docs/ARCHITECTURE.md", "docs/PROTOCOL.md", "docs/BENCHMARKS.md"]) {
      const headings = readFileSync(file, "utf8")
        .split("\n")
        .filter((l) => /^#{1,3} /.test(l));
      expect(
        headings.filter((h, i) => headings.indexOf(h) !== i),
        file,
      ).toEqual([]);
    }
  });

  it("PROTOCOL.md §7 shows the Mosquitto ACL the tests run Mosquitto with", () => {
    expect(protocol).toContain(`\`\`\`\n${MOSQUITTO_ACL}\n\`\`\``);
  });

  it("PROTOCOL.md names every fault code and reject reason", () => {
    for (const code of FAULT_CODES) expect(protocol, code).toContain(`\`${code}\``);
    for (const reason of REJECT_REASONS) expect(protocol, reason).toContain(`\`${reason}\``);
  });
});
