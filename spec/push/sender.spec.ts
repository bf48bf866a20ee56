import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { AppserviceClient } from '../../lib/client/appservice-client.ts';
import type { MatrixEvent } from '../../lib/events.ts';
import type { Host } from '../../lib/host.ts';
import { Interest } from '../../lib/interest.ts';
import { NamespaceIndex } from '../../lib/namespace/namespace-index.ts';
import { Publisher } from '../../lib/push/publisher.ts';
import { Sender, type FailedInfo, type SenderOptions, type SentInfo } from '../../lib/push/sender.ts';
import { Senders } from '../../lib/push/senders.ts';
import { buildTransactionBody } from '../../lib/push/transaction-body.ts';
import type { Registration } from '../../lib/registration/registration.ts';
import { MemoryStore } from '../../lib/store/memory-store.ts';
import type { Store } from '../../lib/store/store.ts';
import { SqliteStore } from '../../lib/store/sqlite/sqlite-store.ts';
import { MockAppService } from '../../lib/testing/mock-appservice.ts';
import { registration } from './registrations.ts';

const host: Host = {
  serverName: 'hs.test',
  userExists: async () => false,
  resolveAlias: async () => null,
  roomAliases: async () => [],
  joinedMembers: async () => [],
  authenticate: async () => null,
};

/** Events sent by `@<prefix>_user`, so that exactly the AS owning that prefix wants them. */
function ev(prefix: string, i: number): MatrixEvent {
  return {
    event_id: `$${prefix}${i}`,
    room_id: '!r:hs.test',
    type: 'm.room.message',
    sender: `@${prefix}_user:hs.test`,
    content: { i },
  };
}

function indexes(events: readonly unknown[]): number[] {
  return events.map((e) => (e as MatrixEvent).content.i as number);
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** Polls `check` until it holds, failing after `ms`. */
async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Bodies of the PUTs the mock received for one transaction id, in arrival order. */
function putsOf(mock: MockAppService, txnId: string): unknown[] {
  return mock.requests
    .filter((r) => r.method === 'PUT' && r.path.endsWith(`/transactions/${txnId}`))
    .map((r) => r.body);
}

describe('Sender', function () {
  this.timeout(15_000);
  const mocks: MockAppService[] = [];
  const clients: AppserviceClient[] = [];
  const running: { stop(): Promise<void> }[] = [];
  let store: Store;

  async function mockFor(id: string): Promise<MockAppService> {
    const mock = await MockAppService.start({ hsToken: `hs-token-${id}` });
    mocks.push(mock);
    return mock;
  }

  /** One client per registration, closed after each test. */
  const byReg = new Map<Registration, (txnId: string, body: string, signal: AbortSignal) => Promise<void>>();
  function sendVia(reg: Registration): (txnId: string, body: string, signal: AbortSignal) => Promise<void> {
    let send = byReg.get(reg);
    if (send === undefined) {
      const client = new AppserviceClient(reg);
      clients.push(client);
      send = (txnId, body, signal) => client.sendTransaction(txnId, body, signal);
      byReg.set(reg, send);
    }
    return send;
  }

  /** A registration, a mock AS, a client and a publisher wired as the plugin wires them. */
  async function setup(regs: Registration[], options: SenderOptions = {}) {
    const senders = new Senders(
      {
        registrations: regs,
        store,
        send: (reg, txnId, body, signal) => sendVia(reg)(txnId, body, signal),
      },
      { backoff: { initialMs: 20, maxMs: 200 }, ...options },
    );
    running.push(senders);
    const interest = new Interest({ host, registrations: regs, index: new NamespaceIndex(regs) });
    const publisher = new Publisher({ store, interest, registrations: regs, onEnqueued: (ids) => senders.notify(ids) });
    senders.start();
    return { senders, publisher };
  }

  async function asWithMock(id: string, extra: Parameters<typeof registration>[1] = {}) {
    const mock = await mockFor(id);
    return { mock, reg: registration(id, { url: mock.url, users: [`@${id}_.*`], ...extra }) };
  }

  beforeEach(async () => {
    store = new MemoryStore();
    await store.open();
  });

  afterEach(async () => {
    for (const r of running.splice(0)) await r.stop();
    for (const c of clients.splice(0)) await c.close();
    byReg.clear();
    for (const m of mocks.splice(0)) await m.close();
    await store.close();
  });

  it('sends 250 events as 3 transactions of 100, 100 and 50, in publish order, ids as <birth>.<n>', async () => {
    const { mock, reg } = await asWithMock('a');
    const { publisher } = await setup([reg]);
    await Promise.all(range(250).map((i) => publisher.publish(ev('a', i))));
    await mock.waitForEvents(250, 5_000);
    const ids = [...mock.transactions.keys()];
    expect(ids).to.have.length(3);
    for (const id of ids) expect(id).to.match(/^[0-9a-f]{12}\.[0-9]+$/);
    const counters = ids.map((id) => Number(id.split('.')[1]));
    expect(counters).to.deep.equal([...counters].sort((x, y) => x - y));
    expect(ids.map((id) => mock.transactions.get(id)!.events!.length)).to.deep.equal([100, 100, 50]);
    expect(indexes(mock.events)).to.deep.equal(range(250));
    expect(mock.requests.every((r) => r.tokenOk)).to.equal(true);
  });

  it('keeps the order of events published one after another across many transactions', async () => {
    const { mock, reg } = await asWithMock('a');
    const { publisher } = await setup([reg]);
    for (const i of range(120)) await publisher.publish(ev('a', i));
    await mock.waitForEvents(120, 5_000);
    expect(indexes(mock.events)).to.deep.equal(range(120));
  });

  it('limits each kind to 100 per transaction and uses both ephemeral and to-device field names', async () => {
    const { mock, reg } = await asWithMock('e', { receiveEphemeral: true, receiveToDevice: true });
    const { publisher } = await setup([reg]);
    const presence = (i: number) => ({ type: 'm.presence', sender: '@e_user:hs.test', content: { i } });
    const toDevice = (i: number) => ({
      type: 'm.x',
      sender: '@z:hs.test',
      to_user_id: '@e_u:hs.test',
      to_device_id: 'D',
      content: { i },
    });
    await Promise.all([
      ...range(150).map((i) => publisher.publishEphemeral(presence(i))),
      ...range(10).map((i) => publisher.publishToDevice(toDevice(i))),
      publisher.publish(ev('e', 0)),
    ]);
    await until(() => mock.toDevice.length === 10 && mock.events.length === 1, 5_000, 'all items');
    const bodies = [...mock.transactions.values()];
    expect(bodies.map((b) => (b.ephemeral ?? []).length)).to.deep.equal([100, 50]);
    for (const body of bodies) {
      expect(body['de.sorunome.msc2409.ephemeral']).to.deep.equal(body.ephemeral);
      if (body.to_device !== undefined) expect(body['de.sorunome.msc2409.to_device']).to.deep.equal(body.to_device);
    }
    expect(indexes(mock.ephemeral)).to.deep.equal(range(150));
    expect(indexes(mock.toDevice)).to.deep.equal(range(10));
  });

  it('retries a failed transaction with the same id and body after backoff, losing nothing', async () => {
    const { mock, reg } = await asWithMock('a');
    mock.status(500, { times: 3 });
    const failures: FailedInfo[] = [];
    const { publisher, senders } = await setup([reg], { onFailed: (f) => failures.push(f) });
    await Promise.all(range(30).map((i) => publisher.publish(ev('a', i))));
    await until(() => failures.length >= 1, 2_000, 'a failure');
    expect(['backoff', 'sending']).to.include(senders.get('a')!.state);
    await mock.waitForEvents(30, 5_000);
    expect(failures.map((f) => f.retryInMs)).to.deep.equal([20, 40, 80]);
    expect(new Set(failures.map((f) => f.txnId)).size).to.equal(1);
    // Each failed attempt also tried the draft path (the spec's legacy-route fallback), same id, same body.
    const puts = putsOf(mock, failures[0]!.txnId!);
    expect(puts).to.have.length(4 + 3);
    for (const body of puts) expect(body).to.deep.equal(puts[0]);
    expect(indexes(mock.events)).to.deep.equal(range(30));
    expect(mock.conflicts).to.deep.equal([]);
    await until(() => senders.get('a')!.up, 2_000, 'up again after the acknowledgement');
  });

  it('delivers exactly once and in order through a flaky AS (30% of answers are 500)', async () => {
    const { mock, reg } = await asWithMock('a');
    mock.flaky(0.3);
    const { publisher } = await setup([reg], { backoff: { initialMs: 1, maxMs: 5 }, limits: { event: 7 } });
    for (let i = 0; i < 500; i += 50) await Promise.all(range(50).map((j) => publisher.publish(ev('a', i + j))));
    await mock.waitForEvents(500, 10_000);
    expect(indexes(mock.events)).to.deep.equal(range(500));
    expect(mock.conflicts).to.deep.equal([]);
    expect([...mock.transactions.values()].every((b) => b.events!.length <= 7)).to.equal(true);
  });

  it('delivers everything once an AS that was down comes back up', async () => {
    const { mock, reg } = await asWithMock('a');
    await mock.down();
    const { publisher, senders } = await setup([reg]);
    await Promise.all(range(150).map((i) => publisher.publish(ev('a', i))));
    await until(() => senders.get('a')!.state === 'backoff', 2_000, 'backoff');
    expect((await store.backlog('a')).size).to.equal(150);
    await mock.up();
    await mock.waitForEvents(150, 5_000);
    expect(indexes(mock.events)).to.deep.equal(range(150));
    await until(() => senders.get('a')!.state === 'idle', 2_000, 'idle');
    expect((await store.backlog('a')).size).to.equal(0);
  });

  it('honours a Retry-After longer than the backoff delay', async () => {
    const { mock, reg } = await asWithMock('a');
    mock.status(429, { times: 1, headers: { 'retry-after': '1' } });
    const failures: FailedInfo[] = [];
    const { publisher } = await setup([reg], { onFailed: (f) => failures.push(f) });
    await publisher.publish(ev('a', 0));
    await mock.waitForEvents(1, 5_000);
    expect(failures.map((f) => f.retryInMs)).to.deep.equal([200]); // 1 s asked, capped at maxMs
  });

  it('wake() retries at once instead of waiting out the backoff', async () => {
    const { mock, reg } = await asWithMock('a');
    mock.status(503, { times: 1 });
    const { publisher, senders } = await setup([reg], { backoff: { initialMs: 60_000, maxMs: 60_000 } });
    await publisher.publish(ev('a', 0));
    await until(() => senders.get('a')!.state === 'backoff', 2_000, 'backoff');
    const woken = Date.now();
    senders.wake('a');
    await mock.waitForEvents(1, 2_000);
    expect(Date.now() - woken).to.be.below(2_000);
    expect(senders.get('a')!.up).to.equal(true);
  });

  it('a down or slow AS never delays another', async () => {
    const dead = await asWithMock('dead');
    const slow = await asWithMock('slow');
    const ok = await asWithMock('ok');
    await dead.mock.down();
    slow.mock.slow(10_000);
    const { publisher, senders } = await setup([dead.reg, slow.reg, ok.reg], {
      backoff: { initialMs: 60_000, maxMs: 60_000 },
    });
    for (const i of range(20)) {
      await publisher.publish(ev('dead', i));
      await publisher.publish(ev('slow', i));
    }
    await until(
      () => senders.get('dead')!.state === 'backoff' && slow.mock.requests.length > 0,
      2_000,
      'dead in backoff, slow busy',
    );
    const started = Date.now();
    await Promise.all(range(250).map((i) => publisher.publish(ev('ok', i))));
    await ok.mock.waitForEvents(250, 3_000);
    expect(Date.now() - started).to.be.below(3_000);
    expect(indexes(ok.mock.events)).to.deep.equal(range(250));
    expect(senders.get('slow')!.state).to.equal('sending');
  });

  it('gives a url:null AS no sender and queues nothing for it', async () => {
    const { mock, reg } = await asWithMock('a');
    const off = registration('off', { url: null, users: ['@a_.*'] });
    const { publisher, senders } = await setup([off, reg]);
    expect(senders.get('off')).to.equal(undefined);
    expect(senders.size).to.equal(1);
    expect(await publisher.publish(ev('a', 0))).to.deep.equal(['a']);
    expect((await store.backlog('off')).size).to.equal(0);
    await mock.waitForEvents(1, 2_000);
  });

  it('after a stop, a new sender resends the stored in-flight transaction with the same id and bytes', async () => {
    const { mock, reg } = await asWithMock('a');
    mock.slow(10_000);
    const sent: SentInfo[] = [];
    const send = sendVia(reg);
    const first = new Sender({ registration: reg, store, send });
    await store.enqueue(
      range(5).map((i) => ({ kind: 'event' as const, json: JSON.stringify(ev('a', i)), asIds: ['a'] })),
    );
    first.start();
    await until(() => mock.requests.length === 1, 2_000, 'the first attempt');
    const stopping = Date.now();
    await first.stop();
    expect(Date.now() - stopping).to.be.below(2_000);
    expect(first.state).to.equal('stopped');
    const txn = await store.inFlight('a', (items) => buildTransactionBody(items, reg));
    expect(txn).not.to.equal(null);
    await store.enqueue([{ kind: 'event', json: JSON.stringify(ev('a', 5)), asIds: ['a'] }]);
    mock.slow(0);
    const second = new Sender({ registration: reg, store, send }, { onSent: (s) => sent.push(s) });
    running.push(second);
    second.start();
    await mock.waitForEvents(6, 3_000);
    await until(() => sent.length === 2, 2_000, 'both acknowledged');
    expect(putsOf(mock, String(txn!.txnId))).to.have.length(2);
    expect(mock.transactions.get(String(txn!.txnId))).to.deep.equal(JSON.parse(txn!.body));
    const next = txn!.txnId.replace(/\d+$/, (n) => String(Number(n) + 1));
    expect(sent.map((s) => s.txnId)).to.deep.equal([txn!.txnId, next]);
    expect(indexes(mock.events)).to.deep.equal(range(6));
  });

  it('backs off and recovers when the store fails', async () => {
    const { mock, reg } = await asWithMock('a');
    let failures = 1;
    const flaky: Store = {
      open: () => store.open(),
      enqueue: (items) => store.enqueue(items),
      inFlight: (asId, build) => store.inFlight(asId, build),
      createTransaction: (asId, limits, build) =>
        failures-- > 0 ? Promise.reject(new Error('disk hiccup')) : store.createTransaction(asId, limits, build),
      acknowledge: (asId, txnId) => store.acknowledge(asId, txnId),
      backlog: (asId) => store.backlog(asId),
      close: () => store.close(),
    };
    const seen: FailedInfo[] = [];
    const sender = new Sender(
      { registration: reg, store: flaky, send: sendVia(reg) },
      { backoff: { initialMs: 10 }, onFailed: (f) => seen.push(f) },
    );
    running.push(sender);
    await store.enqueue([{ kind: 'event', json: JSON.stringify(ev('a', 0)), asIds: ['a'] }]);
    sender.start();
    await mock.waitForEvents(1, 2_000);
    expect(seen.map((f) => f.txnId)).to.deep.equal([null]);
  });

  /** The store, less acknowledgeAndCreate: a third-party store that only has the required methods. */
  function plainStore(overrides: Partial<Store> = {}): Store {
    return {
      open: () => store.open(),
      enqueue: (items) => store.enqueue(items),
      inFlight: (asId, build) => store.inFlight(asId, build),
      createTransaction: (asId, limits, build) => store.createTransaction(asId, limits, build),
      acknowledge: (asId, txnId) => store.acknowledge(asId, txnId),
      backlog: (asId) => store.backlog(asId),
      close: () => store.close(),
      ...overrides,
    };
  }

  it('works with a store without acknowledgeAndCreate: acknowledge, then create', async () => {
    const { mock, reg } = await asWithMock('a');
    let acks = 0;
    const plain = plainStore({ acknowledge: (asId, txnId) => (acks++, store.acknowledge(asId, txnId)) });
    const sender = new Sender({ registration: reg, store: plain, send: sendVia(reg) });
    running.push(sender);
    await store.enqueue(
      range(250).map((i) => ({ kind: 'event' as const, json: JSON.stringify(ev('a', i)), asIds: ['a'] })),
    );
    sender.start();
    await mock.waitForEvents(250, 5_000);
    expect([...mock.transactions.values()].map((t) => t.events!.length)).to.deep.equal([100, 100, 50]);
    expect(indexes(mock.events)).to.deep.equal(range(250));
    await until(() => acks === 3, 1_000, 'three acknowledgements');
  });

  it('after a failed acknowledgeAndCreate, re-reads the stored state: resends what was not acknowledged, skips what was', async () => {
    const { mock, reg } = await asWithMock('a');
    let call = 0;
    const failing = plainStore({
      acknowledgeAndCreate: async (asId, txnId, limits, build) => {
        call++;
        // First failure: nothing happened. Second: the acknowledgement committed, the creation failed.
        if (call === 1) throw new Error('disk hiccup before the acknowledgement');
        if (call === 2) {
          await store.acknowledge(asId, txnId);
          throw new Error('disk hiccup after the acknowledgement');
        }
        return store.acknowledgeAndCreate!(asId, txnId, limits, build);
      },
    });
    const seen: FailedInfo[] = [];
    const sender = new Sender(
      { registration: reg, store: failing, send: sendVia(reg) },
      {
        limits: { event: 10 },
        backoff: { initialMs: 10 },
        onFailed: (f) => seen.push(f),
      },
    );
    running.push(sender);
    await store.enqueue(
      range(35).map((i) => ({ kind: 'event' as const, json: JSON.stringify(ev('a', i)), asIds: ['a'] })),
    );
    sender.start();
    await mock.waitForEvents(35, 5_000);
    expect(seen.map((f) => f.txnId)).to.deep.equal([null, null]);
    // The first transaction went twice (its acknowledgement was lost), with the same id and bytes.
    expect(mock.conflicts).to.have.length(0);
    expect(mock.requests.length).to.equal(5);
    expect(indexes(mock.events)).to.deep.equal(range(35));
    await until(() => sender.state === 'idle', 1_000, 'idle');
  });

  it('goes idle on an empty queue and sends as soon as it is notified', async () => {
    const { mock, reg } = await asWithMock('a');
    const sender = new Sender({ registration: reg, store, send: sendVia(reg) });
    running.push(sender);
    sender.start();
    await until(() => sender.state === 'idle', 1_000, 'idle');
    await store.enqueue([{ kind: 'event', json: JSON.stringify(ev('a', 0)), asIds: ['a'] }]);
    sender.notify();
    await mock.waitForEvents(1, 2_000);
    await until(() => sender.state === 'idle', 1_000, 'idle again');
  });
});

describe('Sender with a store that creates transactions ahead (SqliteStore)', function () {
  this.timeout(15_000);
  let dir: string;
  let store: SqliteStore;
  let mock: MockAppService;
  let client: AppserviceClient;
  let sender: Sender | null = null;
  const reg = (url: string): Registration => registration('a', { url, users: ['@a_.*'] });

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'koa-as-sender-ahead-'));
    // 'full': the store creates the next full transactions ahead in the commit that creates one.
    store = new SqliteStore(join(dir, 'store.db'), { synchronous: 'full' });
    await store.open();
    mock = await MockAppService.start({ hsToken: 'hs-token-a' });
  });

  afterEach(async () => {
    await sender?.stop();
    sender = null;
    await client?.close();
    await mock.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The SqliteStore, logging what the sender asks of it; `overrides` replace some calls. */
  function logged(log: string[], overrides: Partial<Store> = {}): Store {
    return {
      open: () => store.open(),
      enqueue: (items) => store.enqueue(items),
      inFlight: (asId, build) => store.inFlight(asId, build),
      createTransaction: (asId, limits, build) => store.createTransaction(asId, limits, build),
      acknowledge: async (asId, txnId) => {
        await store.acknowledge(asId, txnId);
        log.push(`ack ${txnId}`);
      },
      acknowledgeAndCreate: async (asId, txnId, limits, build) => {
        const next = await store.acknowledgeAndCreate(asId, txnId, limits, build);
        log.push(`ack ${txnId}`);
        return next;
      },
      nextStored: (asId, txnId, build) => store.nextStored(asId, txnId, build),
      backlog: (asId) => store.backlog(asId),
      close: () => store.close(),
      ...overrides,
    };
  }

  /** `refuse`: the send attempts that fail before reaching the AS. */
  function start(
    target: Store,
    options: SenderOptions,
    log: string[],
    refuse: (txnId: string) => boolean = () => false,
  ): Sender {
    const r = reg(mock.url);
    client = new AppserviceClient(r);
    sender = new Sender(
      {
        registration: r,
        store: target,
        send: (txnId, body, signal) => {
          log.push(`send ${txnId}`);
          if (refuse(txnId)) return Promise.reject(new Error('connection reset'));
          return client.sendTransaction(txnId, body, signal);
        },
      },
      { backoff: { initialMs: 10, maxMs: 50 }, ...options },
    );
    sender.start();
    return sender;
  }

  async function enqueue(n: number): Promise<void> {
    await store.enqueue(
      range(n).map((i) => ({ kind: 'event' as const, json: JSON.stringify(ev('a', i)), asIds: ['a'] })),
    );
  }

  it('sends a transaction created ahead before the previous acknowledgement is stored; everything once, in order', async () => {
    await enqueue(1000);
    const log: string[] = [];
    const sent: SentInfo[] = [];
    start(logged(log), { onSent: (info) => sent.push(info) }, log);
    await mock.waitForEvents(1000, 10_000);
    await until(() => sent.length === 10, 2_000, 'ten acknowledgements');
    expect(indexes(mock.events)).to.deep.equal(range(1000));
    expect(mock.conflicts).to.have.length(0);
    expect(mock.requests.filter((r) => r.method === 'PUT')).to.have.length(10);
    const ids = [...mock.transactions.keys()];
    // Overlapped: the send of the next id is logged before the acknowledgement of the one before.
    const overlapped = ids.slice(1).filter((id, i) => log.indexOf(`send ${id}`) < log.indexOf(`ack ${ids[i]}`));
    expect(overlapped.length).to.be.greaterThan(0);
    // Never more than one ahead: the id before the previous one is always stored before a send.
    for (const [i, id] of ids.entries()) {
      if (i >= 2) expect(log.indexOf(`ack ${ids[i - 2]}`)).to.be.lessThan(log.indexOf(`send ${id}`));
    }
    // onSent reports each once, in order, after its acknowledgement is stored.
    expect(sent.map((s) => s.txnId)).to.deep.equal(ids);
    expect(await store.backlog('a')).to.deep.equal({ size: 0, oldestEnqueuedAt: null });
  });

  it('when storing an acknowledgement fails during the next send, resends both with the same ids and bytes, in order', async () => {
    await enqueue(600);
    const log: string[] = [];
    let failOnce = true;
    const failed: FailedInfo[] = [];
    const target = logged(log, {
      acknowledge: async (asId, txnId) => {
        if (failOnce) {
          failOnce = false;
          log.push(`ack ${txnId} failed`);
          throw new Error('disk hiccup');
        }
        await store.acknowledge(asId, txnId);
        log.push(`ack ${txnId}`);
      },
    });
    start(target, { onFailed: (f) => failed.push(f) }, log);
    await mock.waitForEvents(600, 10_000);
    await until(() => sender!.state === 'idle', 2_000, 'idle');
    expect(failed.map((f) => f.txnId)).to.deep.equal([null]);
    const failedAck = log.find((l) => l.endsWith('failed'))!.split(' ')[1]!;
    // The transaction whose acknowledgement was lost went out twice, same bytes; nothing was lost.
    expect(putsOf(mock, failedAck)).to.have.length(2);
    expect(mock.conflicts).to.have.length(0);
    expect(indexes(mock.events)).to.deep.equal(range(600));
    expect(await store.backlog('a')).to.deep.equal({ size: 0, oldestEnqueuedAt: null });
  });

  it('when the send of a transaction created ahead fails, retries that one only, after the acknowledgement before it', async () => {
    await enqueue(500);
    const log: string[] = [];
    const failed: FailedInfo[] = [];
    const distinct: string[] = [];
    // The third transaction is the first sent while the acknowledgement of the second is written.
    const refuse = (txnId: string): boolean => {
      if (!distinct.includes(txnId)) distinct.push(txnId);
      return txnId === distinct[2] && log.filter((l) => l === `send ${txnId}`).length === 1;
    };
    start(logged(log), { onFailed: (f) => failed.push(f) }, log, refuse);
    await mock.waitForEvents(500, 10_000);
    await until(() => sender!.state === 'idle', 2_000, 'idle');
    expect(failed.map((f) => f.txnId)).to.deep.equal([distinct[2]]);
    expect(log.filter((l) => l === `send ${distinct[2]}`)).to.have.length(2);
    expect(log.filter((l) => l === `send ${distinct[1]}`)).to.have.length(1);
    expect(log.filter((l) => l === `ack ${distinct[1]}`)).to.have.length(1);
    expect(mock.conflicts).to.have.length(0);
    expect(indexes(mock.events)).to.deep.equal(range(500));
    expect(await store.backlog('a')).to.deep.equal({ size: 0, oldestEnqueuedAt: null });
  });
});
