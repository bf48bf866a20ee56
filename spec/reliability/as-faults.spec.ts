/**
 * An application service that fails in every way we know of, behind the fully
 * mounted plugin, next to a healthy AS. For each fault:
 * - a client request that blocks on the faulty AS (alias lookup) is answered within the query
 *   deadline (+ slack) with a Matrix error, while the healthy AS's lookups go through;
 * - a ping from the faulty AS gets the spec's errcode for what went wrong;
 * - the sender backs off (growing delays, nothing lost), the healthy AS keeps receiving, and once
 *   the AS heals and pings, every event arrives exactly once, in order;
 * - memory stays bounded: a 10 MB answer is abandoned at the client's cap (a transaction's
 *   answer is not read at all: its 2xx status is the verdict, whatever follows);
 * - a redirect is never followed (the other host sees nothing) and counts as a failure.
 */
import { expect } from 'chai';
import { MockAppService } from '../../lib/testing/index.ts';
import { ToyHost } from '../koa/support/toy-host.ts';
import { FaultyAppService, HUGE_BYTES, type Fault } from './support/faulty-as.ts';
import {
  alias,
  asToken,
  call,
  hsToken,
  registrationObject,
  startHomeserver,
  type Homeserver,
} from './support/homeserver.ts';

const DEADLINE_MS = 1_000;
/** A loaded 2-core CI box: generous, and still far below the 30 s an unbounded wait would take. */
const SLACK_MS = 1_500;
const BACKOFF = { backoffInitialMs: 50, backoffMaxMs: 200 };

interface Case {
  fault: Fault;
  /** What a ping from the AS gets while the fault lasts. */
  ping: { status: number; errcode?: string; asStatus?: number };
  /** The attempt hangs (until the plugin's client timeouts) rather than failing at once. */
  hangs?: boolean;
  /** The AS processes the transaction before the fault hits the answer. */
  processes?: boolean;
  /**
   * The fault comes after a 2xx status line: for a transaction that status is the AS's verdict
   * (any 2xx is success, whatever the body), so it is delivered at once, never retried.
   */
  twoHundred?: boolean;
  /** What a blocked client gets; default 408 (the AS did not answer in time). */
  query?: number;
}

const CASES: Case[] = [
  { fault: 'refuse', ping: { status: 502, errcode: 'M_CONNECTION_FAILED' } },
  { fault: 'silent', ping: { status: 504, errcode: 'M_CONNECTION_TIMEOUT' }, hangs: true },
  { fault: 'late-headers', ping: { status: 504, errcode: 'M_CONNECTION_TIMEOUT' }, hangs: true },
  { fault: 'dribble', ping: { status: 504, errcode: 'M_CONNECTION_TIMEOUT' }, processes: true, twoHundred: true },
  { fault: 'huge-chunked', ping: { status: 502, errcode: 'M_BAD_STATUS' }, processes: true, twoHundred: true },
  { fault: 'huge-declared', ping: { status: 502, errcode: 'M_BAD_STATUS' }, processes: true, twoHundred: true },
  // A 2xx is success whatever its body (the spec), for a ping and for a transaction.
  { fault: 'invalid-json', ping: { status: 200 }, processes: true, twoHundred: true },
  { fault: 'redirect', ping: { status: 502, errcode: 'M_BAD_STATUS', asStatus: 302 } },
  // The AS refuses our hs_token: a configuration error (502), not a timeout (408).
  { fault: '401', ping: { status: 502, errcode: 'M_BAD_STATUS', asStatus: 401 }, query: 502 },
  { fault: '403', ping: { status: 502, errcode: 'M_BAD_STATUS', asStatus: 403 }, query: 502 },
  { fault: 'close-mid-body', ping: { status: 502, errcode: 'M_CONNECTION_FAILED' }, processes: true, twoHundred: true },
];

interface Failure {
  asId: string;
  retryInMs: number;
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('reliability: AS faults behind the mounted plugin', function () {
  this.timeout(20_000);
  let host: ToyHost;
  let faulty: FaultyAppService;
  let healthy: MockAppService;
  let elsewhere: MockAppService;
  let hs: Homeserver;
  let failures: Failure[];

  beforeEach(async () => {
    host = new ToyHost('hs.test');
    const create = (prefix: string) => (value: string) => {
      if (!value.startsWith(prefix)) return false;
      host.aliases.set(value, `!${value.slice(1, value.indexOf(':'))}:hs.test`);
      return true;
    };
    faulty = await FaultyAppService.start({ hsToken: hsToken('irc'), onAlias: create('#irc_') });
    healthy = await MockAppService.start({ hsToken: hsToken('ok'), onAliasQuery: create('#ok_') });
    elsewhere = await MockAppService.start({ hsToken: hsToken('irc') });
    faulty.redirectTo = elsewhere.url;
    failures = [];
    const warn = (fields: unknown): void => {
      const f = fields as { asId?: string; retryInMs?: number };
      if (typeof f === 'object' && f !== null && typeof f.asId === 'string')
        failures.push({ asId: f.asId, retryInMs: f.retryInMs ?? -1 });
    };
    hs = await startHomeserver({
      host,
      registrations: [registrationObject('irc', faulty.url), registrationObject('ok', healthy.url)],
      queryDeadlineMs: DEADLINE_MS,
      ...BACKOFF,
      logger: { debug() {}, info() {}, warn, error() {} },
    });
  });

  afterEach(async () => {
    await hs.close();
    await Promise.all([faulty.close(), healthy.close(), elsewhere.close()]);
  });

  it('many clients blocked on a silent AS: all answered within the deadline, connections bounded by the pool', async () => {
    await faulty.set('silent');
    const replies = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        call(hs.url, 'GET', alias(`#irc_crowd${i}:hs.test`), { token: 'syt_user_token' }),
      ),
    );
    for (const reply of replies) {
      expect(reply.status).to.equal(408);
      expect(reply.ms).to.be.below(DEADLINE_MS + SLACK_MS);
    }
    // connectionsPerAppservice defaults to 8: a hung AS cannot make the homeserver open more.
    expect(faulty.maxOpen, `${faulty.connections} connections in all`).to.be.within(1, 8);
  });

  for (const c of CASES) {
    describe(`fault: ${c.fault}`, () => {
      it('blocked client requests get a Matrix error within the deadline; the healthy AS is unaffected; a ping reports it; healing + ping recovers', async () => {
        await faulty.set(c.fault);
        const [bad, good] = await Promise.all([
          call(hs.url, 'GET', alias('#irc_stuck:hs.test'), { token: 'syt_user_token' }),
          call(hs.url, 'GET', alias('#ok_fine:hs.test'), { token: 'syt_user_token' }),
        ]);
        expect(good.status, 'healthy AS lookup').to.equal(200);
        expect(good.body.room_id).to.equal('!ok_fine:hs.test');
        expect(good.ms).to.be.below(DEADLINE_MS + SLACK_MS);
        expect(bad.status, JSON.stringify(bad.body)).to.equal(c.query ?? 408);
        expect(bad.body.errcode).to.equal('M_UNKNOWN');
        expect(bad.body.error).to.be.a('string').and.not.include(hsToken('irc'));
        expect(bad.ms).to.be.below(DEADLINE_MS + SLACK_MS);

        const ping = await call(hs.url, 'POST', '/_matrix/client/v1/appservice/irc/ping', {
          token: asToken('irc'),
          body: {},
        });
        expect(ping.status, JSON.stringify(ping.body)).to.equal(c.ping.status);
        if (c.ping.errcode !== undefined) expect(ping.body.errcode).to.equal(c.ping.errcode);
        if (c.ping.asStatus !== undefined) expect(ping.body.status).to.equal(c.ping.asStatus);
        expect(ping.ms).to.be.below(DEADLINE_MS + SLACK_MS);

        if (c.fault === 'redirect') expect(elsewhere.requests, 'redirect followed').to.have.length(0);
        if (c.fault.startsWith('huge')) {
          expect(faulty.hugeCompleted, 'a 10 MB answer was read to the end').to.equal(0);
          expect(faulty.hugeBytesWritten).to.be.below(3 * HUGE_BYTES);
        }

        await faulty.heal();
        const pong = await call(hs.url, 'POST', '/_matrix/client/v1/appservice/irc/ping', {
          token: asToken('irc'),
          body: {},
        });
        expect(pong.status).to.equal(200);
        const after = await call(hs.url, 'GET', alias('#irc_after:hs.test'), { token: 'syt_user_token' });
        expect(after.status, JSON.stringify(after.body)).to.equal(200);
        expect(after.body.room_id).to.equal('!irc_after:hs.test');
      });

      it('the sender backs off while the healthy AS keeps receiving, and after healing every event arrives once, in order', async () => {
        await faulty.set(c.fault);
        const ids: string[] = [];
        for (let i = 0; i < 5; i++) {
          await hs.as.publish({
            event_id: `$irc${i}`,
            room_id: '!r:hs.test',
            type: 'm.room.message',
            sender: '@irc_u:hs.test',
            content: { i },
          });
          await hs.as.publish({
            event_id: `$ok${i}`,
            room_id: '!r:hs.test',
            type: 'm.room.message',
            sender: '@ok_u:hs.test',
            content: { i },
          });
          ids.push(`$irc${i}`);
        }
        await healthy.waitForEvents(5, DEADLINE_MS + SLACK_MS);
        expect(healthy.events.map((e) => (e as { event_id: string }).event_id)).to.deep.equal(
          [0, 1, 2, 3, 4].map((i) => `$ok${i}`),
        );

        if (c.twoHundred) {
          // The AS took the transaction and said 2xx: delivered, not retried, whatever came after.
          await faulty.waitForEvents(5, DEADLINE_MS + SLACK_MS);
          expect(
            failures.some((f) => f.asId === 'irc'),
            'no failed attempt',
          ).to.equal(false);
          if (c.fault.startsWith('huge'))
            expect(faulty.hugeCompleted, 'a 10 MB answer was read to the end').to.equal(0);
        } else if (c.hangs) {
          // The attempt is stuck in the AS; it must not stop anything else (checked above).
          await until('the stuck attempt', () => faulty.seen.transactions >= 1 || c.fault === 'silent', 2_000);
          expect(faulty.events).to.have.length(0);
        } else {
          await until('three failed attempts', () => failures.filter((f) => f.asId === 'irc').length >= 3, 5_000);
          const delays = failures.filter((f) => f.asId === 'irc').map((f) => f.retryInMs);
          expect(delays.slice(0, 3), 'exponential backoff').to.deep.equal([50, 100, 200]);
          expect(Math.max(...delays)).to.equal(200);
          if (c.fault === 'redirect') expect(elsewhere.requests, 'redirect followed').to.have.length(0);
          if (c.fault.startsWith('huge')) expect(faulty.hugeCompleted).to.equal(0);
        }
        expect(
          failures.some((f) => f.asId === 'ok'),
          'the healthy AS never failed',
        ).to.equal(false);

        await faulty.heal();
        const pong = await call(hs.url, 'POST', '/_matrix/client/v1/appservice/irc/ping', {
          token: asToken('irc'),
          body: {},
        });
        expect(pong.status).to.equal(200);
        await faulty.waitForEvents(5, 5_000);
        await until('irc backlog drained', async () => (await hs.as.store.backlog('irc')).size === 0, 2_000);
        expect(
          faulty.events.map((e) => e.event_id),
          'each event once, in order',
        ).to.deep.equal(ids);
        expect(faulty.conflicts, 'a txnId resent with other content').to.deep.equal([]);
        if (c.processes) expect(faulty.seen.transactions).to.be.at.least(1);
      });
    });
  }
});
