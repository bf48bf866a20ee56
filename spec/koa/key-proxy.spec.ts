/**
 * MSC3983 (one-time key claims) and MSC3984 (key queries) proxied to the AS that exclusively owns
 * the user, through `appservices()` and real loopback ASes.
 */
import { expect } from 'chai';
import { Registry as PromRegistry } from 'prom-client';
import { appservices, MemoryStore, mergeKeyQuery, OptionsError, type Appservices } from '../../lib/index.ts';
import { MockAppService } from '../../lib/testing/index.ts';
import { ToyHost } from './support/toy-host.ts';

const CLAIM_PATH = '/_matrix/app/unstable/org.matrix.msc3983/keys/claim';
const QUERY_PATH = '/_matrix/app/unstable/org.matrix.msc3984/keys/query';

function registration(
  id: string,
  url: string,
  hsToken: string,
  users: { regex: string; exclusive: boolean }[],
): Record<string, unknown> {
  return {
    id,
    url,
    as_token: `as-${id}-token`,
    hs_token: hsToken,
    sender_localpart: `${id}bot`,
    namespaces: { users, aliases: [], rooms: [] },
  };
}

/** A claim answer: one key per algorithm asked, the key id naming the AS that made it. */
function claimAnswer(tag: string) {
  return (body: unknown): unknown => {
    const out: Record<string, Record<string, Record<string, unknown>>> = {};
    for (const [user, devices] of Object.entries(body as Record<string, Record<string, string[]>>)) {
      for (const [device, algorithms] of Object.entries(devices)) {
        (out[user] ??= {})[device] = Object.fromEntries(
          algorithms.map((a, i) => [`${a}:${tag}${i}`, { key: `${tag}-key-${i}` }]),
        );
      }
    }
    return out;
  };
}

describe('key proxying (MSC3983 / MSC3984)', () => {
  let irc: MockAppService;
  let shared: MockAppService;
  let as: Appservices | undefined;
  const host = new ToyHost('hs.test');

  beforeEach(async () => {
    irc = await MockAppService.start({
      hsToken: 'hs-irc-secret',
      onKeysClaim: claimAnswer('irc'),
      onKeysQuery: (body) => ({
        device_keys: Object.fromEntries(
          Object.keys(body as Record<string, string[]>).map((user) => [
            user,
            { IRCDEV: { user_id: user, device_id: 'IRCDEV' }, OTHER: { device_id: 'OTHER' } },
          ]),
        ),
        master_keys: {
          '@irc_bob:hs.test': { usage: ['master'] },
          '@alice:hs.test': { usage: ['master'], injected: true },
        },
      }),
    });
    shared = await MockAppService.start({
      hsToken: 'hs-shared-secret',
      onKeysClaim: claimAnswer('shared'),
      onKeysQuery: () => ({}),
    });
  });

  afterEach(async () => {
    await as?.close();
    as = undefined;
    await irc.close();
    await shared.close();
  });

  async function start(
    experimentalFeatures: { msc3983?: boolean; msc3984?: boolean },
    extra: Record<string, unknown> = {},
  ): Promise<Appservices> {
    as = await appservices({
      host,
      store: new MemoryStore(),
      queryDeadlineMs: 600,
      queryRetryMinDelayMs: 20,
      queryRetryMaxDelayMs: 50,
      registrations: [
        registration('irc', irc.url, 'hs-irc-secret', [{ regex: '@irc_.*', exclusive: true }]),
        // Claims the IRC users too, but not exclusively: it must never be asked about them.
        registration('shared', shared.url, 'hs-shared-secret', [{ regex: '@.*', exclusive: false }]),
      ],
      experimentalFeatures,
      ...extra,
    });
    return as;
  }

  it('claims from the exclusive owner only, on the MSC3983 path, with the hs_token and the list body', async () => {
    const plugin = await start({ msc3983: true });
    const result = await plugin.claimKeys({
      '@irc_bob:hs.test': { BOBDEV: 'signed_curve25519' },
      '@irc_carol:hs.test': { CAROLDEV: ['signed_curve25519', 'signed_curve25519'] },
      '@alice:hs.test': { ALICEDEV: 'signed_curve25519' },
    });
    expect(irc.requests).to.have.length(1);
    const [sent] = irc.requests;
    expect(sent?.method).to.equal('POST');
    expect(sent?.path).to.equal(CLAIM_PATH);
    expect(sent?.tokenOk).to.equal(true);
    expect(sent?.body).to.deep.equal({
      '@irc_bob:hs.test': { BOBDEV: ['signed_curve25519'] },
      '@irc_carol:hs.test': { CAROLDEV: ['signed_curve25519', 'signed_curve25519'] },
    });
    expect(shared.requests, 'a non-exclusive namespace is never asked').to.deep.equal([]);
    expect(result.oneTimeKeys).to.deep.equal({
      '@irc_bob:hs.test': { BOBDEV: { 'signed_curve25519:irc0': { key: 'irc-key-0' } } },
      '@irc_carol:hs.test': {
        CAROLDEV: { 'signed_curve25519:irc0': { key: 'irc-key-0' }, 'signed_curve25519:irc1': { key: 'irc-key-1' } },
      },
    });
    expect(result.missing).to.deep.equal({ '@alice:hs.test': { ALICEDEV: ['signed_curve25519'] } });
    expect(result.unavailable).to.deep.equal([]);
  });

  it('reports keys the AS did not supply as missing, and drops keys for users it was not asked about', async () => {
    await irc.close();
    irc = await MockAppService.start({
      hsToken: 'hs-irc-secret',
      onKeysClaim: () => ({
        '@irc_bob:hs.test': { BOBDEV: { 'signed_curve25519:ONE': { key: 'k1' } } },
        '@irc_eve:hs.test': { EVEDEV: { 'signed_curve25519:X': { key: 'injected' } } },
      }),
    });
    const plugin = await start({ msc3983: true });
    const result = await plugin.claimKeys({
      '@irc_bob:hs.test': { BOBDEV: ['signed_curve25519', 'signed_curve25519'] },
    });
    expect(result.oneTimeKeys).to.deep.equal({
      '@irc_bob:hs.test': { BOBDEV: { 'signed_curve25519:ONE': { key: 'k1' } } },
    });
    expect(result.missing).to.deep.equal({ '@irc_bob:hs.test': { BOBDEV: ['signed_curve25519'] } });
  });

  it('asks no AS while the feature is off (the default)', async () => {
    const plugin = await start({});
    const claim = await plugin.claimKeys({ '@irc_bob:hs.test': { BOBDEV: 'signed_curve25519' } });
    const query = await plugin.queryKeys({ '@irc_bob:hs.test': [] });
    expect(irc.requests).to.deep.equal([]);
    expect(claim.missing).to.deep.equal({ '@irc_bob:hs.test': { BOBDEV: ['signed_curve25519'] } });
    expect(query.deviceKeys).to.deep.equal({});
  });

  it('queries on the MSC3984 path with the user → devices body, keeping only what was asked of that AS', async () => {
    const plugin = await start({ msc3984: true });
    const result = await plugin.queryKeys({
      '@irc_bob:hs.test': ['IRCDEV'],
      '@irc_carol:hs.test': [],
      '@alice:hs.test': [],
    });
    expect(irc.requests.map((r) => [r.path, r.tokenOk, r.body])).to.deep.equal([
      [QUERY_PATH, true, { '@irc_bob:hs.test': ['IRCDEV'], '@irc_carol:hs.test': [] }],
    ]);
    expect(shared.requests).to.deep.equal([]);
    expect(result.deviceKeys).to.deep.equal({
      '@irc_bob:hs.test': { IRCDEV: { user_id: '@irc_bob:hs.test', device_id: 'IRCDEV' } },
      '@irc_carol:hs.test': {
        IRCDEV: { user_id: '@irc_carol:hs.test', device_id: 'IRCDEV' },
        OTHER: { device_id: 'OTHER' },
      },
    });
    // @alice is not the AS's user: its master key from the AS is dropped.
    expect(result.masterKeys).to.deep.equal({ '@irc_bob:hs.test': { usage: ['master'] } });
  });

  it('merges the AS answer over the homeserver’s device by device (MSC3984)', async () => {
    const plugin = await start({ msc3984: true });
    const fromAs = await plugin.queryKeys({ '@irc_bob:hs.test': [] });
    const merged = mergeKeyQuery(
      {
        device_keys: {
          '@irc_bob:hs.test': { IRCDEV: { old: true }, HSONLY: { hs: true } },
          '@alice:hs.test': { A: {} },
        },
        self_signing_keys: { '@irc_bob:hs.test': { usage: ['self_signing'] } },
        failures: {},
      },
      fromAs,
    );
    expect(merged.device_keys).to.deep.equal({
      '@irc_bob:hs.test': {
        IRCDEV: { user_id: '@irc_bob:hs.test', device_id: 'IRCDEV' },
        HSONLY: { hs: true },
        OTHER: { device_id: 'OTHER' },
      },
      '@alice:hs.test': { A: {} },
    });
    expect(merged.master_keys).to.deep.equal({ '@irc_bob:hs.test': { usage: ['master'] } });
    expect(merged.self_signing_keys).to.deep.equal({ '@irc_bob:hs.test': { usage: ['self_signing'] } });
    expect(merged.failures).to.deep.equal({});
  });

  it('an AS that is down costs at most the deadline, never throws, and is named in unavailable; then fails fast', async () => {
    const registry = new PromRegistry();
    const plugin = await start({ msc3983: true, msc3984: true }, { metricsRegistry: registry });
    await irc.down();
    const result = await plugin.claimKeys({ '@irc_bob:hs.test': { BOBDEV: 'signed_curve25519' } }, { deadlineMs: 300 });
    expect(result.unavailable).to.deep.equal(['irc']);
    expect(result.oneTimeKeys).to.deep.equal({});
    expect(result.missing).to.deep.equal({ '@irc_bob:hs.test': { BOBDEV: ['signed_curve25519'] } });
    // Marked down: the next call does not try to connect at all.
    await irc.up();
    const before = irc.requests.length;
    const query = await plugin.queryKeys({ '@irc_bob:hs.test': [] });
    expect(query.unavailable).to.deep.equal(['irc']);
    expect(irc.requests.length).to.equal(before);
    const text = await registry.metrics();
    expect(text).to.match(/koa_appservice_query_duration_seconds_count\{kind="key_claim",outcome="unavailable"\} 1/);
    expect(text).to.match(/koa_appservice_query_duration_seconds_count\{kind="key_query",outcome="unavailable"\} 1/);
  });

  it('a slow AS is given up at the caller’s deadline', async () => {
    const plugin = await start({ msc3983: true });
    irc.slow(2_000);
    const result = await plugin.claimKeys({ '@irc_bob:hs.test': { BOBDEV: 'signed_curve25519' } }, { deadlineMs: 200 });
    expect(result.unavailable).to.deep.equal(['irc']);
  });

  it('retries a 500 within the deadline', async () => {
    const plugin = await start({ msc3983: true });
    irc.status(500, { times: 1 });
    const result = await plugin.claimKeys({ '@irc_bob:hs.test': { BOBDEV: 'signed_curve25519' } });
    expect(irc.requests).to.have.length(2);
    expect(result.unavailable).to.deep.equal([]);
    expect(Object.keys(result.oneTimeKeys)).to.deep.equal(['@irc_bob:hs.test']);
  });

  it('an AS without the route is "no keys", not a failure, and is not asked again for a while', async () => {
    await irc.close();
    irc = await MockAppService.start({ hsToken: 'hs-irc-secret' });
    const plugin = await start({ msc3983: true });
    const first = await plugin.claimKeys({ '@irc_bob:hs.test': { BOBDEV: 'signed_curve25519' } });
    const second = await plugin.claimKeys({ '@irc_bob:hs.test': { BOBDEV: 'signed_curve25519' } });
    expect(first.unavailable).to.deep.equal([]);
    expect(second.missing).to.deep.equal({ '@irc_bob:hs.test': { BOBDEV: ['signed_curve25519'] } });
    expect(irc.requests).to.have.length(1);
  });

  it('refuses a malformed experimentalFeatures at start-up', async () => {
    for (const bad of [{ msc9999: true }, { msc3983: 'yes' }, 'on']) {
      let error: unknown;
      try {
        await start(bad as never);
      } catch (caught) {
        error = caught;
      }
      expect(error, JSON.stringify(bad)).to.be.instanceOf(OptionsError);
    }
  });
});
