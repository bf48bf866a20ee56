import { expect } from 'chai';
import { AppserviceClient } from '../../lib/client/appservice-client.ts';
import { ExistenceQueries } from '../../lib/query/existence.ts';
import type { ExistenceOptions } from '../../lib/query/existence.ts';
import type { Registration } from '../../lib/registration/registration.ts';
import { MockAppService } from '../../lib/testing/index.ts';
import type { MockAppServiceOptions } from '../../lib/testing/index.ts';
import { makeRegistration, naiveIndex, ToyHost } from '../testing/fixtures.ts';
import type { RegistrationSpec } from '../testing/fixtures.ts';

const fastRetry = { minDelayMs: 10, maxDelayMs: 40 };
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('ExistenceQueries', () => {
  let host: ToyHost;
  const mocks: MockAppService[] = [];
  const clients = new Map<string, AppserviceClient>();

  /** Starts a mock AS whose registration claims irc_ users and aliases (exclusively by default). */
  async function bridge(
    spec: RegistrationSpec = {},
    mockOptions: Partial<MockAppServiceOptions> = {},
  ): Promise<{ mock: MockAppService; registration: Registration }> {
    const hsToken = `hs-${spec.id ?? 'irc'}`;
    const mock = await MockAppService.start({ hsToken, ...mockOptions });
    mocks.push(mock);
    const registration = makeRegistration({
      users: ['@irc_.*'],
      aliases: ['#irc_.*'],
      ...spec,
      url: spec.url === null ? null : mock.url,
      hsToken,
    });
    return { mock, registration };
  }

  function queries(registrations: Registration[], options: ExistenceOptions = {}): ExistenceQueries {
    for (const r of registrations) clients.set(r.id, new AppserviceClient(r));
    return new ExistenceQueries(
      { host, registrations, index: naiveIndex(registrations), client: (id) => clients.get(id)! },
      { retry: fastRetry, ...options },
    );
  }

  /** The usual bridge: creates the room (or user) in the toy host during the query, then says 200. */
  const creating = {
    onAliasQuery: (alias: string): boolean => {
      if (alias.includes('nope')) return false;
      host.createRoom(alias);
      return true;
    },
    onUserQuery: (userId: string): boolean => {
      if (userId.includes('nope')) return false;
      host.users.add(userId);
      return true;
    },
  };

  beforeEach(() => {
    host = new ToyHost('hs.test');
  });
  afterEach(async () => {
    // Mocks first: their closed sockets end any request a test left running, so pools close at once.
    await Promise.all(mocks.splice(0).map((m) => m.close()));
    await Promise.all([...clients.values()].map((c) => c.close()));
    clients.clear();
  });

  it('seed flow: the AS creates the room during the query, then the alias exists', async () => {
    const { mock, registration } = await bridge({}, creating);
    const q = queries([registration]);
    expect(await q.ensureAlias('#irc_#matrix:hs.test')).to.equal('exists');
    expect(host.aliases.has('#irc_#matrix:hs.test')).to.equal(true);
    expect(mock.requests.map((r) => [r.method, r.path, r.tokenOk])).to.deep.equal([
      ['GET', '/_matrix/app/v1/rooms/%23irc_%23matrix%3Ahs.test', true],
    ]);
    expect(await q.ensureUser('@irc_bob:hs.test')).to.equal('exists');
    expect(host.users.has('@irc_bob:hs.test')).to.equal(true);
  });

  it('asks no AS when the host knows the id already', async () => {
    const { mock, registration } = await bridge({}, creating);
    host.users.add('@irc_known:hs.test');
    expect(await queries([registration]).ensureUser('@irc_known:hs.test')).to.equal('exists');
    expect(mock.requests).to.have.length(0);
  });

  it('404 from the AS gives absent', async () => {
    const { mock, registration } = await bridge({}, creating);
    expect(await queries([registration]).ensureAlias('#irc_nope:hs.test')).to.equal('absent');
    expect(mock.requests).to.have.length(1);
  });

  it('a 200 without the host learning the id is absent, not exists', async () => {
    const { registration } = await bridge({}, { onAliasQuery: () => true });
    expect(await queries([registration]).ensureAlias('#irc_liar:hs.test')).to.equal('absent');
  });

  it('ids outside every namespace, on other servers, or of url-less ASes are never asked about', async () => {
    const { mock, registration } = await bridge({}, creating);
    const { mock: urlless, registration: noUrl } = await bridge({ id: 'push-only', url: null, users: ['@push_.*'] });
    const q = queries([registration, noUrl]);
    expect(await q.ensureUser('@someone:hs.test')).to.equal('absent');
    expect(await q.ensureUser('@irc_bob:elsewhere.test')).to.equal('absent');
    expect(await q.ensureUser('@push_bob:hs.test')).to.equal('absent');
    expect(mock.requests).to.have.length(0);
    expect(urlless.requests).to.have.length(0);
  });

  it('retries a 500 and then succeeds', async () => {
    const { mock, registration } = await bridge({}, creating);
    mock.status(500, { times: 1 });
    expect(await queries([registration]).ensureAlias('#irc_retry:hs.test')).to.equal('exists');
    // v1 said 500, the draft path is unknown to this AS (legacy fallback), then v1 again.
    expect(mock.requests.map((r) => r.path)).to.deep.equal([
      '/_matrix/app/v1/rooms/%23irc_retry%3Ahs.test',
      '/rooms/%23irc_retry%3Ahs.test',
      '/_matrix/app/v1/rooms/%23irc_retry%3Ahs.test',
    ]);
  });

  it('a flaky AS (half its answers 500) still gives exists, through retries', async () => {
    const { mock, registration } = await bridge({}, creating);
    mock.flaky(0.5);
    const q = queries([registration]);
    for (let i = 0; i < 10; i++) expect(await q.ensureUser(`@irc_flaky${i}:hs.test`)).to.equal('exists');
    expect(mock.requests.length).to.be.at.least(10);
  });

  it('honours Retry-After on a 429', async () => {
    const { mock, registration } = await bridge({}, creating);
    mock.status(429, { times: 1, headers: { 'retry-after': '1' } });
    const started = performance.now();
    expect(await queries([registration]).ensureUser('@irc_limited:hs.test')).to.equal('exists');
    expect(performance.now() - started).to.be.at.least(950);
    expect(mock.requests).to.have.length(2);
  });

  describe("an AS that refuses the homeserver's hs_token (application-service-api.md#authorization: M_FORBIDDEN)", () => {
    for (const status of [401, 403]) {
      it(`${status}: misconfigured, not unavailable; never retried, not marked down, not cached; logged once naming the AS, never the token; counted`, async () => {
        const { mock, registration } = await bridge({}, creating);
        mock.status(status);
        const logged: { fields: Record<string, unknown>; message: string }[] = [];
        const error = (fields: Record<string, unknown> | string, message?: string): void => {
          logged.push(
            typeof fields === 'string' ? { fields: {}, message: fields } : { fields, message: message ?? '' },
          );
        };
        const logger = { debug() {}, info() {}, warn() {}, error };
        const rejected: string[] = [];
        const q = queries([registration], { logger, onTokenRejected: (asId) => rejected.push(asId) });
        expect(await q.ensureUser('@irc_x:hs.test')).to.equal('misconfigured');
        expect(await q.ensureAlias('#irc_y:hs.test')).to.equal('misconfigured');
        // One attempt each: the v1 path and, as the spec's legacy routes ask, the draft path.
        expect(mock.requests).to.have.length(4);
        expect(q.isDown('irc')).to.equal(false);
        expect(rejected).to.deep.equal(['irc', 'irc']);
        expect(logged).to.have.length(1);
        expect(logged[0]!.fields).to.include({ asId: 'irc', status });
        expect(logged[0]!.message).to.include('"irc"').and.include('hs_token').and.not.include(registration.hsToken);
        expect(JSON.stringify(logged)).not.to.include(registration.hsToken);
        mock.status(null);
        expect(await q.ensureUser('@irc_x:hs.test'), 'not cached').to.equal('exists');
      });
    }

    it('another AS that may still answer wins over a refusal: unavailable; a yes from another is exists; a no is misconfigured', async () => {
      const refusing = await bridge({ id: 'refusing' });
      refusing.mock.status(403);
      const failing = await bridge({ id: 'failing', users: [{ regex: '@irc_.*', exclusive: false }] });
      failing.mock.status(400);
      expect(await queries([refusing.registration, failing.registration]).ensureUser('@irc_a:hs.test')).to.equal(
        'unavailable',
      );
      const saysNo = await bridge(
        { id: 'no', users: [{ regex: '@irc_.*', exclusive: false }] },
        { onUserQuery: () => false },
      );
      expect(await queries([refusing.registration, saysNo.registration]).ensureUser('@irc_b:hs.test')).to.equal(
        'misconfigured',
      );
      const saysYes = await bridge({ id: 'yes', users: [{ regex: '@irc_.*', exclusive: false }] }, creating);
      expect(await queries([refusing.registration, saysYes.registration]).ensureUser('@irc_c:hs.test')).to.equal(
        'exists',
      );
    });
  });

  it('an AS slower than the deadline gives unavailable within the deadline and a small slack', async () => {
    const { mock, registration } = await bridge({}, creating);
    mock.slow(5000);
    const started = performance.now();
    expect(await queries([registration]).ensureAlias('#irc_slow:hs.test', { deadlineMs: 300 })).to.equal('unavailable');
    expect(performance.now() - started).to.be.below(300 + 200);
  });

  it('the client going away gives unavailable at once', async () => {
    const { mock, registration } = await bridge({}, creating);
    mock.slow(5000);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const started = performance.now();
    expect(await queries([registration]).ensureAlias('#irc_gone:hs.test', { signal: controller.signal })).to.equal(
      'unavailable',
    );
    expect(performance.now() - started).to.be.below(50 + 200);
  });

  it('a down AS: the first caller finds it down within its deadline, the next fails fast without a request', async () => {
    const { mock, registration } = await bridge({}, creating);
    const ups: string[] = [];
    // Attempts may take the whole deadline here: this is about the down state, not attempt timeouts.
    const q = queries([registration], {
      deadlineMs: 400,
      attemptTimeoutMs: 400,
      downForMs: 300,
      onAppserviceUp: (id) => ups.push(id),
    });
    await mock.down();
    const first = performance.now();
    expect(await q.ensureUser('@irc_a:hs.test')).to.equal('unavailable');
    expect(performance.now() - first).to.be.below(400 + 200);
    expect(q.isDown('irc')).to.equal(true);
    await mock.up();
    const connections = mock.connections;
    const started = performance.now();
    expect(await q.ensureUser('@irc_b:hs.test', { deadlineMs: 5000 })).to.equal('unavailable');
    expect(performance.now() - started).to.be.below(100);
    expect(mock.requests).to.have.length(0);
    expect(mock.connections).to.equal(connections);
    await sleep(320);
    // downForMs has passed: one probe goes through, succeeds, and the AS is up again.
    expect(await q.ensureUser('@irc_c:hs.test')).to.equal('exists');
    expect(q.isDown('irc')).to.equal(false);
    expect(ups).to.deep.equal(['irc']);
  });

  it('markUp lets queries through before downForMs has passed', async () => {
    const { mock, registration } = await bridge({}, creating);
    const q = queries([registration], { downForMs: 60_000 });
    await mock.down();
    expect(await q.ensureUser('@irc_a:hs.test')).to.equal('unavailable');
    expect(q.isDown('irc')).to.equal(true);
    await mock.up();
    expect(await q.ensureUser('@irc_a:hs.test')).to.equal('unavailable');
    expect(mock.requests).to.have.length(0);
    q.markUp('irc');
    expect(await q.ensureUser('@irc_a:hs.test')).to.equal('exists');
  });

  it('works with an AS that knows only the draft paths', async () => {
    const { mock, registration } = await bridge({}, creating);
    mock.legacyOnly(true);
    const q = queries([registration]);
    expect(await q.ensureAlias('#irc_old:hs.test')).to.equal('exists');
    expect(await q.ensureAlias('#irc_nope:hs.test')).to.equal('absent');
    expect(mock.requests.map((r) => r.path)).to.deep.equal([
      '/_matrix/app/v1/rooms/%23irc_old%3Ahs.test',
      '/rooms/%23irc_old%3Ahs.test',
      '/rooms/%23irc_nope%3Ahs.test',
    ]);
  });

  it('one impatient caller neither cuts the shared walk short nor gets the AS marked down', async () => {
    const { mock, registration } = await bridge(
      {},
      {
        onAliasQuery: async (alias) => {
          await sleep(300);
          host.createRoom(alias);
          return true;
        },
      },
    );
    const q = queries([registration], { deadlineMs: 5000 });
    const impatient = q.ensureAlias('#irc_#slowish:hs.test', { deadlineMs: 50 });
    const patient = q.ensureAlias('#irc_#slowish:hs.test');
    expect(await impatient).to.equal('unavailable');
    expect(await patient).to.equal('exists');
    expect(q.isDown('irc')).to.equal(false);
    expect(mock.requests).to.have.length(1);
  });

  it('1000 concurrent callers for one alias make exactly one AS request', async () => {
    const { mock, registration } = await bridge(
      {},
      {
        onAliasQuery: async (alias) => {
          await sleep(50);
          host.createRoom(alias);
          return true;
        },
      },
    );
    const q = queries([registration]);
    const results = await Promise.all(Array.from({ length: 1000 }, () => q.ensureAlias('#irc_#busy:hs.test')));
    expect(new Set(results)).to.deep.equal(new Set(['exists']));
    expect(mock.requests).to.have.length(1);
  });

  it('concurrent callers share a negative answer too', async () => {
    const { mock, registration } = await bridge({}, { onUserQuery: async () => (await sleep(30), false) });
    const q = queries([registration]);
    const results = await Promise.all(Array.from({ length: 100 }, () => q.ensureUser('@irc_ghost:hs.test')));
    expect(new Set(results)).to.deep.equal(new Set(['absent']));
    expect(mock.requests).to.have.length(1);
  });

  it('remembers answers: positive long, negative until negativeTtlMs', async () => {
    const { mock, registration } = await bridge({}, creating);
    const q = queries([registration], { negativeTtlMs: 150 });
    expect(await q.ensureAlias('#irc_a:hs.test')).to.equal('exists');
    const hostCalls = host.hostCalls;
    expect(await q.ensureAlias('#irc_a:hs.test')).to.equal('exists');
    expect(host.hostCalls, 'a positive hit asks nobody').to.equal(hostCalls);
    expect(await q.ensureAlias('#irc_nope:hs.test')).to.equal('absent');
    expect(await q.ensureAlias('#irc_nope:hs.test')).to.equal('absent');
    expect(mock.requests).to.have.length(2);
    await sleep(200);
    expect(await q.ensureAlias('#irc_nope:hs.test')).to.equal('absent');
    expect(mock.requests).to.have.length(3);
  });

  it('a cached "absent" that expires while the host looks up is not served: the AS is asked', async () => {
    let creates = false;
    const { mock, registration } = await bridge(
      {},
      {
        onUserQuery: (userId: string): boolean => {
          if (creates) host.users.add(userId);
          return creates;
        },
      },
    );
    const q = queries([registration], { negativeTtlMs: 50 });
    expect(await q.ensureUser('@irc_late:hs.test')).to.equal('absent');
    creates = true;
    const lookup = host.userExists.bind(host);
    host.userExists = async (userId: string): Promise<boolean> => {
      await sleep(150); // a slow homeserver database, longer than the negative answer lives
      return lookup(userId);
    };
    expect(await q.ensureUser('@irc_late:hs.test')).to.equal('exists');
    expect(mock.requests).to.have.length(2);
  });

  it('a cached "absent" never hides an id the host has learnt since', async () => {
    const { registration } = await bridge({}, creating);
    const q = queries([registration], { negativeTtlMs: 60_000 });
    expect(await q.ensureUser('@irc_nope:hs.test')).to.equal('absent');
    host.users.add('@irc_nope:hs.test');
    expect(await q.ensureUser('@irc_nope:hs.test')).to.equal('exists');
  });

  it('positive answers expire after positiveTtlMs, and the cache is bounded', async () => {
    const { registration } = await bridge({}, creating);
    const q = queries([registration], { positiveTtlMs: 100, maxEntries: 2 });
    await q.ensureUser('@irc_1:hs.test');
    let calls = host.hostCalls;
    await q.ensureUser('@irc_1:hs.test');
    expect(host.hostCalls).to.equal(calls);
    await sleep(150);
    await q.ensureUser('@irc_1:hs.test');
    expect(host.hostCalls, 'expired: the host is asked again').to.equal(calls + 1);
    await q.ensureUser('@irc_2:hs.test');
    await q.ensureUser('@irc_3:hs.test');
    calls = host.hostCalls;
    await q.ensureUser('@irc_1:hs.test');
    expect(host.hostCalls, 'evicted: the host is asked again').to.equal(calls + 1);
  });

  it('garbage or oversized bodies give unavailable, never absent', async () => {
    const { mock, registration } = await bridge({}, creating);
    mock.garbage(true);
    expect(await queries([registration]).ensureAlias('#irc_g:hs.test')).to.equal('unavailable');
    mock.garbage(false);
    mock.oversized(4 * 1024 * 1024);
    expect(await queries([registration]).ensureAlias('#irc_o:hs.test')).to.equal('unavailable');
  });

  it('a 200 [] is not "created" (only a JSON object is): unavailable, even when the host knows the id by then', async () => {
    const { mock, registration } = await bridge({}, creating);
    mock.status(200, { body: [] });
    // The host does not know the alias when asked first, and does when asked after the AS's answer.
    let asked = 0;
    host.resolveAlias = async () => (++asked === 1 ? null : '!room:hs.test');
    expect(await queries([registration]).ensureAlias('#irc_array:hs.test')).to.equal('unavailable');
    expect(mock.requests).to.have.length(1);
  });

  it('does not cache unavailable', async () => {
    const { mock, registration } = await bridge({}, creating);
    const q = queries([registration], { downForMs: 0 });
    mock.status(400, { times: 1 });
    expect(await q.ensureUser('@irc_x:hs.test')).to.equal('unavailable');
    expect(await q.ensureUser('@irc_x:hs.test')).to.equal('exists');
  });

  describe('several matching ASes', () => {
    it('asks the exclusive owner first, then the others in turn until one says yes', async () => {
      const order: string[] = [];
      const shared = await bridge(
        { id: 'shared', aliases: [{ regex: '#irc_.*', exclusive: false }] },
        {
          onAliasQuery: (alias) => (order.push('shared'), host.createRoom(alias), true),
        },
      );
      const owner = await bridge({ id: 'owner' }, { onAliasQuery: () => (order.push('owner'), false) });
      const q = queries([shared.registration, owner.registration]);
      expect(await q.ensureAlias('#irc_x:hs.test')).to.equal('exists');
      expect(order).to.deep.equal(['owner', 'shared']);
    });

    it('stops at the first yes', async () => {
      const order: string[] = [];
      const a = await bridge({ id: 'a' }, { onUserQuery: (id) => (order.push('a'), host.users.add(id), true) });
      const b = await bridge(
        { id: 'b', users: [{ regex: '@irc_.*', exclusive: false }] },
        { onUserQuery: () => (order.push('b'), true) },
      );
      expect(await queries([b.registration, a.registration]).ensureUser('@irc_x:hs.test')).to.equal('exists');
      expect(order).to.deep.equal(['a']);
    });

    it('one failing AS and no yes from the others is unavailable; a yes from another is exists', async () => {
      const broken = await bridge({ id: 'broken' });
      broken.mock.status(400);
      const saysNo = await bridge(
        { id: 'no', users: [{ regex: '@irc_.*', exclusive: false }] },
        { onUserQuery: () => false },
      );
      expect(await queries([broken.registration, saysNo.registration]).ensureUser('@irc_x:hs.test')).to.equal(
        'unavailable',
      );
      expect(saysNo.mock.requests).to.have.length(1);
      const saysYes = await bridge({ id: 'yes', users: [{ regex: '@irc_.*', exclusive: false }] }, creating);
      expect(await queries([broken.registration, saysYes.registration]).ensureUser('@irc_y:hs.test')).to.equal(
        'exists',
      );
    });
  });
});
