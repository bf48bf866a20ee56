/**
 * `publish(event)`: decide which ASes want it and append it to their durable queues.
 *
 * Group commit: publishes that arrive while a store write is running are gathered and written
 * together in the next one, so a burst costs a few store transactions instead of one per event,
 * and the store is not the bottleneck. Order: items are written in the order `publish*()` was
 * called, even though deciding interest is asynchronous (it may ask the host), so two events
 * published back to back reach every AS in that order. A publish resolves only once its batch is
 * committed: then the items are durable.
 */
import {
  assertEphemeralEvent,
  assertMatrixEvent,
  assertToDeviceMessage,
  type EphemeralEvent,
  type MatrixEvent,
  type ToDeviceMessage,
} from '../events.ts';
import { InvalidEventError } from '../errors.ts';
import type { Interest } from '../interest.ts';
import { ephemeralItems } from './ephemeral-routing.ts';
import type { Registration } from '../registration/registration.ts';
import type { EnqueueItem, EnqueueOptions, ItemKind, Store } from '../store/store.ts';

export type { EphemeralEvent, MatrixEvent, ToDeviceMessage } from '../events.ts';

/** The part of Interest the publisher uses (`interestedInNow` is a shortcut it does without). */
type InterestLike = Pick<
  Interest,
  'interestedIn' | 'interestedInEphemeral' | 'interestedInToDevice' | 'observe' | 'ownersOf'
> &
  Partial<Pick<Interest, 'interestedInNow'>>;

export interface PublisherOptions {
  /** Publishes written in one store transaction at most. Default 2000. */
  readonly maxBatch?: number;
}

/**
 * What will be queued for a publish: one item, several (an ephemeral event that not every AS may
 * see whole: one item per view, in the same commit), or nothing; known at once, or once interest
 * has asked the host.
 */
type Queued = EnqueueItem | readonly EnqueueItem[] | null;
type Prepared = Queued | Promise<Queued>;

interface Slot {
  readonly prepared: Prepared;
  resolve(asIds: readonly string[]): void;
  reject(error: unknown): void;
}

/**
 * Turns published events into queued items.
 *
 * @example
 * const publisher = new Publisher({ store, interest, registrations, onEnqueued: (ids) => senders.notify(ids) });
 * const asIds = await publisher.publish(event); // durable for every AS in asIds
 */
export class Publisher {
  readonly #store: Store;
  readonly #interest: InterestLike;
  /** Only these ids are queued for: ASes with a url, in registration order. */
  readonly #pushable: ReadonlySet<string>;
  readonly #onEnqueued: ((asIds: readonly string[]) => void) | undefined;
  readonly #maxBatch: number;
  #pending: Slot[] = [];
  #flushing = false;

  constructor(
    deps: {
      store: Store;
      interest: InterestLike;
      registrations: readonly Registration[];
      onEnqueued?: (asIds: readonly string[]) => void;
    },
    options: PublisherOptions = {},
  ) {
    this.#store = deps.store;
    this.#interest = deps.interest;
    this.#pushable = new Set(deps.registrations.filter((r) => r.url !== null).map((r) => r.id));
    this.#onEnqueued = deps.onEnqueued;
    this.#maxBatch = options.maxBatch ?? 2000;
    if (!Number.isInteger(this.#maxBatch) || this.#maxBatch < 1)
      throw new TypeError(`maxBatch must be a positive integer, got ${this.#maxBatch}`);
  }

  /**
   * Queues a room event for every interested AS; resolves with their ids once it is durable.
   * Rejects with InvalidEventError, naming the field, for malformed input (nothing is queued).
   *
   * @example
   * const asIds = await publisher.publish({ event_id: '$1', room_id: '!r:hs', type: 'm.room.message', sender: '@irc_bob:hs', content: { body: 'hi' } });
   */
  publish(event: MatrixEvent, options?: EnqueueOptions): Promise<readonly string[]> {
    try {
      assertMatrixEvent(event);
      const json = serialise('event', event);
      // Observed before interest is asked, so a membership change is seen by this very event.
      this.#interest.observe(event);
      if (options?.client !== undefined) return this.#outbox(event, json, options);
      // Most events need no host call: no promise per event for them.
      const now = this.#interest.interestedInNow?.(event);
      if (now !== undefined) return this.#commit(this.#item('event', json, now));
      return this.#commit(this.#interest.interestedIn(event).then((regs) => this.#item('event', json, regs)));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Queues an ephemeral event (typing, receipt, presence) for the ASes that asked for them.
   *
   * @example
   * await publisher.publishEphemeral({ type: 'm.typing', room_id: '!r:hs', content: { user_ids: ['@a:hs'] } });
   */
  publishEphemeral(edu: EphemeralEvent): Promise<readonly string[]> {
    try {
      assertEphemeralEvent(edu);
      const json = serialise('ephemeral', edu);
      return this.#commit(
        this.#interest.interestedInEphemeral(edu).then((regs) => this.#ephemeralItems(edu, json, regs)),
      );
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Queues a to-device message for the AS that owns its recipient, if it asked for them.
   *
   * @example
   * await publisher.publishToDevice({ type: 'm.room_key', sender: '@a:hs', to_user_id: '@irc_b:hs', to_device_id: 'D', content: {} });
   */
  publishToDevice(message: ToDeviceMessage): Promise<readonly string[]> {
    try {
      assertToDeviceMessage(message);
      const json = serialise('toDevice', message);
      return this.#commit(this.#item('toDevice', json, this.#interest.interestedInToDevice(message)));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Queues items routed elsewhere (device lists and key counts: device-routing.ts) through the
   * same group commit, in call order with every other publish; resolves with their AS ids once
   * durable. The items must name only ASes with a url.
   *
   * @example
   * await publisher.publishItems(routing.keyCountsItems(counts));
   */
  publishItems(prepared: readonly EnqueueItem[] | Promise<readonly EnqueueItem[]>): Promise<readonly string[]> {
    return this.#commit(prepared);
  }

  /**
   * The outbox: the items join the homeserver's own open transaction (PostgresStore), outside the
   * group commit, and commit or roll back with its event write. Senders are not told here: the
   * items are invisible until the homeserver commits, and the store notifies on commit.
   */
  async #outbox(event: MatrixEvent, json: string, options: EnqueueOptions): Promise<readonly string[]> {
    const item = this.#item(
      'event',
      json,
      this.#interest.interestedInNow?.(event) ?? (await this.#interest.interestedIn(event)),
    );
    if (item === null) return [];
    await this.#store.enqueue([item], options);
    return item.asIds;
  }

  #item(kind: ItemKind, json: string, regs: readonly Registration[]): EnqueueItem | null {
    const asIds = regs.filter((r) => this.#pushable.has(r.id)).map((r) => r.id);
    return asIds.length === 0 ? null : { kind, json, asIds };
  }

  /** Private read receipts only for the reader's own ASes: a receipt may become one item per view. */
  #ephemeralItems(edu: EphemeralEvent, json: string, regs: readonly Registration[]): readonly EnqueueItem[] {
    const pushable = regs.filter((r) => this.#pushable.has(r.id));
    return ephemeralItems(edu, json, pushable, (userId) => this.#interest.ownersOf(userId));
  }

  #commit(prepared: Prepared): Promise<readonly string[]> {
    // Keep a rejection of `prepared` from being reported as unhandled before the flush reads it.
    if (prepared instanceof Promise) prepared.catch(() => {});
    return new Promise((resolve, reject) => {
      this.#pending.push({ prepared, resolve, reject });
      if (!this.#flushing) {
        this.#flushing = true;
        // A microtask later, so that publishes made in the same tick share the first commit.
        queueMicrotask(() => void this.#flush());
      }
    });
  }

  async #flush(): Promise<void> {
    try {
      while (this.#pending.length > 0) {
        const batch = this.#pending.splice(0, this.#maxBatch);
        const items: EnqueueItem[] = [];
        const committed: { slot: Slot; asIds: readonly string[] }[] = [];
        // In call order; the pending ones were asked concurrently, so waiting in turn costs nothing.
        for (const slot of batch) {
          let queued: Queued;
          try {
            queued = slot.prepared instanceof Promise ? await slot.prepared : slot.prepared;
          } catch (error) {
            slot.reject(error);
            continue;
          }
          if (queued === null) slot.resolve([]);
          else if ('json' in queued) {
            items.push(queued);
            committed.push({ slot, asIds: queued.asIds });
          } else if (queued.length === 0) slot.resolve([]);
          else {
            // All of one publish's items go into this one commit, in order: each AS is in one of them.
            items.push(...queued);
            const ids = new Set(queued.flatMap((item) => item.asIds));
            committed.push({ slot, asIds: [...this.#pushable].filter((id) => ids.has(id)) });
          }
        }
        if (items.length === 0) continue;
        try {
          await this.#store.enqueue(items);
        } catch (error) {
          for (const { slot } of committed) slot.reject(error);
          continue;
        }
        const all = new Set<string>();
        for (const { slot, asIds } of committed) {
          for (const id of asIds) all.add(id);
          slot.resolve(asIds);
        }
        try {
          this.#onEnqueued?.([...all]);
        } catch {
          // The items are durable; a failing hook only delays them until the next notify.
        }
      }
    } finally {
      this.#flushing = false;
    }
  }
}

function serialise(what: string, value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch (error) {
    throw new InvalidEventError(`${what}: cannot be serialised as JSON (${(error as Error).message})`);
  }
}
