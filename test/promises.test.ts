import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { checkedFiles, checkPromises, isChecked, programOf } from "../scripts/check-promises.js";
import { tempDirPerTest } from "./dirs.js";

const root = dirname(dirname(fileURLToPath(import.meta.url)));

// Each line marked `// <kind>` must be reported as that, and no other line.
const FIXTURE = `
import { EventEmitter } from "node:events";
declare const log: { warn: (e: unknown) => void };
async function publish(id: string): Promise<void> {
  if (!id) throw new Error("no id");
}
async function guarded(id: string): Promise<void> {
  try {
    await publish(id);
  } catch (e: unknown) {
    log.warn(e);
  }
}
async function leaky(id: string): Promise<void> {
  try {
    return publish(id);
  } catch (e: unknown) {
    log.warn(e);
  }
}
const chained = (id: string) => publish(id).catch((e: unknown) => log.warn(e));
const tracked = (id: string) => {
  const p = publish(id).then(() => undefined, (e: unknown) => log.warn(e)).finally(() => undefined);
  return p;
};
let running: Promise<void> | null = null;
const kick = () => (running ??= publish("k").catch((e: unknown) => log.warn(e)));
export function shapes(deps: { write: (x: number) => Promise<void>; reply: PromiseLike<void> & { header(): void } }) {
  const events = new EventEmitter<{ order: [string] }>();
  publish("a"); // floating
  deps.write(1); // floating
  publish("b").then(() => 1); // floating
  publish("c").finally(() => 1); // floating
  void publish("d"); // voided
  void deps.write(2); // voided
  void leaky("e"); // voided
  events.on("order", (id) => publish(id)); // returned-to-void
  setTimeout(async () => { await publish("f"); }, 1); // returned-to-void
  void publish("g").catch((e: unknown) => log.warn(e));
  void publish("h").then(() => 1, (e: unknown) => log.warn(e));
  void guarded("i");
  void chained("j");
  void tracked("k");
  void kick();
  events.on("order", (id) => void chained(id));
  publish("l").catch((e: unknown) => log.warn(e));
  running = publish("m");
  deps.reply.header();
  return publish("n");
}
`;

describe("unhandled rejections, found with the compiler's types", () => {
  const dir = tempDirPerTest();

  it("reports promises nobody handles, and not those that end in a handler", () => {
    const file = join(dir(), "fixture.ts");
    writeFileSync(file, FIXTURE);
    const found = checkPromises(programOf(root, [file]), (f) => f === file).map((f) => `${f.line} ${f.kind}`);
    const expected = FIXTURE.split("\n").flatMap((line, i) => {
      const m = /\/\/ (floating|voided|returned-to-void)$/.exec(line);
      return m ? [`${i + 1} ${m[1]}`] : [];
    });
    expect(expected).toHaveLength(9);
    expect(found).toEqual(expected);
  });

  it("finds none in the service, the contract, the harness, the simulators, the scripts and the benchmarks", () => {
    const found = checkPromises(programOf(root, checkedFiles(root)), isChecked(root));
    expect(found.map((f) => `${f.file.slice(root.length + 1)}:${f.line} ${f.kind}: ${f.text}`)).toEqual([]);
  }, 120_000);
});
