/**
 * Issue 8 part 1, the faults that do not fail but hang: an AS that accepts a transaction and then
 * never answers, or answers its headers only after 30 s. (One that answers 2xx and then dribbles
 * its body has answered: the status is the verdict.) Here
 * the AS does NOT restart (as-faults.spec.ts heals by dropping the connections): the sender itself
 * must abandon the attempt at the client's timeouts, back off, and retry, so that a hung bridge
 * delays its own events only by a bounded time and never wedges its queue.
 *
 * The wiring is the plugin's (Senders → AppserviceClient → the AS), with short client timeouts so
 * that the spec runs in seconds; `appservices()` uses the client's defaults (30 s).
 */
import { expect } from 'chai';
import { AppserviceClient } from '../../lib/client/appservice-client.ts';
import type { FailedInfo } from '../../lib/push/sender.ts';
import { Senders } from '../../lib/push/senders.ts';
import { MemoryStore } from '../../lib/store/memory-store.ts';
import { testRegistration } from '../../lib/testing/registration.ts';
import { FaultyAppService, type Fault } from './support/faulty-as.ts';

const TIMEOUT_MS = 300;

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('reliability: transactions to an AS that hangs without restarting', function () {
  this.timeout(15_000);
  let faulty: FaultyAppService;
  let client: AppserviceClient;
  let senders: Senders;
  let store: MemoryStore;
  let failed: FailedInfo[];

  beforeEach(async () => {
    faulty = await FaultyAppService.start({ hsToken: 'hs-irc' });
    faulty.lateHeadersMs = 30_000;
    const reg = testRegistration({ id: 'irc', url: faulty.url, hsToken: 'hs-irc' });
    client = new AppserviceClient(reg, {
      headersTimeoutMs: TIMEOUT_MS,
      bodyTimeoutMs: TIMEOUT_MS,
      connectTimeoutMs: TIMEOUT_MS,
    });
    store = new MemoryStore();
    await store.open();
    failed = [];
    senders = new Senders(
      { registrations: [reg], store, send: (_r, txnId, body, signal) => client.sendTransaction(txnId, body, signal) },
      { backoff: { initialMs: 50, maxMs: 200 }, onFailed: (info) => failed.push(info) },
    );
    senders.start();
  });

  afterEach(async () => {
    await senders.stop();
    await client.close();
    await faulty.close();
    await store.close();
  });

  const hangs: { fault: Fault; note: string }[] = [
    { fault: 'silent', note: 'accepts, never writes a byte' },
    { fault: 'late-headers', note: 'headers only after 30 s' },
  ];
  for (const { fault, note } of hangs) {
    it(`${fault} (${note}): each attempt is abandoned, retried with backoff, and the events arrive once after the AS recovers`, async () => {
      await faulty.set(fault);
      const json = (i: number): string =>
        JSON.stringify({
          event_id: `$e${i}`,
          room_id: '!r:hs.test',
          type: 'm.room.message',
          sender: '@irc_u:hs.test',
          content: {},
        });
      await store.enqueue([0, 1, 2].map((i) => ({ kind: 'event' as const, json: json(i), asIds: ['irc'] })));
      senders.notify(['irc']);
      // Two abandoned attempts prove the sender is not wedged on the first one.
      await until(
        `two abandoned attempts (${failed.length} so far)`,
        () => failed.length >= 2,
        10 * TIMEOUT_MS + 2_000,
      );
      expect(
        failed.every((f) => f.txnId === failed[0]!.txnId),
        'the same transaction is retried',
      ).to.equal(true);
      expect(faulty.events).to.have.length(0);
      await faulty.set('none'); // the AS recovers without dropping anything itself
      await until('delivery', () => faulty.events.length >= 3, 5_000);
      expect(faulty.events.map((e) => e.event_id)).to.deep.equal(['$e0', '$e1', '$e2']);
      expect(faulty.conflicts).to.deep.equal([]);
    });
  }

  it('dribble (a 2xx status, then 1 byte per 100 ms without end): the status is the verdict, delivered at once, never retried', async () => {
    await faulty.set('dribble');
    const json = (i: number): string =>
      JSON.stringify({
        event_id: `$e${i}`,
        room_id: '!r:hs.test',
        type: 'm.room.message',
        sender: '@irc_u:hs.test',
        content: {},
      });
    await store.enqueue([0, 1, 2].map((i) => ({ kind: 'event' as const, json: json(i), asIds: ['irc'] })));
    senders.notify(['irc']);
    await until('delivery', async () => (await store.backlog('irc')).size === 0, 5_000);
    expect(faulty.events.map((e) => e.event_id)).to.deep.equal(['$e0', '$e1', '$e2']);
    expect(failed).to.deep.equal([]);
  });
});
