import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join, relative, resolve, sep } from "node:path";
import { type DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";
import type { Message } from "../platform/i18n.js";

/**
 * Backup and restore of a data directory (docs/DATA.md): the state database (devices and their secrets, keys, accounts,
 * alerts, nightly records, claims, reports), the embedded telemetry store, and the write-ahead log with the files set
 * aside, copied as they are with a manifest of sizes and SHA-256 sums.
 *
 * Consistency: DuckDB lets one process open a database file, and a copy of a file that process is writing may hold half
 * a transaction. So a backup opens every database itself first: while the service runs this fails (its lock) and the
 * backup is refused, saying so; otherwise it holds the databases open (a service started meanwhile cannot open them and
 * stops with an error), checkpoints them (their own logs merged into the files), and copies the directory. The
 * write-ahead log is copied with them: records not yet in a store are replayed by the restored service.
 */
export class BackupError extends Error {
  constructor(readonly m: Message) {
    super(m.code);
  }
}

export type Manifest = { format: 1; createdAt: number; files: { path: string; bytes: number; sha256: string }[] };
const MANIFEST = "manifest.json";
/** The data directory's copy inside a backup directory. */
const DATA = "data";

const fail = (code: string, params: Message["params"]): never => {
  throw new BackupError({ code, params });
};
const isEmptyDir = (dir: string) => !existsSync(dir) || (statSync(dir).isDirectory() && readdirSync(dir).length === 0);
/** Every file under `dir`, as paths relative to it. */
const filesUnder = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
const sha256 = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");

/** DuckDB's refusal to open a file another process holds (its lock); any other failure to open is a damaged file. */
const LOCKED = /Could not set lock on file/;

/**
 * Opens the DuckDB files of `dir` (top level) for this process. Fails, as the service running (`backup_running`), when
 * another holds one; as a damaged file (`corrupt`, with the file's name as `shown`) when one cannot be opened otherwise.
 */
async function lockDatabases(
  dir: string,
  corrupt: "backup_corrupt" | "restore_database_corrupt",
  shown: (name: string) => string = (name) => join(dir, name),
): Promise<{ conns: DuckDBConnection[]; close: () => void }> {
  const held: { inst: DuckDBInstance; conn: DuckDBConnection }[] = [];
  const close = () => {
    for (const h of held) {
      h.conn.closeSync();
      h.inst.closeSync();
    }
  };
  for (const name of readdirSync(dir).filter((n) => n.endsWith(".duckdb"))) {
    try {
      const inst = await DuckDBInstance.create(join(dir, name));
      held.push({ inst, conn: await inst.connect() });
    } catch (e: unknown) {
      close();
      const message = e instanceof Error ? e.message : String(e);
      const detail = message.split("\n")[0] ?? "";
      if (LOCKED.test(message)) return fail("backup_running", { file: join(dir, name), detail });
      return fail(corrupt, { file: shown(name), detail });
    }
  }
  return { conns: held.map((h) => h.conn), close };
}

/** Whether `inner` is `outer` or lies under it. */
const within = (inner: string, outer: string) => inner === outer || inner.startsWith(outer.endsWith(sep) ? outer : outer + sep);
/** `path` with every symbolic link in it followed, as far as it exists (a backup directory not made yet: its parent's). */
function realPath(path: string): string {
  const rest: string[] = [];
  let at = resolve(path);
  while (!existsSync(at) && dirname(at) !== at) {
    rest.unshift(basename(at));
    at = dirname(at);
  }
  return join(realpathSync(at), ...rest);
}
/** Whether one of two directories lies inside the other, as given or once symbolic links are followed. */
const nested = (a: string, b: string) => {
  const [ra, rb] = [realPath(a), realPath(b)];
  return within(a, b) || within(b, a) || within(ra, rb) || within(rb, ra);
};

/** Backs up `dataDir` into `target` (absent or empty). The service must not be running (see above). */
export async function backupDataDir(dataDir: string, target: string, now = Date.now()): Promise<{ files: number; bytes: number }> {
  const source = resolve(dataDir);
  const out = resolve(target);
  // (with the state in PostgreSQL, AGRILUME_STATE_URL, the data directory holds no state.duckdb: the log, the instance
  // id and any embedded telemetry store are still the directory's, and PostgreSQL is backed up with its own tools)
  if (!existsSync(join(source, "state.duckdb")) && !existsSync(join(source, "wal")))
    fail("backup_source_missing", { dir: source, file: "state.duckdb" });
  // (a backup inside the data directory would be copied into the next backup, and that one into the next)
  if (nested(out, source)) fail("backup_target_inside", { dir: out, dataDir: source });
  if (!isEmptyDir(out)) fail("backup_target_not_empty", { dir: out });
  const locked = await lockDatabases(source, "backup_corrupt");
  try {
    for (const c of locked.conns) await c.run("CHECKPOINT");
    const manifest: Manifest = { format: 1, createdAt: now, files: [] };
    for (const path of filesUnder(source)) {
      if (path.startsWith(".agrilume-write-test-")) continue;
      const to = join(out, DATA, path);
      mkdirSync(dirname(to), { recursive: true });
      copyFileSync(join(source, path), to);
      manifest.files.push({ path, bytes: statSync(to).size, sha256: sha256(to) });
    }
    // written last: a directory without it is an unfinished backup, and restore refuses it
    writeFileSync(join(out, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
    return { files: manifest.files.length, bytes: manifest.files.reduce((s, f) => s + f.bytes, 0) };
  } finally {
    locked.close();
  }
}

/**
 * Restores the backup in `backupDir` into `dataDir` (absent or empty), after checking every file against the manifest.
 * The files are copied into a directory of their own and opened there; only then are they moved into place, so a
 * restore that fails leaves `dataDir` as it was. That directory is beside `dataDir` when `dataDir` does not exist yet
 * (moved into place by one rename), inside it when it exists (a mount point, e.g. a Docker volume, cannot be replaced:
 * its entries are moved up).
 */
export async function restoreDataDir(backupDir: string, dataDir: string): Promise<{ files: number; createdAt: number }> {
  const from = resolve(backupDir);
  const to = resolve(dataDir);
  const manifestPath = join(from, MANIFEST);
  if (!existsSync(manifestPath)) fail("restore_not_backup", { dir: from, file: MANIFEST });
  const manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as Manifest;
  if (manifest.format !== 1 || !Array.isArray(manifest.files)) fail("restore_not_backup", { dir: from, file: MANIFEST });
  if (!isEmptyDir(to)) fail("restore_target_not_empty", { dir: to });
  for (const f of manifest.files) {
    const path = join(from, DATA, f.path);
    if (!within(resolve(path), join(from, DATA)) || !existsSync(path) || statSync(path).size !== f.bytes || sha256(path) !== f.sha256)
      fail("restore_corrupt", { file: f.path });
  }
  const existed = existsSync(to);
  const staging = existed ? join(to, `.agrilume-restore-${process.pid}`) : join(dirname(to), `.${basename(to)}.agrilume-restore-${process.pid}`);
  try {
    mkdirSync(staging, { recursive: true });
    for (const f of manifest.files) {
      const dest = join(staging, f.path);
      mkdirSync(dirname(dest), { recursive: true });
      copyFileSync(join(from, DATA, f.path), dest);
    }
    // each database opens (the service will migrate it if it is older); one that does not is damaged
    (await lockDatabases(staging, "restore_database_corrupt", (name) => join(from, DATA, name))).close();
  } catch (e: unknown) {
    rmSync(staging, { recursive: true, force: true });
    throw e;
  }
  if (existed) {
    for (const name of readdirSync(staging)) renameSync(join(staging, name), join(to, name));
    rmSync(staging, { recursive: true, force: true });
  } else {
    renameSync(staging, to);
  }
  return { files: manifest.files.length, createdAt: manifest.createdAt };
}
