import { createHash, pbkdf2Sync, randomBytes, scryptSync, timingSafeEqual } from "node:crypto";
import { availableParallelism } from "node:os";
import { createWorkerPool, jobModule, type WorkerPool } from "../platform/workers.js";

/**
 * Device secrets are stored only as a salted scrypt hash (N=2^12, r=8, p=1: a few ms of CPU in
 * threads of its own, off the event loop). A device that has proved its secret once is
 * remembered by a keyed SHA-256 of it in memory, so reconnect storms at dusk cost a hash each,
 * not a scrypt each; the memory cache is never written anywhere.
 */
// Secrets are 192 random bits, so the work factor guards a leaked table, not guessable passwords: N=2^12 keeps a
// district's bulk import (18,105 lights, DOMAIN.md §1) to about a minute on 2 cores. The cost is stored in each hash.
const N = 4096;
const KEYLEN = 32;

export function newSecret(): string {
  return randomBytes(24).toString("base64url");
}

/** The job the scrypt threads run. */
export function scryptJob(input: { secret: string; salt: Uint8Array; cost: number }): Uint8Array {
  return new Uint8Array(scryptSync(input.secret, input.salt, KEYLEN, { N: input.cost, r: 8, p: 1, maxmem: 64 * 1024 * 1024 }));
}

/** The other job they run: `mosquittoHash` (its salt made there too). */
export function mosquittoJob(input: { secret: string; iterations: number }): string {
  return mosquittoHash(input.secret, input.iterations);
}

/**
 * scrypt's own threads. Node's asynchronous scrypt runs on the libuv thread pool (4 threads), where the write-ahead log's
 * writes run too: a storm of CONNECTs queued thousands of scrypts there, and every PUBACK waited behind them
 * (docs/BENCHMARKS.md). One set for the process, as the libuv pool was, started on first use; idle, the threads do not
 * hold the process open. At most a district's worth of checks wait (DOMAIN.md §1: 18,105 lights); past that a CONNECT
 * is refused as unavailable and the device tries again.
 */
let scryptThreads: WorkerPool | null = null;
const SCRYPT_THREADS = Math.min(4, availableParallelism());
// (typed by the job itself: a type import of this module by itself would be a cycle)
const thisModule = jobModule<{ scryptJob: typeof scryptJob; mosquittoJob: typeof mosquittoJob }>(import.meta.url);
const threads = () => {
  scryptThreads ??= createWorkerPool({ size: SCRYPT_THREADS, maxQueued: 20_000, eager: true });
  return scryptThreads;
};

async function scryptAsync(secret: string, salt: Buffer, cost = N): Promise<Buffer> {
  // (a tight copy of the salt: a view of Node's shared 8 KB buffer pool would be sent whole)
  const key = await threads().run(thisModule, "scryptJob", { secret, salt: new Uint8Array(salt), cost });
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength);
}

export async function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(secret, salt);
  return `scrypt$${N}$${salt.toString("base64url")}$${key.toString("base64url")}`;
}

export async function verifySecret(secret: string, stored: string): Promise<boolean> {
  const [scheme, n, salt, key] = stored.split("$");
  const cost = Number(n);
  if (scheme !== "scrypt" || !Number.isInteger(cost) || cost < 1024 || cost > 1 << 20 || !salt || !key) return false;
  const expected = Buffer.from(key, "base64url");
  const actual = await scryptAsync(secret, Buffer.from(salt, "base64url"), cost);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** In-memory proof that a secret was verified against a given stored hash. */
export function createVerifiedCache() {
  const pepper = randomBytes(32);
  /** One per registered device that authenticated (add() follows a successful check): bounded by the registry. */
  const cache = new Map<string, Buffer>();
  const tag = (id: string, secret: string, stored: string) =>
    createHash("sha256").update(pepper).update(id).update("\0").update(secret).update("\0").update(stored).digest();
  return {
    has(id: string, secret: string, stored: string): boolean {
      const t = cache.get(id);
      return t !== undefined && timingSafeEqual(t, tag(id, secret, stored));
    },
    add(id: string, secret: string, stored: string) {
      cache.set(id, tag(id, secret, stored));
    },
    forget(id: string) {
      cache.delete(id);
    },
  };
}

/**
 * The secret as Mosquitto 2.0's password file holds it: `$7$` + iterations + `$` + a 12-byte salt + `$` + PBKDF2-HMAC-
 * SHA512 (64 bytes), both base64 — what `mosquitto_passwd` writes (checked against Debian's in test/broker-accounts).
 * 101 iterations, mosquitto_passwd's own default: the broker pays them on every CONNECT, and the secrets are 192 random
 * bits, so a leaked file cannot be searched whatever the count (the scrypt hash guards nothing more for such secrets).
 */
export const MOSQUITTO_ITERATIONS = 101;
export function mosquittoHash(secret: string, iterations = MOSQUITTO_ITERATIONS, salt: Buffer = randomBytes(12)): string {
  const key = pbkdf2Sync(secret, salt, iterations, 64, "sha512");
  return `$7$${iterations}$${salt.toString("base64")}$${key.toString("base64")}`;
}

/**
 * `mosquittoHash` in the scrypt threads: a device seeded without a broker hash gets one on its first CONNECT, and a
 * storm of such CONNECTs made them one after another on the service's thread (~0.15 ms each, docs/BENCHMARKS.md). Not
 * Node's asynchronous `pbkdf2`: that runs on the libuv pool, where the write-ahead log's writes wait (issue 15).
 */
export async function mosquittoHashAsync(secret: string, iterations = MOSQUITTO_ITERATIONS): Promise<string> {
  return threads().run(thisModule, "mosquittoJob", { secret, iterations });
}

/** True when `secret` is the one a `$7$` hash was made from. */
export function verifyMosquittoHash(secret: string, stored: string): boolean {
  const m = /^\$7\$(\d{1,7})\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(stored);
  if (!m?.[1] || !m[2] || !m[3]) return false;
  const expected = Buffer.from(m[3], "base64");
  const actual = pbkdf2Sync(secret, Buffer.from(m[2], "base64"), Number(m[1]), expected.length, "sha512");
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}
