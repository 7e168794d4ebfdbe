/** The few API calls a simulator needs: register a device, or issue a new secret for one that exists. */
export type Credentials = { id: string; secret: string };

export async function ensureDevice(apiUrl: string, key: string, body: Record<string, unknown> & { id: string }): Promise<Credentials> {
  const headers = { authorization: `Bearer ${key}`, "content-type": "application/json" };
  const res = await fetch(`${apiUrl}/api/v1/devices`, { method: "POST", headers, body: JSON.stringify(body) });
  if (res.status === 201) return (await res.json()) as Credentials;
  if (res.status === 409) {
    // Registered by an earlier run: its secret is not recoverable, so issue a new one.
    const rot = await fetch(`${apiUrl}/api/v1/devices/${body.id}/secret`, { method: "POST", headers: { authorization: headers.authorization } });
    if (rot.ok) return (await rot.json()) as Credentials;
    throw new Error(`could not issue a secret for ${body.id}: ${rot.status} ${await rot.text()}`);
  }
  throw new Error(`could not register ${body.id}: ${res.status} ${await res.text()}`);
}
