/**
 * The application services of the soak, all on loopback: four MockAppServices (steady, flapping,
 * slow, flaky) and a bridge with matrix-appservice's body limit. Each keeps what it received and
 * deduplicates transactions by txnId, remembering every id it has seen.
 */
import type { Host } from '../../lib/index.ts';
import { MockAppService, testHost } from '../../lib/testing/index.ts';
import { BodyLimitedBridge, type DeliveredEvent } from './body-limited-bridge.ts';

export const SERVER = 'torture.test';
export const MOCK_IDS = ['steady', 'flapping', 'slow', 'flaky'] as const;
export type MockId = (typeof MOCK_IDS)[number];
export const BRIDGE = 'bridge';
export const AS_IDS = [...MOCK_IDS, BRIDGE] as const;
export type AsId = (typeof AS_IDS)[number];

/** A homeserver that knows no one: the soak only pushes. */
export const host: Host = testHost({ serverName: SERVER });

export interface SoakAses {
  readonly mocks: Record<MockId, MockAppService>;
  readonly bridge: BodyLimitedBridge;
  /** Every AS claims its own users and, non-exclusively, the shared `@all_` users. */
  readonly registrations: Record<string, unknown>[];
  /** What the AS accepted, in arrival order (after its txnId dedupe). */
  delivered(id: AsId): readonly DeliveredEvent[];
  /** TxnIds that came back with other content. */
  conflicts(id: AsId): number;
  transactions(id: AsId): number;
  /** The `<birth>` parts of every txnId any AS accepted. */
  births(): Set<string>;
  close(): Promise<void>;
}

/**
 * @example
 * const ases = await startAses();
 * const plugin = await appservices({ registrations: ases.registrations, host, store });
 */
export async function startAses(): Promise<SoakAses> {
  const started = await Promise.all(
    MOCK_IDS.map(async (id) => [id, await MockAppService.start({ hsToken: `torture-hs-${id}` })] as const),
  );
  const mocks = Object.fromEntries(started) as Record<MockId, MockAppService>;
  const bridge = await BodyLimitedBridge.start(`torture-hs-${BRIDGE}`);
  const url = (id: AsId): string => (id === BRIDGE ? bridge.url : mocks[id].url);
  return {
    mocks,
    bridge,
    registrations: AS_IDS.map((id) => ({
      id,
      url: url(id),
      as_token: `torture-as-${id}`,
      hs_token: `torture-hs-${id}`,
      sender_localpart: `${id}bot`,
      namespaces: { users: [{ exclusive: false, regex: `@(${id}|all)_.*` }], aliases: [], rooms: [] },
    })),
    delivered: (id) =>
      id === BRIDGE ? bridge.events : mocks[id].events.map((e) => (e as { content: DeliveredEvent }).content),
    conflicts: (id) => (id === BRIDGE ? bridge.conflicts.length : mocks[id].conflicts.length),
    transactions: (id) => (id === BRIDGE ? bridge.transactions : mocks[id].transactions.size),
    births: () => {
      const ids = MOCK_IDS.flatMap((id) => [...mocks[id].transactions.keys()]);
      return new Set([
        ...bridge.births,
        ...ids.map((txnId) => (txnId.includes('.') ? txnId.split('.')[0]! : '(none)')),
      ]);
    },
    close: async () => {
      await Promise.all([...MOCK_IDS.map((id) => mocks[id].close()), bridge.close()]);
    },
  };
}

export interface DeliveryCheck {
  delivered: number;
  duplicates: number;
  outOfOrder: number;
  unexpected: number;
}

/**
 * Counts what an AS received against what it should have: each event once, each publisher's
 * events in the order published, nothing it was not sent.
 *
 * @example
 * const { duplicates, outOfOrder } = checkDeliveries(ases.delivered('steady'), expected.steady);
 */
export function checkDeliveries(events: readonly DeliveredEvent[], expected: ReadonlySet<number>): DeliveryCheck {
  const seen = new Map<number, number>();
  const lastSeq = new Map<number, number>();
  let outOfOrder = 0;
  let unexpected = 0;
  for (const { n, p, seq } of events) {
    seen.set(n, (seen.get(n) ?? 0) + 1);
    if (!expected.has(n)) unexpected++;
    if ((lastSeq.get(p) ?? -1) >= seq) outOfOrder++;
    lastSeq.set(p, seq);
  }
  const duplicates = [...seen.values()].reduce((sum, count) => sum + count - 1, 0);
  return { delivered: seen.size, duplicates, outOfOrder, unexpected };
}

/**
 * Prints one line per AS (expected, delivered, duplicates, lost, order, txnId conflicts); false
 * when any AS lost, duplicated, reordered or was sent something it should not have.
 *
 * @example
 * if (!reportDeliveries(ases, expected, await missing())) failed = true;
 */
export function reportDeliveries(
  ases: SoakAses,
  expected: Record<AsId, ReadonlySet<number>>,
  undelivered: Record<AsId, number>,
): boolean {
  let ok = true;
  for (const id of AS_IDS) {
    const check = checkDeliveries(ases.delivered(id), expected[id]);
    const conflicts = ases.conflicts(id);
    if (undelivered[id] + check.duplicates + conflicts + check.outOfOrder + check.unexpected > 0) ok = false;
    console.log(
      `  ${id.padEnd(9)} expected ${expected[id].size}, delivered ${check.delivered}, duplicates after dedup ${check.duplicates}, ` +
        `lost ${undelivered[id]}, out of order ${check.outOfOrder}, unexpected ${check.unexpected}, ` +
        `transactions ${ases.transactions(id)}, txnId conflicts ${conflicts}`,
    );
  }
  return ok;
}
