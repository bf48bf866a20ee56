/**
 * A hung AS (issue 13, item 9): the AS client's own timeouts are long (30 s by default, since a
 * query may create a room first), so one push attempt is bounded by the sender's attemptTimeoutMs,
 * well below them, and a hung AS gets several attempts instead of one. When the AS says it is back
 * (a ping), an attempt still hanging is aborted and the transaction resent at once, same id and
 * bytes, without waiting for any timeout or backoff.
 */
import { expect } from 'chai';
import { AppserviceClient } from '../../lib/client/appservice-client.ts';
import type { FailedInfo } from '../../lib/push/sender.ts';
import { Senders } from '../../lib/push/senders.ts';
import { MemoryStore } from '../../lib/store/memory-store.ts';
import { testRegistration } from '../../lib/testing/registration.ts';
import { FaultyAppService } from './support/faulty-as.ts';

async function until(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('reliability: a push attempt to a hung AS', function () {
  this.timeout(15_000);
  let faulty: FaultyAppService;
  let client: AppserviceClient;
  let senders: Senders | null;
  let store: MemoryStore;
  let failed: FailedInfo[];
  const reg = () => testRegistration({ id: 'irc', url: faulty.url, hsToken: 'hs-irc' });

  beforeEach(async () => {
    faulty = await FaultyAppService.start({ hsToken: 'hs-irc' });
    // The client's defaults: 30 s for headers and body. Nothing here may wait that long.
    client = new AppserviceClient(reg());
    store = new MemoryStore();
    await store.open();
    failed = [];
    senders = null;
  });

  afterEach(async () => {
    await senders?.stop();
    await client.close();
    await faulty.close();
    await store.close();
  });

  function start(options: { attemptTimeoutMs: number; backoffMs: number }): Senders {
    senders = new Senders(
      { registrations: [reg()], store, send: (_r, txnId, body, signal) => client.sendTransaction(txnId, body, signal) },
      {
        attemptTimeoutMs: options.attemptTimeoutMs,
        backoff: { initialMs: options.backoffMs, maxMs: options.backoffMs },
        onFailed: (info) => failed.push(info),
      },
    );
    senders.start();
    return senders;
  }

  async function enqueue(): Promise<void> {
    const json = (i: number): string =>
      JSON.stringify({
        event_id: `$e${i}`,
        room_id: '!r:hs.test',
        type: 'm.room.message',
        sender: '@irc_u:hs.test',
        content: {},
      });
    await store.enqueue([0, 1, 2].map((i) => ({ kind: 'event' as const, json: json(i), asIds: ['irc'] })));
    senders!.notify(['irc']);
  }

  it('each attempt is given up after attemptTimeoutMs (far below the client’s 30 s) and retried', async () => {
    await faulty.set('silent');
    start({ attemptTimeoutMs: 200, backoffMs: 50 });
    await enqueue();
    await until('two timed-out attempts', () => failed.length >= 2, 5_000);
    expect(
      failed.every((f) => f.txnId === failed[0]!.txnId),
      'the same transaction each time',
    ).to.equal(true);
    expect(failed.map((f) => (f.error as { kind?: string }).kind)).to.include('timeout');
    await faulty.set('none');
    await until('delivery', () => faulty.events.length >= 3, 5_000);
    expect(faulty.events.map((e) => e.event_id)).to.deep.equal(['$e0', '$e1', '$e2']);
    expect(faulty.conflicts).to.deep.equal([]);
  });

  it('a ping aborts the hanging attempt and the transaction goes out again at once, with no backoff', async () => {
    await faulty.set('silent');
    const running = start({ attemptTimeoutMs: 60_000, backoffMs: 60_000 });
    await enqueue();
    await until(
      'the attempt to reach the AS',
      () => faulty.connections >= 1 && running.get('irc')!.state === 'sending',
      5_000,
    );
    await new Promise((resolve) => setTimeout(resolve, 100)); // the request is written and hangs
    await faulty.set('none'); // healthy again; the hanging connection stays silent
    running.wake('irc'); // what the AS's ping does
    await until('delivery after the ping', () => faulty.events.length >= 3, 5_000);
    expect(faulty.events.map((e) => e.event_id)).to.deep.equal(['$e0', '$e1', '$e2']);
    expect(failed, 'the aborted attempt is no failure').to.deep.equal([]);
    expect(faulty.conflicts).to.deep.equal([]);
  });
});
