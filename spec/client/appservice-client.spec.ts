import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { expect } from 'chai';
import { AppserviceClient } from '../../lib/client/appservice-client.ts';
import type { AppserviceClientOptions } from '../../lib/client/appservice-client.ts';
import { AppserviceRequestError } from '../../lib/errors.ts';
import { MockAppService } from '../../lib/testing/index.ts';
import { makeRegistration } from '../testing/fixtures.ts';
import type { RegistrationSpec } from '../testing/fixtures.ts';

const HS_TOKEN = 'hs-SECRET-token-5f1e';

describe('AppserviceClient', () => {
  let mock: MockAppService;
  const clients: AppserviceClient[] = [];

  const clientFor = (spec: RegistrationSpec = {}, options: AppserviceClientOptions = {}): AppserviceClient => {
    const client = new AppserviceClient(makeRegistration({ url: mock.url, hsToken: HS_TOKEN, ...spec }), options);
    clients.push(client);
    return client;
  };
  const failure = async (promise: Promise<unknown>): Promise<AppserviceRequestError> => {
    const error = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).to.be.instanceOf(AppserviceRequestError);
    return error as AppserviceRequestError;
  };

  beforeEach(async () => {
    mock = await MockAppService.start({
      hsToken: HS_TOKEN,
      users: ['@irc_alice:hs.test'],
      aliases: ['#irc_#a/b:hs.test'],
      protocols: {
        irc: { user_fields: ['nick'], location_fields: ['channel'], icon: '', field_types: {}, instances: [] },
      },
      onThirdparty: (kind, protocol, query) => [{ kind, protocol, query }],
    });
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await mock.close();
  });

  describe('connections', () => {
    it('an idle client holds no connection pool: a thousand of them take little memory', async () => {
      setFlagsFromString('--expose-gc');
      const gc = runInNewContext('gc') as () => void;
      gc();
      const before = process.memoryUsage().heapUsed;
      const idle = Array.from({ length: 1000 }, (_, i) => clientFor({ id: `idle${i}` }));
      gc();
      const perClient = (process.memoryUsage().heapUsed - before) / idle.length;
      // An undici Pool alone is some 17 KB (its request queue); a client without one is a few hundred bytes.
      expect(perClient, `${Math.round(perClient)} bytes of heap per idle client`).to.be.below(4_000);
      expect(await idle[999]!.queryUser('@irc_alice:hs.test')).to.equal(true);
    });

    it('a client closed before its first request refuses requests without reaching the AS', async () => {
      const client = clientFor();
      await client.close();
      const error = await failure(client.queryUser('@irc_alice:hs.test'));
      expect(error.asId).to.equal(client.asId);
      expect(mock.requests).to.have.length(0);
    });
  });

  describe('queries', () => {
    it('answers true on 200 and false on 404 M_NOT_FOUND, one request each', async () => {
      const client = clientFor();
      expect(await client.queryUser('@irc_alice:hs.test')).to.equal(true);
      expect(await client.queryUser('@irc_nobody:hs.test')).to.equal(false);
      expect(await client.queryAlias('#irc_#a/b:hs.test')).to.equal(true);
      expect(await client.queryAlias('#irc_#zzz:hs.test')).to.equal(false);
      expect(mock.requests.map((r) => r.path)).to.deep.equal([
        '/_matrix/app/v1/users/%40irc_alice%3Ahs.test',
        '/_matrix/app/v1/users/%40irc_nobody%3Ahs.test',
        '/_matrix/app/v1/rooms/%23irc_%23a%2Fb%3Ahs.test',
        '/_matrix/app/v1/rooms/%23irc_%23zzz%3Ahs.test',
      ]);
      expect(client.pathFamily).to.equal('v1');
    });

    it('authenticates with the Authorization header only, unless the registration opts in', async () => {
      await clientFor().queryUser('@irc_alice:hs.test');
      expect(mock.requests[0]!.tokenOk).to.equal(true);
      expect(mock.requests[0]!.query).to.deep.equal({});
      await clientFor({ legacyQueryToken: true }).queryUser('@irc_alice:hs.test');
      expect(mock.requests[1]!.query).to.deep.equal({ access_token: HS_TOKEN });
    });

    it('keeps a path prefix of the registration url', async () => {
      const client = new AppserviceClient(makeRegistration({ url: `${mock.url}/bridge/`, hsToken: HS_TOKEN }));
      clients.push(client);
      await client.queryUser('@irc_alice:hs.test').catch(() => undefined);
      expect(mock.requests[0]!.path).to.equal('/bridge/_matrix/app/v1/users/%40irc_alice%3Ahs.test');
    });

    it('reuses one keep-alive connection for sequential requests', async () => {
      const client = clientFor();
      for (let i = 0; i < 20; i++) await client.queryUser(`@irc_${i}:hs.test`);
      // The pool may open a second socket while the first finishes its response; never one each.
      expect(mock.connections).to.be.at.most(2);
    });

    it('never opens more than `connections` sockets', async () => {
      mock.slow(50);
      const client = clientFor({}, { connections: 2 });
      await Promise.all(Array.from({ length: 10 }, (_, i) => client.queryUser(`@irc_${i}:hs.test`)));
      expect(mock.requests).to.have.length(10);
      expect(mock.connections).to.be.at.most(2);
    });

    it('reports a non-2xx answer as a status error with the body and Retry-After', async () => {
      const client = clientFor();
      mock.status(500, { times: 1 });
      const e500 = await failure(client.queryUser('@irc_alice:hs.test'));
      expect(e500).to.include({ kind: 'status', status: 500 });
      expect(e500.body).to.deep.include({ errcode: 'M_UNKNOWN' });
      mock.status(429, { times: 1, headers: { 'retry-after': '2' } });
      expect(await failure(client.queryUser('@irc_alice:hs.test'))).to.include({ status: 429, retryAfterMs: 2000 });
      mock.status(429, { times: 1, body: { errcode: 'M_LIMIT_EXCEEDED', retry_after_ms: 750 } });
      expect(await failure(client.queryAlias('#irc_#a/b:hs.test'))).to.include({ status: 429, retryAfterMs: 750 });
    });

    it('reports a wrong hs_token as a 403 status error', async () => {
      const e = await failure(clientFor({ hsToken: 'not-the-token' }).queryUser('@irc_alice:hs.test'));
      expect(e).to.include({ kind: 'status', status: 403 });
    });

    it('rejects a 200 whose body is not JSON, and an oversized body past the cap', async () => {
      const client = clientFor({}, { maxResponseBytes: 64 * 1024 });
      mock.garbage(true);
      expect(await failure(client.queryUser('@irc_alice:hs.test'))).to.include({ kind: 'body' });
      mock.garbage(false);
      mock.oversized(8 * 1024 * 1024, { chunked: true });
      expect(await failure(client.queryUser('@irc_alice:hs.test'))).to.include({ kind: 'body' });
      mock.oversized(8 * 1024 * 1024, { chunked: false });
      expect(await failure(client.thirdparty('protocol', 'irc', {}))).to.include({ kind: 'body' });
      mock.oversized(null);
      expect(await client.queryUser('@irc_alice:hs.test')).to.equal(true);
    });

    it('a 2xx whose body is not a JSON object ([], a string, a number) is no "created" (application-service-api.md, query_user / query_room: 200 with an empty object)', async () => {
      const client = clientFor();
      for (const body of [[], ['@irc_alice:hs.test'], 'ok', 1]) {
        mock.status(200, { body });
        expect(await failure(client.queryUser('@irc_bob:hs.test')), JSON.stringify(body)).to.include({ kind: 'body' });
        expect(await failure(client.queryAlias('#irc_b:hs.test')), JSON.stringify(body)).to.include({ kind: 'body' });
      }
      mock.status(200, { body: { extra: 'fields are fine' } });
      expect(await client.queryUser('@irc_bob:hs.test')).to.equal(true);
    });

    it('reports a refused connection, an abort and a missing url by kind', async () => {
      const client = clientFor();
      await mock.down();
      expect(await failure(client.queryUser('@irc_alice:hs.test'))).to.include({ kind: 'connection' });
      await mock.up();
      mock.slow(2000);
      const timedOut = await failure(client.queryUser('@irc_alice:hs.test', AbortSignal.timeout(100)));
      expect(timedOut.kind).to.equal('timeout');
      expect(timedOut.message).to.contain('deadline passed');
      const noUrl = new AppserviceClient(makeRegistration({ url: null }));
      expect(await failure(noUrl.queryUser('@irc_alice:hs.test'))).to.include({ kind: 'url-not-set' });
      await noUrl.close();
    });

    it('times out on slow headers with headersTimeoutMs', async () => {
      mock.slow(4000);
      const started = performance.now();
      const e = await failure(clientFor({}, { headersTimeoutMs: 500 }).queryUser('@irc_alice:hs.test'));
      expect(e.kind).to.equal('timeout');
      // undici checks these timers coarsely (about once a second).
      expect(performance.now() - started).to.be.below(3000);
    });

    it('abandons a body that dribbles in for longer than bodyTimeoutMs as a whole', async () => {
      // Each pause is short, so undici's own bodyTimeout (a per-pause limit) never fires.
      const timers = new Set<NodeJS.Timeout>();
      const dribbler = http.createServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        const tick = (): void => {
          if (res.destroyed) return;
          res.write(' ');
          const timer = setTimeout(tick, 50);
          timers.add(timer);
        };
        tick();
      });
      await new Promise<void>((resolve) => dribbler.listen(0, '127.0.0.1', resolve));
      try {
        const { port } = dribbler.address() as AddressInfo;
        const client = new AppserviceClient(makeRegistration({ url: `http://127.0.0.1:${port}`, hsToken: HS_TOKEN }), {
          bodyTimeoutMs: 400,
        });
        clients.push(client);
        const started = performance.now();
        const e = await failure(client.queryUser('@irc_alice:hs.test'));
        expect(e.kind).to.equal('timeout');
        expect(performance.now() - started).to.be.below(400 + 500);
      } finally {
        for (const timer of timers) clearTimeout(timer);
        dribbler.closeAllConnections();
        await new Promise((resolve) => dribbler.close(resolve));
      }
    });

    it('never puts the hs_token in an error message or its causes', async () => {
      const errors: unknown[] = [];
      const client = clientFor({ legacyQueryToken: true });
      const collect = (p: Promise<unknown>): Promise<void> =>
        p.then(
          () => undefined,
          (e: unknown) => void errors.push(e),
        );
      mock.status(500, { times: 1 });
      await collect(client.queryUser('@irc_alice:hs.test'));
      mock.garbage(true);
      await collect(client.queryAlias('#irc_#a/b:hs.test'));
      mock.garbage(false);
      mock.slow(300);
      await collect(client.queryUser('@irc_alice:hs.test', AbortSignal.timeout(30)));
      mock.slow(0);
      await collect(clientFor({ hsToken: `${HS_TOKEN}-wrong`, legacyQueryToken: true }).ping());
      await mock.down();
      await collect(client.sendTransaction('1', '{}'));
      expect(errors).to.have.length(5);
      for (let error: unknown = errors; error !== undefined;) {
        // Walk every error and its cause chain.
        const list = Array.isArray(error) ? error : [error];
        const next: unknown[] = [];
        for (const e of list) {
          expect(String((e as Error).message), String(e)).not.to.contain(HS_TOKEN);
          expect(String((e as Error).stack)).not.to.contain(HS_TOKEN);
          if ((e as Error).cause !== undefined) next.push((e as Error).cause);
        }
        error = next.length > 0 ? next : undefined;
      }
    });
  });

  describe('draft (legacy) paths', () => {
    it('falls back on 404 M_UNRECOGNIZED and remembers it', async () => {
      mock.legacyOnly(true);
      const client = clientFor();
      expect(await client.queryUser('@irc_alice:hs.test')).to.equal(true);
      expect(client.pathFamily).to.equal('legacy');
      expect(await client.queryAlias('#irc_#zzz:hs.test')).to.equal(false);
      expect(mock.requests.map((r) => r.path)).to.deep.equal([
        '/_matrix/app/v1/users/%40irc_alice%3Ahs.test',
        '/users/%40irc_alice%3Ahs.test',
        '/rooms/%23irc_%23zzz%3Ahs.test',
      ]);
    });

    it('falls back on a bare 404 as well', async () => {
      mock.legacyOnly(true, 'bare');
      const client = clientFor();
      expect(await client.queryAlias('#irc_#a/b:hs.test')).to.equal(true);
      expect(client.pathFamily).to.equal('legacy');
    });

    it('does not take a 404 M_NOT_FOUND for an unknown path', async () => {
      const client = clientFor();
      expect(await client.queryUser('@irc_nobody:hs.test')).to.equal(false);
      expect(mock.requests).to.have.length(1);
      expect(client.pathFamily).to.equal('v1');
    });

    describe('application-service-api.md#legacy-routes: "a status that does not indicate success (404, 500, 501, etc)"', () => {
      /** A draft-era AS behind a server that answers every v1 path with `status` (no Matrix body). */
      async function draftAs(status: number): Promise<{ url: string; paths: string[]; close: () => Promise<void> }> {
        const paths: string[] = [];
        const server = http.createServer((req, res) => {
          paths.push(req.url ?? '');
          const known = /^\/(users|rooms|transactions)\//.test(req.url ?? '');
          res.writeHead(req.url?.startsWith('/_matrix/app/v1/') ? status : known ? 200 : 404, {
            'content-type': 'application/json',
          });
          res.end(known ? '{}' : '{"error":"no"}');
        });
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
        return { url, paths, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
      }

      for (const status of [500, 501, 502, 400, 403]) {
        it(`falls back to the draft path on a ${status} from v1, remembers it, and re-probes v1 later`, async () => {
          const as = await draftAs(status);
          try {
            const client = new AppserviceClient(makeRegistration({ url: as.url, hsToken: HS_TOKEN }), {
              legacyReprobeMs: 100,
            });
            clients.push(client);
            expect(await client.queryUser('@irc_alice:hs.test')).to.equal(true);
            expect(client.pathFamily).to.equal('legacy');
            await client.sendTransaction('t1', '{"events":[]}');
            await new Promise((resolve) => setTimeout(resolve, 120));
            expect(await client.queryAlias('#irc_a:hs.test')).to.equal(true);
            expect(as.paths).to.deep.equal([
              '/_matrix/app/v1/users/%40irc_alice%3Ahs.test',
              '/users/%40irc_alice%3Ahs.test',
              '/transactions/t1',
              '/_matrix/app/v1/rooms/%23irc_a%3Ahs.test',
              '/rooms/%23irc_a%3Ahs.test',
            ]);
          } finally {
            await as.close();
          }
        });
      }

      it('keeps the v1 answer when the draft path does not succeed either (a v1 AS with a passing 500)', async () => {
        const client = clientFor();
        mock.status(500, { times: 1 });
        expect(await failure(client.queryUser('@irc_alice:hs.test'))).to.include({ kind: 'status', status: 500 });
        expect(client.pathFamily).to.equal('v1');
        expect(mock.requests.map((r) => r.path)).to.deep.equal([
          '/_matrix/app/v1/users/%40irc_alice%3Ahs.test',
          '/users/%40irc_alice%3Ahs.test',
        ]);
      });

      it("does not fall back on the endpoint's own answers: 404 M_NOT_FOUND (absent) and 429 (slow down)", async () => {
        const client = clientFor();
        expect(await client.queryUser('@irc_nobody:hs.test')).to.equal(false);
        mock.status(429, { times: 1 });
        expect(await failure(client.queryUser('@irc_alice:hs.test'))).to.include({ kind: 'status', status: 429 });
        expect(mock.requests).to.have.length(2);
        expect(client.pathFamily).to.equal('v1');
      });
    });

    it('sends transactions and third-party lookups on the draft paths too', async () => {
      mock.legacyOnly(true);
      const client = clientFor();
      await client.sendTransaction('t1', '{"events":[{"type":"m.x"}]}');
      expect(await client.thirdparty('location', 'irc', { channel: '#a' })).to.deep.equal([
        { kind: 'location', protocol: 'irc', query: { channel: '#a' } },
      ]);
      expect(mock.requests.map((r) => r.path)).to.deep.equal([
        '/_matrix/app/v1/transactions/t1',
        '/transactions/t1',
        '/_matrix/app/unstable/thirdparty/location/irc',
      ]);
      expect(mock.events).to.deep.equal([{ type: 'm.x' }]);
    });

    it('re-probes v1 after legacyReprobeMs and returns to it once the AS upgraded', async () => {
      mock.legacyOnly(true);
      const client = clientFor({}, { legacyReprobeMs: 100 });
      await client.queryUser('@irc_alice:hs.test');
      expect(client.pathFamily).to.equal('legacy');
      await new Promise((resolve) => setTimeout(resolve, 120));
      expect(client.pathFamily).to.equal('v1');
      await client.queryUser('@irc_alice:hs.test'); // v1 still unknown: back to legacy
      expect(client.pathFamily).to.equal('legacy');
      mock.legacyOnly(false);
      mock.reset();
      // Upgraded before the re-probe is due: the draft path is now the unknown one, so v1 is learnt.
      expect(await client.queryUser('@irc_alice:hs.test')).to.equal(true);
      expect(client.pathFamily).to.equal('v1');
      expect(mock.requests.map((r) => r.path)).to.deep.equal([
        '/users/%40irc_alice%3Ahs.test',
        '/_matrix/app/v1/users/%40irc_alice%3Ahs.test',
      ]);
    });
  });

  describe('transactions, ping, thirdparty', () => {
    it('PUTs the body byte for byte and accepts any 2xx', async () => {
      const client = clientFor();
      const body = '{"events":[{"type":"m.room.message","content":{"body":"é ✓"}}],  "ephemeral":[]}';
      await client.sendTransaction('txn/1', body);
      expect(mock.requests[0]).to.deep.include({
        method: 'PUT',
        path: '/_matrix/app/v1/transactions/txn%2F1',
        tokenOk: true,
      });
      expect(mock.transactions.get('txn/1')).to.deep.equal(JSON.parse(body));
      mock.status(202, { times: 1, body: {} });
      await client.sendTransaction('txn-2', '{"events":[]}');
      mock.status(500, { times: 1 });
      expect(await failure(client.sendTransaction('txn-3', '{"events":[]}'))).to.include({ status: 500 });
    });

    it('pings with the transaction id', async () => {
      const client = clientFor();
      await client.ping('abc');
      await client.ping();
      expect(mock.pings).to.deep.equal(['abc', undefined]);
      expect(mock.requests[0]).to.deep.include({
        method: 'POST',
        path: '/_matrix/app/v1/ping',
        body: { transaction_id: 'abc' },
      });
    });

    it('looks up protocols, locations and users', async () => {
      const client = clientFor();
      expect(await client.thirdparty('protocol', 'irc', {})).to.have.property('user_fields');
      expect(await failure(client.thirdparty('protocol', 'gitter', {}))).to.include({ status: 404 });
      expect(await client.thirdparty('user', null, { userid: '@irc_alice:hs.test' })).to.deep.equal([
        { kind: 'user', protocol: null, query: { userid: '@irc_alice:hs.test' } },
      ]);
      expect(mock.requests.at(-1)).to.deep.include({
        path: '/_matrix/app/v1/thirdparty/user',
        query: { userid: '@irc_alice:hs.test' },
      });
    });
  });
});
