import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";

const VALID = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * This instance's id: `configured` (AGRILUME_INSTANCE_ID) if set, else the one kept in `<dataDir>/instance-id`, made on
 * the first start from the host name and random bytes. Where several instances share a store, each one's
 * write-ahead-log checkpoint is kept under its id (a log's sequence numbers are its own): a data dir keeps its id
 * across restarts, and a copied data dir should be given its own with the setting.
 */
export function instanceId(dataDir: string, configured?: string): string {
  if (configured) return configured;
  const file = join(dataDir, "instance-id");
  try {
    const kept = readFileSync(file, "utf8").trim();
    if (VALID.test(kept)) return kept;
  } catch (e: unknown) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  const host = hostname()
    .replace(/[^A-Za-z0-9_.-]/g, "-")
    .slice(0, 40);
  const id = `${host || "agrilume"}-${randomBytes(6).toString("hex")}`;
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(file, `${id}\n`);
  return id;
}
