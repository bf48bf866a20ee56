/**
 * The two decisions `Interest` makes for every event that depend on all the ASes: whether some AS
 * not yet interested could still be through the room's facts, and the interested ones in
 * registration order. Both were a pass over every registration; with a thousand ASes and an event
 * that concerns one or two, they are answered from the few found ones instead.
 */
import type { Registration } from './registration/registration.ts';

/**
 * The pushable registrations (those with a url), in registration order.
 *
 * @example
 * const order = new PushableOrder(pushable);
 * order.toAsk(found, pushable); // 'members'
 * order.ordered(found, pushable); // found, in registration order
 */
export class PushableOrder {
  readonly #all: readonly Registration[];
  readonly #index: ReadonlyMap<Registration, number>;
  readonly #aliasCapable: number;

  constructor(pushable: readonly Registration[]) {
    this.#all = pushable;
    this.#index = new Map(pushable.map((r, i) => [r, i]));
    this.#aliasCapable = pushable.filter((r) => r.namespaces.aliases.length > 0).length;
  }

  /** Which room facts could still add a candidate: none, the members only, or the aliases too. */
  toAsk(found: ReadonlySet<Registration>, candidates: readonly Registration[]): 'none' | 'members' | 'both' {
    // Every pushable AS as candidates (room events): `found` holds only pushable ones, so counting
    // what it holds answers.
    if (candidates === this.#all) {
      if (found.size === candidates.length) return 'none';
      let aliasCapableFound = 0;
      for (const r of found) if (r.namespaces.aliases.length > 0) aliasCapableFound++;
      return aliasCapableFound < this.#aliasCapable ? 'both' : 'members';
    }
    let ask: 'none' | 'members' = 'none';
    for (const r of candidates) {
      if (found.has(r)) continue;
      if (r.namespaces.aliases.length > 0) return 'both';
      ask = 'members';
    }
    return ask;
  }

  /** The candidates in `found`, in registration order. */
  ordered(found: ReadonlySet<Registration>, candidates: readonly Registration[]): readonly Registration[] {
    if (found.size === 0) return [];
    if (candidates === this.#all && found.size * 8 < candidates.length) {
      const index = this.#index;
      return [...found].sort((a, b) => index.get(a)! - index.get(b)!);
    }
    return candidates.filter((r) => found.has(r));
  }
}
