/**
 * An encrypted bridge's life on the reference homeserver, end to end (issue 15): an AS with
 * `org.matrix.msc3202` and `io.element.msc4190` creates a device for one of its users with
 * `PUT /devices/{deviceId}` (MSC4190), uploads that device's keys and one-time keys as the user
 * (device masquerading); a transaction brings it the device's one-time key counts with no events
 * (MSC3202); a local user joining a room with its user arrives in `device_lists.changed`, leaving
 * it in `device_lists.left`; and when the local user has used up the homeserver's one-time keys
 * for that device, the claim is proxied to the AS (MSC3983) and the AS's key returned.
 */
import { expect } from 'chai';
import { MemoryStore } from '../../lib/index.ts';
import { MockAppService } from '../../lib/testing/index.ts';
import { startHomeserver, type RunningHomeserver } from '../../examples/homeserver/index.ts';
import { Api, enc, eventually, type Json, type Response } from './support/client.ts';

const C = '/_matrix/client/v3';
const AS_TOKEN = 'encrypted-bridge-as-token';
const HS_TOKEN = 'encrypted-bridge-hs-token';
const GHOST = '@br_alice:localhost';
const DEVICE = 'BRIDGEDEV';
const OTK = 'signed_curve25519';
const CLAIM_PATH = '/_matrix/app/unstable/org.matrix.msc3983/keys/claim';
const DEVICE_LISTS = 'org.matrix.msc3202.device_lists';
const OTK_COUNTS = 'org.matrix.msc3202.device_one_time_keys_count';

describe('e2e: an encrypted bridge (MSC4190 device, keys, MSC3983 claim) on the reference homeserver', function () {
  this.timeout(20_000);
  let hs: RunningHomeserver;
  let api: Api;
  let bridge: MockAppService;

  beforeEach(async () => {
    bridge = await MockAppService.start({
      hsToken: HS_TOKEN,
      // The bridge holds more one-time keys for its device than it uploaded (MSC3983).
      onKeysClaim: (body) => {
        const wanted = (body as Record<string, Record<string, string[]>>)[GHOST]?.[DEVICE] ?? [];
        return {
          [GHOST]: { [DEVICE]: Object.fromEntries(wanted.map((alg, i) => [`${alg}:BRIDGE${i}`, { key: 'b' }])) },
        };
      },
    });
    hs = await startHomeserver({
      store: new MemoryStore(),
      registrations: [
        {
          id: 'bridge',
          url: bridge.url,
          as_token: AS_TOKEN,
          hs_token: HS_TOKEN,
          sender_localpart: 'bridgebot',
          namespaces: { users: [{ exclusive: true, regex: '@br_.*' }], aliases: [], rooms: [] },
          'org.matrix.msc3202': true,
          'io.element.msc4190': true,
        },
      ],
      experimentalFeatures: { msc3202: true, msc3983: true, msc3984: true, msc4190: true },
      backoffInitialMs: 20,
    });
    api = new Api(hs.url);
  });
  afterEach(async () => {
    await hs.close();
    await bridge.close();
  });

  /** A request of the bridge as its user, and as its device once it exists. */
  const asGhost = (method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown, device = true) =>
    api.call(method, `${C}${path}`, {
      token: AS_TOKEN,
      query: { user_id: GHOST, ...(device ? { device_id: DEVICE } : {}) },
      ...(body === undefined ? {} : { body }),
    });
  const otks = (...ids: string[]): Json => Object.fromEntries(ids.map((id) => [`${OTK}:${id}`, { key: id }]));

  /** The bridge's start-up: its user (no login), its device (MSC4190), the device's keys. */
  async function bridgeStartsUp(): Promise<Response> {
    const registered = await api.call('POST', `${C}/register`, {
      token: AS_TOKEN,
      body: { type: 'm.login.application_service', username: 'br_alice', inhibit_login: true },
    });
    expect([registered.status, registered.body.access_token]).to.deep.equal([200, undefined]);
    const created = await asGhost('PUT', `/devices/${DEVICE}`, { display_name: 'Bridge' });
    expect(created.status).to.equal(201);
    const deviceKeys = { user_id: GHOST, device_id: DEVICE, algorithms: ['m.olm.v1.curve25519-aes-sha2'], keys: {} };
    const uploaded = await asGhost('POST', '/keys/upload', {
      device_keys: deviceKeys,
      one_time_keys: otks('HS1', 'HS2'),
      fallback_keys: { [`${OTK}:FALLBACK`]: { key: 'fallback', fallback: true } },
    });
    expect(uploaded.body).to.deep.equal({ one_time_key_counts: { [OTK]: 2 } });
    return uploaded;
  }

  it("the bridge's device is created without any login, acts as the device, and others see its keys", async () => {
    await bridgeStartsUp();
    const whoami = await asGhost('GET', '/account/whoami');
    expect(whoami.body).to.deep.include({ user_id: GHOST, device_id: DEVICE });
    const local = await api.register('carol');
    const query = await api.call('POST', `${C}/keys/query`, {
      token: local.token,
      body: { device_keys: { [GHOST]: [] } },
    });
    expect(Object.keys(query.body.device_keys[GHOST])).to.deep.equal([DEVICE]);
    expect(query.body.device_keys[GHOST][DEVICE].unsigned).to.deep.equal({ device_display_name: 'Bridge' });
  });

  /** The users in `device_lists.<field>` of every transaction so far, in order. */
  const listed = (field: 'changed' | 'left'): string[] =>
    [...bridge.transactions.values()].flatMap(
      (txn) => (txn[DEVICE_LISTS] as Record<string, string[]> | undefined)?.[field] ?? [],
    );

  it("transactions bring the bridge its device's key counts (with no events) and device list changes as a user joins and leaves", async () => {
    await bridgeStartsUp();
    const counted = await eventually(() =>
      [...bridge.transactions.values()].find(
        (txn) => (txn[OTK_COUNTS] as Json | undefined)?.[GHOST]?.[DEVICE]?.[OTK] === 2,
      ),
    );
    expect(counted.events).to.deep.equal([]);
    expect(counted['org.matrix.msc3202.device_unused_fallback_key_types']).to.deep.equal({
      [GHOST]: { [DEVICE]: [OTK] },
    });
    // The bridge's own user's new device is a change the bridge hears of too.
    expect(listed('changed')).to.include(GHOST);

    const carol = await api.register('carol');
    const room = await asGhost('POST', '/createRoom', { preset: 'public_chat' });
    const roomId = room.body.room_id as string;
    await api.call('POST', `${C}/join/${enc(roomId)}`, { token: carol.token, body: {} });
    await eventually(() => (listed('changed').includes(carol.userId) ? true : undefined));
    expect(listed('left')).not.to.include(carol.userId);

    await api.call('POST', `${C}/rooms/${enc(roomId)}/leave`, { token: carol.token, body: {} });
    await eventually(() => (listed('left').includes(carol.userId) ? true : undefined));
    // Each arrives after the membership event that caused it.
    const order = [...bridge.transactions.values()].flatMap((txn) => [
      ...((txn.events ?? []) as Json[])
        .filter((e) => e.type === 'm.room.member' && e.state_key === carol.userId)
        .map((e) => `event ${e.content.membership}`),
      ...((txn[DEVICE_LISTS] as Record<string, string[]> | undefined)?.changed ?? [])
        .filter((u) => u === carol.userId)
        .map(() => 'changed'),
      ...((txn[DEVICE_LISTS] as Record<string, string[]> | undefined)?.left ?? [])
        .filter((u) => u === carol.userId)
        .map(() => 'left'),
    ]);
    expect(order).to.deep.equal(['event join', 'changed', 'event leave', 'left']);
  });

  it("a claim takes the homeserver's one-time keys first, then asks the bridge, before any fallback key", async () => {
    await bridgeStartsUp();
    const local = await api.register('carol');
    const claim = async () => {
      const res = await api.call('POST', `${C}/keys/claim`, {
        token: local.token,
        body: { one_time_keys: { [GHOST]: { [DEVICE]: OTK } } },
      });
      expect(res.status).to.equal(200);
      return Object.keys(res.body.one_time_keys[GHOST][DEVICE] as Json);
    };
    expect(await claim()).to.deep.equal([`${OTK}:HS1`]);
    expect(await claim()).to.deep.equal([`${OTK}:HS2`]);
    expect(bridge.requests.filter((r) => r.path === CLAIM_PATH)).to.have.length(0);
    // The homeserver has none left for the device: the bridge is asked, and its key returned.
    expect(await claim()).to.deep.equal([`${OTK}:BRIDGE0`]);
    const asked = bridge.requests.filter((r) => r.path === CLAIM_PATH);
    expect(asked.map((r) => [r.body, r.tokenOk])).to.deep.equal([[{ [GHOST]: { [DEVICE]: [OTK] } }, true]]);
  });

  it('the fallback key answers when the bridge has no key either', async () => {
    await bridgeStartsUp();
    bridge.status(503);
    const local = await api.register('carol');
    const claims: string[][] = [];
    for (let i = 0; i < 3; i++) {
      const res = await api.call('POST', `${C}/keys/claim`, {
        token: local.token,
        body: { one_time_keys: { [GHOST]: { [DEVICE]: OTK } }, timeout: 1_000 },
      });
      claims.push(Object.keys(res.body.one_time_keys[GHOST][DEVICE] as Json));
    }
    expect(claims).to.deep.equal([[`${OTK}:HS1`], [`${OTK}:HS2`], [`${OTK}:FALLBACK`]]);
  });
});
