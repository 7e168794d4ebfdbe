import { parentPort } from "node:worker_threads";

/**
 * The benchmark's HTTP client, in a thread of its own (bench/offthread.ts): an upload of 12 MB, or a report's answer of
 * several MB, sent and read on the thread that times the PUBACKs held its event loop tens of milliseconds, which then
 * counted as the service's delay. A real upload comes from another machine; here it at least comes from another thread.
 *
 * A request: { id, url, method, headers, body (an ArrayBuffer, moved here) }; the answer: { id, status, body (an
 * ArrayBuffer, moved back) } or { id, error }.
 */
parentPort?.on("message", async (m) => {
  try {
    const res = await fetch(m.url, { method: m.method ?? "GET", headers: m.headers ?? {}, ...(m.body ? { body: m.body } : {}) });
    const body = await res.arrayBuffer();
    parentPort?.postMessage({ id: m.id, status: res.status, body }, [body]);
  } catch (e) {
    parentPort?.postMessage({ id: m.id, error: e instanceof Error ? e.message : String(e) });
  }
});
