/**
 * What each interested AS may see of one ephemeral event.
 *
 * Typing and presence, and receipts without private entries, are the same for every AS: one queue
 * item. A receipt carrying private read receipts (`m.read.private`) is not: the AS API ("Pushing
 * EDUs") sends them "only for users matching one of the application service's namespaces", so each
 * AS gets the receipt with the other users' private entries removed, and nothing at all when no
 * entry is left. The ASes that may see the same entries share one item, so a receipt becomes as
 * few items as there are distinct views, all written in the same store transaction.
 */
import type { EphemeralEvent } from '../events.ts';
import type { Registration } from '../registration/registration.ts';
import type { EnqueueItem } from '../store/store.ts';

/** The receipt type that only the reader's own ASes may see (client-server API, private read receipts). */
export const PRIVATE_READ = 'm.read.private';

type Receipts = Readonly<Record<string, unknown>>;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The queue items for an ephemeral event already routed to `regs` (in registration order):
 * one item for all of them, or one per distinct view of a receipt's private entries.
 *
 * @example
 * const items = ephemeralItems(edu, JSON.stringify(edu), regs, (userId) => interest.ownersOf(userId));
 * await store.enqueue(items);
 */
export function ephemeralItems(
  edu: EphemeralEvent,
  json: string,
  regs: readonly Registration[],
  ownersOf: (userId: string) => ReadonlySet<Registration>,
): EnqueueItem[] {
  if (regs.length === 0) return [];
  const found = edu.type === 'm.receipt' ? privateReaders(edu.content) : null;
  if (found === null) return [{ kind: 'ephemeral', json, asIds: regs.map((r) => r.id) }];
  const readers = [...found.readers];

  // Group the ASes by the private readers they may see: one item per group.
  const owners = new Map(readers.map((userId) => [userId, ownersOf(userId)]));
  const groups = new Map<string, { visible: ReadonlySet<string>; asIds: string[] }>();
  for (const reg of regs) {
    const visible = readers.filter((userId) => owners.get(userId)?.has(reg) === true);
    const key = JSON.stringify(visible);
    const group = groups.get(key);
    if (group === undefined) groups.set(key, { visible: new Set(visible), asIds: [reg.id] });
    else group.asIds.push(reg.id);
  }
  const items: EnqueueItem[] = [];
  for (const { visible, asIds } of groups.values()) {
    // Sees every private entry: the event as published, bytes unchanged.
    if (visible.size === readers.length && !found.malformed) {
      items.push({ kind: 'ephemeral', json, asIds });
      continue;
    }
    const content = withoutHiddenReceipts(edu.content, visible);
    if (content !== null) items.push({ kind: 'ephemeral', json: JSON.stringify({ ...edu, content }), asIds });
  }
  return items;
}

/**
 * The users with a private read receipt in a receipt's content, in order of appearance; null when
 * there is no private entry (the common case: no copy is made). A private entry that is not a map
 * of users is `malformed`: nobody may see it.
 */
function privateReaders(content: Receipts): { readers: ReadonlySet<string>; malformed: boolean } | null {
  let readers: Set<string> | null = null;
  let malformed = false;
  for (const receipts of Object.values(content)) {
    if (!isObject(receipts) || !Object.hasOwn(receipts, PRIVATE_READ)) continue;
    readers ??= new Set();
    const byUser = receipts[PRIVATE_READ];
    if (!isObject(byUser)) malformed = true;
    else for (const userId of Object.keys(byUser)) readers.add(userId);
  }
  return readers === null ? null : { readers, malformed };
}

/** The receipt content with the private entries of users not in `visible` removed; null when empty. */
function withoutHiddenReceipts(content: Receipts, visible: ReadonlySet<string>): Record<string, unknown> | null {
  const out: Record<string, unknown> = {};
  for (const [eventId, receipts] of Object.entries(content)) {
    if (!isObject(receipts) || !Object.hasOwn(receipts, PRIVATE_READ)) {
      out[eventId] = receipts;
      continue;
    }
    const kept: Record<string, unknown> = {};
    for (const [receiptType, byUser] of Object.entries(receipts)) {
      if (receiptType !== PRIVATE_READ) kept[receiptType] = byUser;
    }
    const byUser = receipts[PRIVATE_READ];
    if (isObject(byUser)) {
      const mine = Object.entries(byUser).filter(([userId]) => visible.has(userId));
      if (mine.length > 0) kept[PRIVATE_READ] = Object.fromEntries(mine);
    }
    if (Object.keys(kept).length > 0) out[eventId] = kept;
  }
  return Object.keys(out).length > 0 ? out : null;
}
