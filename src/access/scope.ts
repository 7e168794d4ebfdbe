import { DomainError, errorMessage, notFound, THINGS, type Thing } from "../platform/errors.js";
import type { Role } from "./roles.js";

/**
 * The one access owner's scope rules (issue 16): where an object is, what a caller may reach, and what each route
 * declares it touches. The HTTP layer applies a route's declaration before its handler runs (`createAccess().check`);
 * handlers that answer lists or streams keep only what `sees` allows. Nothing else decides scope.
 */

/** Where an object is. `null`: in no town (a station's things) or at no station (a town's lights). */
export type Place = {
  town: string | null;
  station: string | null;
  /**
   * For everyone: a built-in or district-wide thing (a material for all stations, a silence for every town, a
   * district report). Any caller of the route's roles may read it; only a caller without limits may change it.
   */
  shared?: boolean;
};

/** The limits of a key or a user: `null` means no limit. A caller limited to towns reaches only those towns' things. */
export type Scope = { towns: readonly string[] | null; stations: readonly string[] | null };
export type Caller = Scope & { role: Role; name: string };

/** True when the caller has no limits (may change shared things). */
export const unlimited = (s: Scope): boolean => !s.towns && !s.stations;

/**
 * Whether a caller reaches a place: every limit the caller has must hold. A place in no town is outside a caller
 * limited to towns; a place at no station is outside a caller limited to stations.
 */
export function reaches(s: Scope | null, place: Place): boolean {
  if (!s) return false;
  if (s.towns && !(place.town !== null && s.towns.includes(place.town))) return false;
  if (s.stations && !(place.station !== null && s.stations.includes(place.station))) return false;
  return true;
}

/** Reads: the caller's places and shared things. */
export const sees = (s: Scope | null, place: Place): boolean => !!s && (reaches(s, place) || place.shared === true);

/** Writes: only the caller's places; a shared thing only by a caller without limits. */
export const mayChange = (s: Scope | null, place: Place): boolean => !!s && (place.shared === true ? unlimited(s) : reaches(s, place));

/** A list as the caller may see it. */
export const visibleRows = <T>(s: Scope | null, rows: readonly T[], placeOf: (row: T) => Place): T[] => rows.filter((r) => sees(s, placeOf(r)));

/**
 * The towns whose things (lights, claims) a caller reaches, for a query that must hold only those: its towns; none
 * when it is limited to stations (a town's lights are at no station); `undefined` when it has no limit.
 */
export function townsReached(s: Scope): string[] | undefined {
  if (s.stations) return [];
  return s.towns ? [...s.towns] : undefined;
}

/** A place from a request's `town` / `station` fields: neither given means every town and station (shared). */
export function placeOf(fields: { town?: string | null | undefined; station?: string | null | undefined }): Place {
  const town = fields.town ?? null;
  const station = fields.station ?? null;
  return town === null && station === null ? { town, station, shared: true } : { town, station };
}

/**
 * What a route touches, declared in its config next to its roles:
 * - `"public"`: nothing of anyone's (health, readiness);
 * - `"caller"`: only the caller's own account;
 * - `"everything"`: settings for the whole service (keys, channels, stations): callers without limits only;
 * - `"list"`: a list or stream; the handler keeps only rows the caller `sees`; a `town` or `station` in its query
 *   outside the caller's scope answers 403 (`filterPlace`);
 * - `"rows"`: an import; the handler refuses the whole file when a row is outside the caller's scope (`refuseRows`);
 * - `{ kind, from }`: one object, resolved to its place by the resolver the kind's owner defined. From `params`
 *   (its id): outside the caller's scope answers 404, as for an unknown id. From `query` or `body`: the fields that
 *   say where (`town`, `station`) outside answer 403; an object the body names by its id (`deviceId`, `lightIds`,
 *   `machineId`: the resolver answers it as `Named`) outside or unknown answers 404, as an unknown one does.
 *   `read: true` for a POST that changes nothing.
 */
export type Touches = "public" | "caller" | "everything" | "list" | "rows" | { kind: string; from: "params" | "query" | "body"; read?: true };

/**
 * An object a request names by its id in its body (a light to command, the lights of a work order, the machine to
 * start an order on): one unknown, or outside the caller's scope, answers 404 alike, naming neither town nor station.
 */
export type Named = { named: Thing; id: string; place: Place | null };
/** A resolver's answer: the places a request's fields say (`town`, `station`: outside answers 403) and the objects it names. */
export type Resolved = Place | Named | readonly (Place | Named)[] | null;
/**
 * Resolves an object (its id, or the request's query or body) to its place; `null` for an unknown object. `request`:
 * the whole request, for a route whose path names one object and whose body another.
 */
export type Resolver = (subject: unknown, caller: Scope, request: { query: unknown; body: unknown }) => Resolved | Promise<Resolved>;
/** The objects a body names by id, each with its place (null: unknown). */
export const named = (kind: Thing, ids: readonly string[], placeOfId: (id: string) => Place | null): Named[] =>
  ids.map((id) => ({ named: kind, id, place: placeOfId(id) }));

/** The `town` and `station` a list's query filters by: a place, or null when it filters by neither. */
export function filterPlace(query: unknown): Place | null {
  const q = (query ?? {}) as { town?: unknown; station?: unknown };
  const town = typeof q.town === "string" && q.town !== "" ? q.town : null;
  const station = typeof q.station === "string" && q.station !== "" ? q.station : null;
  return town === null && station === null ? null : { town, station };
}

export type Refusal = { status: 403 | 404; kind: string; id: string | null; outside: Place | null };

/** What the access owner knows of a route (the matrix test is generated from these). */
export type RouteDeclaration = { method: string; url: string; roles: readonly Role[] | "public"; touches: Touches };

/** A refusal as the API says it: 404 as for an unknown id, or 403 naming the place outside the caller's scope. */
export function scopeError(r: Refusal): DomainError {
  if (r.status === 404) return notFound((THINGS as readonly string[]).includes(r.kind) ? (r.kind as Thing) : "route", r.id ?? "");
  if (r.kind === "everything" || r.outside?.shared) return new DomainError("forbidden", errorMessage("out_of_scope", { everywhere: true }));
  return new DomainError(
    "forbidden",
    errorMessage("out_of_scope", {
      ...(r.outside?.town != null ? { town: r.outside.town } : {}),
      ...(r.outside?.station != null ? { station: r.outside.station } : {}),
    }),
  );
}

/** An import changes only the caller's places: the first row outside refuses the whole file (403). */
export function refuseRows<T>(s: Scope | null, rows: readonly T[], placeOfRow: (row: T) => Place): void {
  for (const row of rows) {
    const place = placeOfRow(row);
    if (!mayChange(s, place)) throw scopeError({ status: 403, kind: "rows", id: null, outside: place });
  }
}

export function createAccess() {
  const resolvers = new Map<string, Resolver>();
  // Fields that say where (`town`, `station`) in a request's query or body: neither given means everywhere.
  resolvers.set("place", (subject) => placeOf((subject ?? {}) as { town?: string; station?: string }));
  const routes: RouteDeclaration[] = [];

  const subjectOf = (t: { from: "params" | "query" | "body" }, req: { params: unknown; query: unknown; body: unknown }) => {
    if (t.from === "params") return String((req.params as { id?: unknown } | undefined)?.id ?? "");
    return (t.from === "query" ? req.query : req.body) ?? {};
  };

  return {
    /** The owner of a kind of object says how to find where one is. */
    define(kind: string, resolve: Resolver): void {
      if (resolvers.has(kind)) throw new Error(`access: kind "${kind}" is defined twice`);
      resolvers.set(kind, resolve);
    },
    /** Records a route's declaration; refuses a route that declares nothing or an unknown word. */
    declare(route: RouteDeclaration): void {
      routes.push(route);
    },
    routes: (): readonly RouteDeclaration[] => routes,
    /** Kinds declared by routes that no owner defined (checked once every route is registered). */
    undefinedKinds(): string[] {
      const kinds = new Set<string>();
      for (const r of routes) if (typeof r.touches === "object" && !resolvers.has(r.touches.kind)) kinds.add(r.touches.kind);
      return [...kinds];
    },
    /**
     * Applies a route's declaration to a request before its handler runs. Returns null when the caller may go on,
     * else what to answer. `everything` refuses callers with limits.
     */
    async check(
      touches: Touches,
      caller: Scope | null,
      req: { method: string; params: unknown; query: unknown; body: unknown },
    ): Promise<Refusal | null> {
      if (touches === "public" || touches === "caller" || touches === "rows") return null;
      if (touches === "list") {
        // a list filtered by a town or station outside the caller's scope is refused (403), not answered empty
        const f = filterPlace(req.query);
        return f === null || (caller && sees(caller, f)) ? null : { status: 403, kind: "list", id: null, outside: f };
      }
      if (!caller) return { status: 403, kind: "route", id: null, outside: null };
      if (touches === "everything") return unlimited(caller) ? null : { status: 403, kind: "everything", id: null, outside: null };
      const resolve = resolvers.get(touches.kind);
      if (!resolve) throw new Error(`access: no owner defined kind "${touches.kind}"`);
      const subject = subjectOf(touches, req);
      const resolved = await resolve(subject, caller, { query: req.query, body: req.body });
      const id = typeof subject === "string" ? subject : null;
      const read = touches.read === true || req.method === "GET" || req.method === "HEAD";
      const allowed = (p: Place) => (read ? sees(caller, p) : mayChange(caller, p));
      const all: readonly (Place | Named | null)[] = Array.isArray(resolved) ? resolved : [resolved as Place | Named | null];
      // objects named by id first: unknown or outside, 404 alike (a refusal must not say where an object is)
      for (const x of all) {
        if (x === null || !("named" in x)) continue;
        if (x.place === null || !allowed(x.place)) return { status: 404, kind: x.named, id: x.id, outside: null };
      }
      for (const x of all) {
        if (x !== null && "named" in x) continue;
        if (x === null) {
          if (touches.from === "params") return { status: 404, kind: touches.kind, id, outside: null };
          continue;
        }
        if (allowed(x)) continue;
        return touches.from === "params"
          ? { status: 404, kind: touches.kind, id, outside: null }
          : { status: 403, kind: touches.kind, id, outside: x };
      }
      return null;
    },
  };
}
export type Access = ReturnType<typeof createAccess>;
