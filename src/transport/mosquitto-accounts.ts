import { readFileSync } from "node:fs";
import { open, rename } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { type Family, topics, UPLINK_KINDS } from "../../devices/index.js";
import type { Logger } from "../platform/log.js";
import type { Registry } from "../registry/registry.js";
import { mosquittoHash } from "../registry/secrets.js";
import type { DeviceRecord } from "../registry/store.js";
import { BROKER_DROPPED_TOPIC } from "./external-broker.js";

export type MosquittoAccountsOptions = {
  /** Mosquitto's `password_file`, written by Agrilume. */
  passwordFile: string;
  /** Mosquitto's `acl_file`, written by Agrilume. */
  aclFile: string;
  /** Mosquitto's `pid_file`: Agrilume sends that process SIGHUP after each write, and Mosquitto reads both files again. */
  pidFile?: string | undefined;
  /** The service's own account (AGRILUME_MQTT_USERNAME / _PASSWORD). */
  service: { username: string; password: string };
};

/** The ACL lines of one device: publish on its own uplink topics, read (subscribe to) its own commands; nothing else. */
export function deviceAcl(family: Family, id: string): string[] {
  return [
    `user ${id}`,
    ...UPLINK_KINDS[family].map((k) => `topic write ${topics.uplink(family, id, k)}`),
    `topic read ${topics.commandFilter(family, id)}`,
  ];
}

/** The service's ACL lines: every device's uplink in, commands, alerts and station displays out, the broker's drop counter. */
export function serviceAcl(username: string): string[] {
  return [
    `user ${username}`,
    "topic read streetlight/#",
    "topic read blender/#",
    "topic write +/+/cmd/#",
    "topic write alerts/#",
    "topic write stations/#",
    `topic read ${BROKER_DROPPED_TOPIC}`,
  ];
}

/**
 * The two files, from the registry: every enabled device whose broker hash is known, and the service. A disabled
 * device, and one registered before broker hashes were kept that has not connected since (PROTOCOL.md §7), has no line:
 * Mosquitto refuses it.
 */
export async function renderMosquittoFiles(devices: Iterable<DeviceRecord>, service: { username: string; passwordHash: string }) {
  const header = [
    "# Written by Agrilume from its device registry (PROTOCOL.md §7); changes made here are overwritten.",
    "# The service: every device topic in, commands, alerts and station displays out, the broker's drop counter.",
    ...serviceAcl(service.username),
    "",
    "# Each device publishes only its own readings and reads only its own commands.",
  ];
  // Built in chunks of CHUNK devices, each joined at once into one Buffer, with a turn for the rest of the service
  // (the thread that sends PUBACKs) between chunks: a district's 38,800 devices are 10 MB of text.
  const CHUNK = 500;
  const passwd: Buffer[] = [Buffer.from(`${service.username}:${service.passwordHash}\n`)];
  const acl: Buffer[] = [Buffer.from(`${header.join("\n")}\n`)];
  let pw: string[] = [];
  let rules: string[] = [];
  const flush = () => {
    if (pw.length > 0) passwd.push(Buffer.from(`${pw.join("\n")}\n`));
    if (rules.length > 0) acl.push(Buffer.from(`${rules.join("\n")}\n`));
    pw = [];
    rules = [];
  };
  let accounts = 0;
  let missing = 0;
  let disabled = 0;
  for (const d of devices) {
    if (d.disabled) {
      disabled++;
      continue;
    }
    if (d.brokerHash === null) {
      missing++;
      continue;
    }
    pw.push(`${d.id}:${d.brokerHash}`);
    for (const line of deviceAcl(d.family, d.id)) rules.push(line);
    if (++accounts % CHUNK === 0) {
      flush();
      await new Promise((r) => setImmediate(r));
    }
  }
  flush();
  return { passwd: Buffer.concat(passwd), acl: Buffer.concat(acl), accounts, missing, disabled };
}

/** Writes a file whole or not at all: a temporary file beside it, flushed, then renamed over it. */
export async function writeAtomically(path: string, text: string | Buffer, mode: number) {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const fh = await open(tmp, "w", mode);
  try {
    await fh.chmod(mode); // (the mode given to open is narrowed by the process's umask: 077 in the service)
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

/**
 * Keeps Mosquitto's password and ACL files in step with the registry: written at start and after every change
 * (registered, rotated, disabled, enabled, a broker hash learnt), then Mosquitto is told to read them again (SIGHUP to
 * the process in `pidFile`). Mosquitto 2.0 then refuses a disabled device's or an old secret's next CONNECT, and
 * disconnects a connected client whose account is gone. Changes that come while a write runs are written together
 * after it. A write or signal that fails is logged and tried again with the next change or in 30 s.
 */
export function createMosquittoAccounts(deps: { options: MosquittoAccountsOptions; registry: Registry; log: Logger }) {
  const { options, registry, log } = deps;
  // Hashed once per start (a fresh salt): the service's password is in the configuration, never stored.
  const service = { username: options.service.username, passwordHash: mosquittoHash(options.service.password) };
  let running: Promise<void> | null = null;
  let again = false;
  let retry: NodeJS.Timeout | null = null;
  let stopped = false;
  let failing = false;
  let lastMissing = -1;
  let writes = 0;

  const signal = () => {
    if (!options.pidFile) return;
    const pid = Number(readFileSync(options.pidFile, "utf8").trim());
    if (!Number.isInteger(pid) || pid <= 1) throw new Error(`${options.pidFile} does not hold a process id`);
    process.kill(pid, "SIGHUP");
  };

  const writeOnce = async () => {
    const files = await renderMosquittoFiles(registry.list({}), service);
    // Mosquitto 2.0 warns about a password file others can read; it runs as its own user, in the group given the files.
    await writeAtomically(options.passwordFile, files.passwd, 0o640);
    await writeAtomically(options.aclFile, files.acl, 0o640);
    signal();
    writes++;
    if (failing) log.info({ passwordFile: options.passwordFile }, "mosquitto accounts: written again");
    failing = false;
    if (files.missing !== lastMissing && files.missing > 0) {
      log.warn(
        { missing: files.missing },
        "mosquitto accounts: devices registered before broker hashes were kept are not in the password file until they connect once through the embedded broker or their secret is rotated (PROTOCOL.md §7)",
      );
    }
    lastMissing = files.missing;
    log.debug({ accounts: files.accounts, disabled: files.disabled, missing: files.missing }, "mosquitto accounts written");
  };

  /** (sync handles its own failures; this is for one it did not foresee) */
  const unexpected = (e: unknown) => log.error({ err: e }, "mosquitto accounts: unexpected failure");

  const sync = (): Promise<void> => {
    if (stopped) return Promise.resolve();
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        try {
          await writeOnce();
        } catch (e) {
          if (!failing)
            log.error(
              { err: e, passwordFile: options.passwordFile, pidFile: options.pidFile },
              "mosquitto accounts: could not write or reload; retrying",
            );
          failing = true;
          if (retry) clearTimeout(retry);
          retry = setTimeout(() => {
            sync().catch(unexpected);
          }, 30_000);
          retry.unref();
        }
        // (let the changes of one request or one import arrive before writing again)
        if (again) await new Promise((r) => setTimeout(r, 50));
      } while (again && !stopped);
    })().finally(() => {
      running = null;
    });
    return running;
  };

  const unsubscribe = registry.onChange(() => {
    sync().catch(unexpected);
  });
  return {
    /** Writes the files now (and waits for any write under way); resolves once written or failed (logged). */
    sync,
    /** For tests: files written since start. */
    writes: () => writes,
    /** False while the last write or reload failed. */
    healthy: () => !failing,
    stop() {
      stopped = true;
      unsubscribe();
      if (retry) clearTimeout(retry);
    },
  };
}
export type MosquittoAccounts = ReturnType<typeof createMosquittoAccounts>;
