/**
 * The one rule by which every store cuts a transaction from an AS's queue: take the oldest items
 * in order and stop before the first item that does not fit, whether its kind has reached its
 * count limit or it would take the batch over the byte limit. Stopping (rather than skipping the
 * item and taking later ones) keeps the AS's items in publish order across transactions.
 */
import { pushDefaults } from '../options.ts';
import type { BatchLimits, DeviceItemKind, ItemKind, QueuedItem } from './store.ts';

const KINDS: readonly Exclude<ItemKind, DeviceItemKind>[] = ['event', 'ephemeral', 'toDevice'];
const DEVICE_KINDS: readonly DeviceItemKind[] = ['deviceList', 'keyCounts'];

/**
 * The limit of a kind: the MSC3202 kinds' limits are optional in `BatchLimits` (callers written
 * for the older kinds leave them out) and then take the push default.
 */
function limitOf(limits: BatchLimits, kind: ItemKind): number {
  return limits[kind] ?? pushDefaults.limits[kind];
}

/**
 * One batch being cut: offer it the queue's items in order until `take` says no.
 *
 * @example
 * ```ts
 * const cut = new BatchCut({ event: 100, ephemeral: 100, toDevice: 100 });
 * for (const item of queued) if (!cut.take(item)) break;
 * if (cut.items.length > 0) store(build(cut.items), cut.counts);
 * ```
 */
export class BatchCut {
  readonly #limits: BatchLimits;
  readonly items: QueuedItem[] = [];
  /** By kind; the MSC3202 kinds appear once the batch takes one (see `ItemCounts`). */
  readonly counts: Record<Exclude<ItemKind, DeviceItemKind>, number> & Partial<Record<DeviceItemKind, number>> = {
    event: 0,
    ephemeral: 0,
    toDevice: 0,
  };
  #bytes = 0;
  #full = false;

  constructor(limits: BatchLimits) {
    this.#limits = limits;
  }

  /** True once an item was refused: the batch stopped at a limit with items left behind it. */
  get full(): boolean {
    return this.#full;
  }

  /**
   * Adds `item` when it fits and returns true; returns false, adding nothing, when the batch must
   * end before it. An item larger than the byte limit on its own still makes a batch of one:
   * the queue must move, and what to do with an item the AS refuses is the sender's decision.
   */
  take(item: QueuedItem): boolean {
    if (this.#full) return false;
    const taken = this.counts[item.kind] ?? 0;
    if (taken >= limitOf(this.#limits, item.kind)) return this.#stop();
    const maxBytes = this.#limits.bytes;
    if (maxBytes !== undefined) {
      // The JSON text as sent, plus the comma that separates it from its neighbour in the body.
      const size = Buffer.byteLength(item.json) + 1;
      if (this.items.length > 0 && this.#bytes + size > maxBytes) return this.#stop();
      this.#bytes += size;
    }
    this.counts[item.kind] = taken + 1;
    this.items.push(item);
    return true;
  }

  /** The most rows a batch can take: read this many (plus one, to learn whether more follow). */
  static maxItems(limits: BatchLimits): number {
    return (
      limits.event + limits.ephemeral + limits.toDevice + limitOf(limits, 'deviceList') + limitOf(limits, 'keyCounts')
    );
  }

  #stop(): false {
    this.#full = true;
    return false;
  }
}

/**
 * Cuts one batch from `items` (in queue order).
 *
 * @example
 * ```ts
 * const { items, counts } = cutBatch(rows, limits);
 * ```
 */
export function cutBatch(items: Iterable<QueuedItem>, limits: BatchLimits): BatchCut {
  const cut = new BatchCut(limits);
  for (const item of items) if (!cut.take(item)) break;
  return cut;
}

/**
 * Limits must let at least one item of each kind through, or a queue could never drain; a byte
 * limit, when given, must be a positive integer. A TypeError: a programming error, not a store
 * failure.
 */
export function checkLimits(limits: BatchLimits): void {
  for (const kind of KINDS) {
    const limit = limits?.[kind];
    if (!Number.isSafeInteger(limit) || limit < 1) {
      throw new TypeError(`createTransaction(): limits.${kind} must be a positive integer`);
    }
  }
  const bytes = limits.bytes;
  if (bytes !== undefined && (!Number.isSafeInteger(bytes) || bytes < 1)) {
    throw new TypeError('createTransaction(): limits.bytes must be a positive integer when given');
  }
  for (const kind of DEVICE_KINDS) {
    const limit = limits[kind];
    if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 1)) {
      throw new TypeError(`createTransaction(): limits.${kind} must be a positive integer when given`);
    }
  }
}

/**
 * Runs the sender's `build` on a cut batch and refuses anything but a string, before any store
 * writes it: a store keeps exactly the body it is given, and a retry must send those bytes again.
 *
 * @example
 * const body = buildBody((items) => `[${items.map((i) => i.json).join(',')}]`, cut.items);
 */
export function buildBody(build: (items: readonly QueuedItem[]) => string, items: readonly QueuedItem[]): string {
  const body = build(items);
  if (typeof body !== 'string') throw new TypeError('createTransaction(): build() must return a string');
  return body;
}
