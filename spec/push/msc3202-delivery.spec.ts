/**
 * MSC3202 transaction extensions end to end: `appservices()` with a SqliteStore file, the host
 * reporting device list changes and key counts, and real ASes on loopback (MockAppService)
 * receiving them in transactions that carry no events. Only for a registration with
 * `org.matrix.msc3202: true`, and only with `experimentalFeatures.msc3202` on.
 */
import { expect } from 'chai';
import { Registry } from 'prom-client';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appservices, type Appservices, type Host, InvalidEventError } from '../../lib/index.ts';
import { SqliteStore } from '../../lib/store/sqlite/sqlite-store.ts';
import { MockAppService, type TransactionBody } from '../../lib/testing/index.ts';
import { rejection } from '../support/rejection.ts';

const SERVER = 'hs.test';
const PATH = '/_matrix/app/v1/transactions/';

class RoomsHost implements Host {
  readonly serverName = SERVER;
  authenticate = async (): Promise<null> => null;
  readonly members = new Map<string, Set<string>>();
  async userExists(): Promise<boolean> {
    return true;
  }
  async resolveAlias(): Promise<string | null> {
    return null;
  }
  async roomAliases(): Promise<string[]> {
    return [];
  }
  async joinedMembers(roomId: string): Promise<string[]> {
    return [...(this.members.get(roomId) ?? [])];
  }
  joinedRooms = async (userId: string): Promise<string[]> =>
    [...this.members].filter(([, users]) => users.has(userId)).map(([roomId]) => roomId);
  join(roomId: string, userId: string): void {
    let users = this.members.get(roomId);
    if (users === undefined) this.members.set(roomId, (users = new Set()));
    users.add(userId);
  }
}

function registration(id: string, url: string, msc3202: boolean): Record<string, unknown> {
  return {
    id,
    url,
    as_token: `as-token-${id}`,
    hs_token: `hs-token-${id}`,
    sender_localpart: `${id}bot`,
    namespaces: { users: [{ exclusive: true, regex: `@${id}_.*` }], aliases: [], rooms: [] },
    ...(msc3202 ? { 'org.matrix.msc3202': true } : {}),
  };
}

describe('MSC3202 transaction extensions, end to end', function () {
  this.timeout(20_000);
  let dir: string;
  let br: MockAppService;
  let plain: MockAppService;
  let host: RoomsHost;
  let as: Appservices | undefined;
  let registry: Registry;

  async function start(msc3202: boolean): Promise<Appservices> {
    host = new RoomsHost();
    as = await appservices({
      host,
      store: new SqliteStore(join(dir, 'appservice.db')),
      registrations: [registration('br', br.url, true), registration('plain', plain.url, false)],
      backoffInitialMs: 20,
      backoffMaxMs: 100,
      experimentalFeatures: { msc3202 },
      metricsRegistry: (registry = new Registry()),
    });
    return as;
  }

  /** Waits until `mock` has acknowledged a transaction that `accept` likes, and returns it. */
  async function transaction(mock: MockAppService, accept: (body: TransactionBody) => boolean) {
    const deadline = Date.now() + 10_000;
    for (;;) {
      for (const [txnId, body] of mock.transactions) if (accept(body)) return { txnId, body };
      if (Date.now() > deadline) throw new Error('no such transaction arrived');
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** An event for both ASes, published last: once it arrived, everything before it did. */
  async function flush(): Promise<void> {
    const mark = (sender: string) => ({
      event_id: `$${sender}`,
      room_id: '!m:hs.test',
      type: 'm.x',
      sender,
      content: {},
    });
    await as!.publish(mark('@br_mark:hs.test'));
    await as!.publish(mark('@plain_mark:hs.test'));
    await br.waitForEvents(1);
    await plain.waitForEvents(1);
  }

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'koa-as-msc3202-'));
    br = await MockAppService.start({ hsToken: 'hs-token-br' });
    plain = await MockAppService.start({ hsToken: 'hs-token-plain' });
  });

  afterEach(async () => {
    await as?.close();
    as = undefined;
    await br.close();
    await plain.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('delivers device_lists and key counts to the msc3202 AS in a transaction without events, resending the same txnId with the same body after a failure', async () => {
    await start(true);
    host.join('!r:hs.test', '@br_bob:hs.test');
    host.join('!r:hs.test', '@plain_x:hs.test');
    host.join('!r:hs.test', '@alice:hs.test');
    br.status(500, { times: 1 });
    await Promise.all([
      as!.publishKeyCounts({
        userId: '@br_bob:hs.test',
        deviceId: 'BOBDEV',
        oneTimeKeyCounts: { signed_curve25519: 50 },
        unusedFallbackKeyTypes: ['signed_curve25519'],
      }),
      as!.publishDeviceListUpdate({ userId: '@alice:hs.test', change: 'changed' }),
    ]);
    const { txnId, body } = await transaction(br, (b) => 'org.matrix.msc3202.device_lists' in b);
    const counts = { '@br_bob:hs.test': { BOBDEV: { signed_curve25519: 50 } } };
    expect(body).to.deep.equal({
      events: [],
      'org.matrix.msc3202.device_lists': { changed: ['@alice:hs.test'], left: [] },
      'org.matrix.msc3202.device_one_time_keys_count': counts,
      'org.matrix.msc3202.device_one_time_key_counts': counts,
      'org.matrix.msc3202.device_unused_fallback_key_types': { '@br_bob:hs.test': { BOBDEV: ['signed_curve25519'] } },
    });
    const attempts = br.requests.filter((r) => r.method === 'PUT' && r.path === PATH + encodeURIComponent(txnId));
    expect(attempts).to.have.length(2); // refused with 500, then accepted
    expect(attempts[1]!.body).to.deep.equal(attempts[0]!.body);
    expect(br.conflicts).to.deep.equal([]);
    await flush();
    expect(plain.transactions.size).to.equal(1); // only the flush mark: no msc3202 flag, nothing else
    // Counted once acknowledged, by kind, as the other kinds are.
    const sentOf = async (kind: string) =>
      (await registry.getSingleMetric('koa_appservice_items_sent_total')!.get()).values.find(
        (v) => v.labels.appservice === 'br' && v.labels.kind === kind,
      )?.value;
    const deadline = Date.now() + 5_000;
    while ((await sentOf('keyCounts')) !== 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect([await sentOf('deviceList'), await sentOf('keyCounts')]).to.deep.equal([1, 1]);
  });

  it("sends 'left' to the AS sharing the room the user left, and not while the user still shares another room with it", async () => {
    await start(true);
    host.join('!a:hs.test', '@br_bob:hs.test');
    host.join('!b:hs.test', '@br_bob:hs.test');
    host.join('!b:hs.test', '@carol:hs.test'); // carol left !a and is still in !b with bob
    await as!.publishDeviceListUpdate({ userId: '@alice:hs.test', change: 'left', roomId: '!a:hs.test' });
    await as!.publishDeviceListUpdate({ userId: '@carol:hs.test', change: 'left', roomId: '!a:hs.test' });
    await flush();
    const lists = [...br.transactions.values()].flatMap((b) => {
      const field = b['org.matrix.msc3202.device_lists'];
      return field === undefined ? [] : [field];
    });
    expect(lists).to.deep.equal([{ changed: [], left: ['@alice:hs.test'] }]);
  });

  it('splits a transaction of MSC3202 items the AS refuses as too large (413) instead of setting it aside', async () => {
    await start(true);
    host.join('!r:hs.test', '@br_bob:hs.test');
    host.join('!r:hs.test', '@alice:hs.test');
    host.join('!r:hs.test', '@carol:hs.test');
    br.status(413, { times: 1 });
    await Promise.all([
      as!.publishDeviceListUpdate({ userId: '@alice:hs.test', change: 'changed' }),
      as!.publishDeviceListUpdate({ userId: '@carol:hs.test', change: 'changed' }),
    ]);
    await flush();
    const changed = [...br.transactions.values()].flatMap(
      (b) => (b['org.matrix.msc3202.device_lists'] as { changed: string[] } | undefined)?.changed ?? [],
    );
    expect(changed).to.deep.equal(['@alice:hs.test', '@carol:hs.test']);
    expect(await as!.deadLetters('br')).to.deep.equal([]);
  });

  it('sends nothing with experimentalFeatures.msc3202 off, and refuses malformed reports naming the field', async () => {
    await start(false);
    host.join('!r:hs.test', '@br_bob:hs.test');
    host.join('!r:hs.test', '@alice:hs.test');
    await as!.publishDeviceListUpdate({ userId: '@alice:hs.test', change: 'changed' });
    await as!.publishKeyCounts({
      userId: '@br_bob:hs.test',
      deviceId: 'D',
      oneTimeKeyCounts: { signed_curve25519: 1 },
      unusedFallbackKeyTypes: [],
    });
    await flush();
    expect([...br.transactions.values()].map((b) => Object.keys(b))).to.deep.equal([['events']]);
    const bad = await rejection(as!.publishDeviceListUpdate({ userId: '@alice:hs.test', change: 'left' }));
    expect(bad)
      .to.be.instanceOf(InvalidEventError)
      .with.property('message')
      .that.matches(/deviceListUpdate\.roomId/);
  });
});
