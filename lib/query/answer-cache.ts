/**
 * The answers of the blocking queries, each kept for its own time, at most `maxEntries` of them,
 * the oldest written dropped first.
 *
 * Why not lru-cache, as elsewhere in the library: with a TTL its `get` and `set` keep per-entry
 * start and TTL arrays, a cached clock and status bookkeeping, about 2 µs of every uncached query
 * (one read, one write) on a ~70 µs loopback round trip. Oldest written rather than least recently
 * read: every answer of a kind lives equally long, so the oldest is also the nearest to expiring,
 * and a read stays a plain Map lookup (moving an entry to the end of a Map on every read, the usual
 * Map LRU, costs V8 a rehash of the table every few reads: ~13 µs per cached hit at 7,000 entries).
 */

interface Entry<V> {
  readonly key: string;
  readonly value: V;
  readonly expiresAt: number;
}

/**
 * @example
 * const cache = new AnswerCache<'exists' | 'absent'>(10_000);
 * cache.set('u:@irc_bob:example.org', 'exists', 600_000);
 * cache.get('u:@irc_bob:example.org'); // 'exists', for ten minutes
 */
export class AnswerCache<V> {
  readonly #maxEntries: number;
  readonly #entries = new Map<string, Entry<V>>();
  /**
   * Every entry written, in order, as a ring of `maxEntries` slots: writing into a full ring drops
   * the entry in the slot it takes, unless that key has been written again since (then the slot was
   * stale). So the Map never holds more than `maxEntries` and is never iterated.
   */
  readonly #written: Entry<V>[] = [];
  #next = 0;

  constructor(maxEntries: number) {
    this.#maxEntries = maxEntries;
  }

  /** The value, unless it was never set, has expired or was dropped for room. */
  get(key: string): V | undefined {
    const entry = this.#entries.get(key);
    return entry !== undefined && performance.now() < entry.expiresAt ? entry.value : undefined;
  }

  /** Keeps `value` for `ttlMs` (0: not at all), dropping the oldest entry written if full. */
  set(key: string, value: V, ttlMs: number): void {
    if (ttlMs <= 0) {
      this.#entries.delete(key);
      return;
    }
    const entry: Entry<V> = { key, value, expiresAt: performance.now() + ttlMs };
    this.#entries.set(key, entry);
    if (this.#written.length < this.#maxEntries) {
      this.#written.push(entry);
      return;
    }
    const dropped = this.#written[this.#next]!;
    if (this.#entries.get(dropped.key) === dropped) this.#entries.delete(dropped.key);
    this.#written[this.#next] = entry;
    this.#next = (this.#next + 1) % this.#maxEntries;
  }

  /** Entries held now, expired ones not yet overwritten or dropped included. */
  get size(): number {
    return this.#entries.size;
  }
}
