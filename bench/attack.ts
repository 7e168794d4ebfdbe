import mqtt from "mqtt";

/**
 * The attacker of bench/flood.ts, and the crowd of bench/offthread.ts, a process of its own: `flood k seconds url` (k
 * connections, each sending a CONNECT with a wrong secret again as soon as the last is answered), `storm k seconds url id
 * secret` (k clients taking one device id over and over with its right secret), or `once k 0 url prefix secret` (k
 * devices, ids prefix000000…, connecting at once with their right secret, once; those let in stay connected until this
 * process's stdin ends). Prints how many CONNECTs were sent and how each ended, as a line of JSON.
 */
const [mode, k, seconds, url, id, secret] = process.argv.slice(2);
if ((mode !== "flood" && mode !== "storm" && mode !== "once") || !url) {
  process.stderr.write("usage: attack.ts flood|storm|once <connections> <seconds> <url> [<id or prefix> <secret>]\n");
  process.exit(2);
}
if (mode === "once") {
  const t0 = performance.now();
  const outcomes: Record<string, number> = {};
  const clients: mqtt.MqttClient[] = [];
  await Promise.all(
    Array.from({ length: Number(k) }, (_, i) => {
      const clientId = `${id}${String(i).padStart(6, "0")}`;
      return connectOnce(url, { clientId, username: clientId, password: secret ?? "" }, 300_000).then(
        (c) => {
          clients.push(c);
          count(outcomes, "connected");
        },
        (e: unknown) => count(outcomes, outcome(e)),
      );
    }),
  );
  const result = { attempts: Number(k), outcomes, seconds: Math.round(performance.now() - t0) / 1000 };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.stdin.resume();
  process.stdin.once("end", () => {
    for (const c of clients) c.end(true);
    process.exit(0);
  });
} else {
  const until = performance.now() + Number(seconds) * 1000;
  const who =
    mode === "flood"
      ? (i: number, a: number) => ({ clientId: `FLOOD-${i}-${a}`, username: `FLOOD-${i}-${a}`, password: "wrong-secret-wrong-secret" })
      : () => ({ clientId: id ?? "", username: id ?? "", password: secret ?? "" });
  process.stdout.write(`${JSON.stringify(await loops(Number(k), until, who, url))}\n`);
  process.exit(0);
}

function count(outcomes: Record<string, number>, o: string) {
  outcomes[o] = (outcomes[o] ?? 0) + 1;
}
function outcome(e: unknown): string {
  const m = /Bad username or password|Server unavailable|Not authorized|timeout|closed|ECONNRESET/i.exec(String(e));
  return m ? m[0].toLowerCase() : "other";
}

/**
 * `k` loops until `until`, each connecting with the options `who(loop, attempt)` gives, waiting for the answer, and (if
 * let in) staying until it is closed, or 200 ms, and connecting again; how each attempt ended is counted.
 */
async function loops(k: number, until: number, who: (i: number, attempt: number) => mqtt.IClientOptions, url: string) {
  let attempts = 0;
  const outcomes: Record<string, number> = {};
  await Promise.all(
    Array.from({ length: k }, async (_, i) => {
      for (let a = 0; performance.now() < until; a++) {
        attempts++;
        try {
          const c = await connectOnce(url, who(i, a));
          count(outcomes, "connected");
          await Promise.race([new Promise<void>((r) => c.once("close", () => r())), sleep(200)]);
          c.end(true);
        } catch (e: unknown) {
          count(outcomes, outcome(e));
        }
      }
    }),
  );
  return { attempts, outcomes };
}

/**
 * One CONNECT and its answer: the client, or why not (refused, closed without an answer, or no answer in time).
 * (`mqtt.connectAsync` waits for ever when the server closes the socket before its CONNACK.)
 */
function connectOnce(url: string, o: mqtt.IClientOptions, timeoutMs = 10_000): Promise<mqtt.MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url, { ...o, reconnectPeriod: 0, connectTimeout: timeoutMs, clean: true });
    const fail = (why: unknown) => {
      clearTimeout(timer);
      c.end(true);
      reject(why);
    };
    const timer = setTimeout(() => fail(new Error("timeout")), timeoutMs);
    c.once("connect", () => {
      clearTimeout(timer);
      c.removeAllListeners("error");
      c.on("error", () => undefined);
      resolve(c);
    });
    c.once("error", fail);
    c.once("close", () => fail(new Error("closed")));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));
