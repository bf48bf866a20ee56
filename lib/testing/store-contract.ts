import { describe } from 'mocha';
import { oversizeContractTests } from './oversize-contract.ts';
import { deviceKindContractTests } from './store-contract-devices.ts';
import { pipelinedContractTests } from './store-contract-pipelined.ts';
import { queueContractTests } from './store-contract-queue.ts';
import { rebuildContractTests } from './store-contract-rebuild.ts';
import { reopenContractTests } from './store-contract-reopen.ts';
import { contractFixture, type StoreContractSubject } from './store-contract-support.ts';
import { transactionContractTests } from './store-contract-transactions.ts';

export type { StoreContractSubject } from './store-contract-support.ts';

/**
 * Registers a mocha `describe` block that any `Store` implementation must pass: ordering,
 * per-AS isolation, atomic enqueue, batch limits, transaction ids that are never reused, the
 * in-flight transaction surviving a reopen, the same bytes for the same transaction however it is
 * handed out again (a store may rebuild bodies with the sender's builder), backlog figures. Needs mocha and chai (optional peer
 * dependencies), which is why it has its own subpath apart from `koa-appservice/testing`.
 *
 * @example
 * ```ts
 * // spec/my-store.spec.ts
 * import { storeContractTests } from 'koa-appservice/testing/store-contract';
 * import { MyStore } from '../lib/my-store.ts';
 *
 * storeContractTests('MyStore', async () => {
 *   const url = await createTestDatabase();
 *   return {
 *     store: new MyStore(url),
 *     reopen: async () => new MyStore(url),
 *     cleanup: () => dropTestDatabase(url),
 *   };
 * });
 * ```
 */
export function storeContractTests(name: string, makeStore: () => Promise<StoreContractSubject>): void {
  describe(`Store contract: ${name}`, () => {
    const f = contractFixture(makeStore);
    queueContractTests(f);
    transactionContractTests(f);
    pipelinedContractTests(f);
    reopenContractTests(f);
    rebuildContractTests(f);
    deviceKindContractTests(f);
    oversizeContractTests(makeStore);
  });
}
