/**
 * The service's entry point: `node dist/src/bin.js` (`npm start`, the Docker image), or `tsx src/bin.ts` in
 * development. It only runs main() and turns a failure into a message and a non-zero exit, so the service
 * starts whatever path it is run from (spaces, Chinese characters, a symlinked release directory). `backup <dir>` and
 * `restore <dir>` back up and restore the data directory instead (docs/DATA.md).
 */
import { pino } from "pino";

/** After the start, anything unhandled is a bug: one fatal log line (written before the exit), then exit 1. */
const fatal = (what: string) => (e: unknown) => {
  pino({ base: { service: "agrilume" } }, pino.destination({ dest: 2, sync: true })).fatal({ err: e }, `${what}; the service stops`);
  process.exit(1);
};
process.on("uncaughtException", fatal("uncaught exception"));
// What the service and its backups write (device secrets' and passwords' hashes, claims, the write-ahead log) is its
// own user's only; a file another program must read (Mosquitto's accounts) is given its mode explicitly.
process.umask(0o077);
process.on("unhandledRejection", fatal("unhandled promise rejection"));

// `backup <dir>` and `restore <dir>` (src/system/backup-cli.ts); anything else starts the service.
// (The service's modules are loaded only to start it: a backup does not wait for all of them.)
const command = process.argv[2];
if (command === "backup" || command === "restore") {
  const { backupCommand } = await import("./system/backup-cli.js");
  process.exit(await backupCommand(process.argv.slice(2)));
}
const { main, StartError } = await import("./main.js");

main().catch((e: unknown) => {
  if (e instanceof StartError) process.stderr.write(`${e.message}\n`);
  else
    process.stderr.write(
      `${process.env.AGRILUME_LANG === "en" ? "The service could not start:" : "服务未能启动："}\n${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
    );
  process.exit(1);
});
