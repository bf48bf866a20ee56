/**
 * Third-party lookups (spec: Application Service API, "Third-party networks") fanned out to the
 * ASes that declare a protocol. Clients choose the queries, so what they cost the ASes is bounded:
 * each AS gets at most a few lookups at once (more wait, within the deadline, in a bounded
 * queue), and an answer is kept briefly per (kind, protocol, query), so a client repeating a
 * lookup, or many clients asking the same, make one AS request. Concurrent identical lookups
 * share one fan-out.
 */
import { LRUCache } from 'lru-cache';
import { MatrixError } from '../errors.ts';
import type { LimitHook } from '../metrics.ts';
import type { Registration } from '../registration/registration.ts';
import { isRecord } from './json-body.ts';

export type ThirdpartyKind = 'protocol' | 'location' | 'user';

/** The part of AppserviceClient third-party lookups use. */
export interface ThirdpartyClient {
  thirdparty(
    kind: ThirdpartyKind,
    protocol: string | null,
    query: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<unknown>;
}

export interface ThirdpartyOptions {
  /** Bound on each AS's answer, queueing included. Default 10 000. */
  deadlineMs?: number;
  /** Lookups one AS gets at once. Default 4. */
  concurrencyPerAppservice?: number;
  /** How long an answer is reused for the same lookup. Default 30 000; 0 turns the cache off. */
  cacheTtlMs?: number;
  /** Answers kept at most. Default 1 000. */
  cacheMaxEntries?: number;
  /** Told when a lookup is refused for a full queue, an answer evicted for room, a query too long to cache. */
  onLimit?: LimitHook;
}

export const THIRDPARTY_DEFAULTS = {
  deadlineMs: 10_000,
  concurrencyPerAppservice: 4,
  cacheTtlMs: 30_000,
  cacheMaxEntries: 1_000,
} as const;

/** Lookups waiting for one AS beyond its concurrency; more fail at once (that AS answers nothing). */
const MAX_WAITING_PER_APPSERVICE = 64;
/** Cached answers together, in characters of their JSON. */
const CACHE_MAX_CHARS = 4 * 1024 * 1024;
/** A query longer than this (its key) is asked but not cached. */
const MAX_CACHED_KEY_CHARS = 2048;

type Protocols = Record<string, Record<string, unknown>>;

/** At most `limit` holders at once; the rest wait in order, up to a bound, until their signal aborts. */
class Slots {
  #active = 0;
  readonly #waiting: (() => void)[] = [];
  constructor(
    readonly limit: number,
    readonly onFull: (() => void) | undefined,
  ) {}

  async run<T>(signal: AbortSignal, task: () => Promise<T>): Promise<T> {
    if (this.#active >= this.limit) await this.#wait(signal);
    else this.#active++;
    try {
      return await task();
    } finally {
      const next = this.#waiting.shift();
      if (next === undefined) this.#active--;
      else next();
    }
  }

  #wait(signal: AbortSignal): Promise<void> {
    if (this.#waiting.length >= MAX_WAITING_PER_APPSERVICE) {
      this.onFull?.();
      return Promise.reject(new Error('too many lookups waiting'));
    }
    return new Promise((resolve, reject) => {
      const turn = () => {
        signal.removeEventListener('abort', gone);
        resolve();
      };
      const gone = () => {
        const at = this.#waiting.indexOf(turn);
        if (at !== -1) this.#waiting.splice(at, 1);
        reject(signal.reason);
      };
      signal.addEventListener('abort', gone, { once: true });
      this.#waiting.push(turn);
    });
  }
}

/**
 * @example
 * const lookups = new ThirdpartyLookups({ registry, clientFor }, { deadlineMs: 10_000 });
 * ctx.body = await lookups.lookup('location', 'irc', { channel: '#matrix' });
 */
export class ThirdpartyLookups {
  readonly #registry: { readonly all: readonly Registration[] };
  readonly #clientFor: (asId: string) => ThirdpartyClient | undefined;
  readonly #options: Required<Omit<ThirdpartyOptions, 'onLimit'>>;
  readonly #onLimit: LimitHook | undefined;
  readonly #slots = new Map<string, Slots>();
  readonly #cache: LRUCache<string, Protocols | unknown[]> | undefined;
  readonly #inFlight = new Map<string, Promise<{ value: Protocols | unknown[]; complete: boolean }>>();

  constructor(
    deps: {
      registry: { readonly all: readonly Registration[] };
      clientFor(asId: string): ThirdpartyClient | undefined;
    },
    options: ThirdpartyOptions = {},
  ) {
    this.#registry = deps.registry;
    this.#clientFor = (asId) => deps.clientFor(asId);
    const { onLimit, ...rest } = options;
    this.#options = { ...THIRDPARTY_DEFAULTS, ...rest };
    this.#onLimit = onLimit;
    const { cacheTtlMs, cacheMaxEntries } = this.#options;
    this.#cache =
      cacheTtlMs > 0
        ? new LRUCache({
            max: cacheMaxEntries,
            ttl: cacheTtlMs,
            maxSize: CACHE_MAX_CHARS,
            sizeCalculation: (v) => Math.max(1, JSON.stringify(v).length),
            // 'evict' is an answer pushed out for room (count or characters), not one that expired.
            ...(onLimit === undefined
              ? {}
              : { dispose: (_value, _key, reason) => void (reason === 'evict' && onLimit('thirdparty_cache')) }),
          })
        : undefined;
  }

  /** Every AS declaring each protocol (or `only`), asked in parallel; instances merged, other fields from the first answer. */
  async protocols(only: string | undefined): Promise<Protocols> {
    return (await this.#shared(['protocol', only ?? null], () => this.#protocols(only))) as Protocols;
  }

  /** Locations or users from every AS asked, concatenated; none at all is the spec's 404. */
  async lookup(kind: 'location' | 'user', protocol: string | null, fields: Record<string, string>): Promise<unknown[]> {
    const all = (await this.#shared([kind, protocol, Object.entries(fields).sort()], () =>
      this.#lookup(kind, protocol, fields),
    )) as unknown[];
    if (all.length === 0)
      throw new MatrixError(404, 'M_NOT_FOUND', `No ${kind === 'location' ? 'portal rooms' : 'users'} were found.`);
    return all;
  }

  /** The cached answer, the fan-out already under way for the same lookup, or a new one. */
  async #shared(
    keyParts: unknown[],
    run: () => Promise<{ value: Protocols | unknown[]; complete: boolean }>,
  ): Promise<Protocols | unknown[]> {
    const key = JSON.stringify(keyParts);
    const cacheable = this.#cache !== undefined && key.length <= MAX_CACHED_KEY_CHARS;
    if (!cacheable && this.#cache !== undefined) this.#onLimit?.('thirdparty_uncached');
    const cached = cacheable ? this.#cache!.get(key) : undefined;
    if (cached !== undefined) return cached;
    let pending = this.#inFlight.get(key);
    if (pending === undefined) {
      pending = run().finally(() => this.#inFlight.delete(key));
      this.#inFlight.set(key, pending);
      // An answer missing an AS that failed is not kept: the next lookup asks it again.
      void pending.then(({ value, complete }) => {
        if (cacheable && complete) this.#cache!.set(key, value);
      });
    }
    return (await pending).value;
  }

  async #protocols(only: string | undefined): Promise<{ value: Protocols; complete: boolean }> {
    const asks: { protocol: string; reg: Registration }[] = [];
    for (const reg of this.#registry.all) {
      if (reg.url === null) continue;
      for (const protocol of reg.protocols) if (only === undefined || protocol === only) asks.push({ protocol, reg });
    }
    const answers = await Promise.all(asks.map(({ protocol, reg }) => this.#askOne(reg, 'protocol', protocol, {})));
    const merged: Protocols = {};
    asks.forEach(({ protocol, reg }, i) => {
      const answer = answers[i];
      if (!isRecord(answer)) return;
      // Opaque to clients, but `/publicRooms` gets it back as `third_party_instance_id` and must
      // find the AS's list from it: Synapse's `<appservice id>|<network id>` (registration ids cannot
      // hold a `|`), and like Synapse only for instances that name their network.
      const instances = (Array.isArray(answer.instances) ? answer.instances : [])
        .filter(isRecord)
        .map((instance) =>
          typeof instance.network_id === 'string'
            ? { ...instance, instance_id: `${reg.id}|${instance.network_id}` }
            : instance,
        );
      const existing = merged[protocol];
      if (existing === undefined) merged[protocol] = { ...answer, instances };
      else existing.instances = [...(existing.instances as unknown[]), ...instances];
    });
    return { value: merged, complete: !answers.includes(undefined) };
  }

  async #lookup(
    kind: 'location' | 'user',
    protocol: string | null,
    fields: Record<string, string>,
  ): Promise<{ value: unknown[]; complete: boolean }> {
    const regs =
      protocol === null
        ? // The reverse lookups (by alias, by user id) name no protocol: ask every AS that has any.
          this.#registry.all.filter((r) => r.url !== null && r.protocols.length > 0)
        : this.#registry.all.filter((r) => r.url !== null && r.protocols.includes(protocol));
    const answers = await Promise.all(regs.map((reg) => this.#askOne(reg, kind, protocol, fields)));
    const value = answers.flatMap((a) => (Array.isArray(a) ? a.filter(isRecord) : []));
    return { value, complete: !answers.includes(undefined) };
  }

  /** One AS's answer, or undefined when it failed: one broken bridge must not hide the others. */
  async #askOne(
    reg: Registration,
    kind: ThirdpartyKind,
    protocol: string | null,
    query: Record<string, string>,
  ): Promise<unknown> {
    const client = this.#clientFor(reg.id);
    if (client === undefined) return undefined;
    let slots = this.#slots.get(reg.id);
    if (slots === undefined)
      this.#slots.set(
        reg.id,
        (slots = new Slots(this.#options.concurrencyPerAppservice, onFull(this.#onLimit, reg.id))),
      );
    const signal = AbortSignal.timeout(this.#options.deadlineMs);
    try {
      return await slots.run(signal, () => client.thirdparty(kind, protocol, query, signal));
    } catch {
      return undefined;
    }
  }
}

/** The hook a full queue of one AS calls, if any. */
function onFull(onLimit: LimitHook | undefined, asId: string): (() => void) | undefined {
  return onLimit === undefined ? undefined : () => onLimit('thirdparty_queue', asId);
}
