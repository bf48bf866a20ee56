/**
 * Argument checks shared by every Store. They run before anything is written, so a bad item
 * fails only its own caller: it never joins a group commit where it would take others down.
 */
import type { EnqueueItem, ItemKind } from './store.ts';

const KINDS: ReadonlySet<string> = new Set<ItemKind>(['event', 'ephemeral', 'toDevice', 'deviceList', 'keyCounts']);

/** Throws a TypeError naming the first malformed item; a programming error, not a store failure. */
export function checkEnqueueItems(items: readonly EnqueueItem[]): void {
  if (!Array.isArray(items)) throw new TypeError('enqueue(items): items must be an array');
  items.forEach((item, i) => {
    if (item === null || typeof item !== 'object') throw new TypeError(`enqueue(items): items[${i}] is not an object`);
    if (!KINDS.has(item.kind)) throw new TypeError(`enqueue(items): items[${i}].kind must be ${[...KINDS].join(', ')}`);
    if (typeof item.json !== 'string') throw new TypeError(`enqueue(items): items[${i}].json must be a string`);
    if (
      !Array.isArray(item.asIds) ||
      !(item.asIds as readonly unknown[]).every((id) => typeof id === 'string' && id !== '')
    ) {
      throw new TypeError(`enqueue(items): items[${i}].asIds must be an array of non-empty strings`);
    }
  });
}

/** An AS named twice in one item still gets the item once. */
export function uniqueAsIds(asIds: readonly string[]): readonly string[] {
  return asIds.length < 2 ? asIds : [...new Set(asIds)];
}
