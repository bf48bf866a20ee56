/**
 * Issue 8 part 4: no as_token or hs_token ever reaches a log line. A realistic bad day runs
 * through the mounted plugin with a real pino logger (level trace) writing to a capture stream,
 * while console.*, process.stdout/stderr writes and process warnings are captured too:
 * an AS that is down (sender failures are logged), one that answers with errors that echo its
 * token back, one that takes the hs_token in the URL (`access_token` query opt-in), blocked
 * queries that fail, pings that fail, clients that put the as_token in the query string of
 * requests that fail, and a host that throws (the plugin logs unexpected errors).
 */
import { Writable } from 'node:stream';
import { expect } from 'chai';
import { pino, type Logger } from 'pino';
import { MockAppService } from '../../lib/testing/index.ts';
import { ToyHost } from '../koa/support/toy-host.ts';
import { FaultyAppService } from '../reliability/support/faulty-as.ts';
import {
  alias,
  asToken,
  call,
  hsToken,
  registrationObject,
  startHomeserver,
  type Homeserver,
} from '../reliability/support/homeserver.ts';

/** Everything written anywhere while `run` runs; the original writers are restored after. */
async function captureAll(run: (logger: Logger, lines: readonly string[]) => Promise<void>): Promise<string[]> {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(
        ...chunk
          .toString('utf8')
          .split('\n')
          .filter((l) => l !== ''),
      );
      done();
    },
  });
  const logger = pino({ level: 'trace' }, sink);
  const originals = {
    stdout: process.stdout.write.bind(process.stdout),
    stderr: process.stderr.write.bind(process.stderr),
    log: console.log,
    info: console.info,
    warn: console.warn,
    error: console.error,
    debug: console.debug,
  };
  const grab = (chunk: unknown): boolean => {
    lines.push(String(chunk));
    return true;
  };
  const onWarning = (warning: Error): void =>
    void lines.push(`${warning.name}: ${warning.message}\n${warning.stack ?? ''}`);
  process.stdout.write = grab as typeof process.stdout.write;
  process.stderr.write = grab as typeof process.stderr.write;
  for (const level of ['log', 'info', 'warn', 'error', 'debug'] as const)
    console[level] = (...args: unknown[]) => void lines.push(args.map(String).join(' '));
  process.on('warning', onWarning);
  try {
    await run(logger, lines);
    await new Promise((resolve) => setTimeout(resolve, 50)); // let pino flush
  } finally {
    process.stdout.write = originals.stdout;
    process.stderr.write = originals.stderr;
    Object.assign(console, {
      log: originals.log,
      info: originals.info,
      warn: originals.warn,
      error: originals.error,
      debug: originals.debug,
    });
    process.off('warning', onWarning);
  }
  return lines;
}

async function until(check: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check() && Date.now() < end) await new Promise((resolve) => setTimeout(resolve, 10));
}

describe('secrets: no token in any log line', function () {
  this.timeout(30_000);
  const ids = ['irc', 'legacy', 'flaky'];
  const secrets = ids.flatMap((id) => [asToken(id), hsToken(id)]);
  const mocks: { close(): Promise<void> }[] = [];
  let hs: Homeserver | undefined;

  afterEach(async () => {
    await hs?.close();
    hs = undefined;
    await Promise.all(mocks.splice(0).map((m) => m.close()));
  });

  it('through a bad day of AS failures, failed queries and pings, and tokens in query strings', async () => {
    const host = new ToyHost('hs.test');
    host.users.add('@irc_bob:hs.test');
    const irc = await MockAppService.start({ hsToken: hsToken('irc') });
    const legacy = await MockAppService.start({ hsToken: hsToken('legacy') });
    const flaky = await FaultyAppService.start({ hsToken: hsToken('flaky') });
    mocks.push(irc, legacy, flaky);
    let hostFails = false;
    const userExists = host.userExists.bind(host);
    host.userExists = async (userId) => {
      // A database error whose message names the request, as real drivers' errors sometimes do.
      if (hostFails) throw new Error(`database unavailable while checking ${userId}`);
      return userExists(userId);
    };

    const lines = await captureAll(async (logger, seen) => {
      hs = await startHomeserver({
        host,
        registrations: [
          registrationObject('irc', irc.url),
          { ...registrationObject('legacy', legacy.url), 'koa_appservice.access_token_query': true },
          registrationObject('flaky', flaky.url),
        ],
        queryDeadlineMs: 500,
        backoffInitialMs: 20,
        backoffMaxMs: 50,
        logger,
      });
      const url = hs.url;
      // 1. ASes down or failing while events are published: the senders log their failures.
      await irc.down();
      legacy.status(500, { body: { errcode: 'M_UNKNOWN', error: `I did not like token ${hsToken('legacy')}` } });
      // A failure after a 2xx status would count as delivered (any 2xx is success): refuse instead.
      await flaky.set('403');
      for (let i = 0; i < 5; i++) {
        for (const id of ids) {
          await hs.as.publish({
            event_id: `$${id}${i}`,
            room_id: '!r:hs.test',
            type: 'm.room.message',
            sender: `@${id}_u:hs.test`,
            content: { i },
          });
        }
      }
      await until(() => seen.filter((l) => l.includes('transaction failed')).length >= 9, 5_000);
      // 2. Blocked queries and pings that fail, with the as_token in the query string.
      for (const id of ids) {
        await call(url, 'GET', alias(`#${id}_x:hs.test`));
        await call(
          url,
          'GET',
          `/_matrix/client/v3/profile/${encodeURIComponent(`@${id}_y:hs.test`)}?access_token=${asToken(id)}`,
        );
        await call(url, 'POST', `/_matrix/client/v1/appservice/${id}/ping?access_token=${asToken(id)}`, {
          body: { transaction_id: 't' },
        });
        await hs.as.ensureUser(`@${id}_z:hs.test`);
      }
      // 3. Refused identity assertions and mixed tokens, token in the query.
      await call(url, 'GET', `/_matrix/client/v3/account/whoami?access_token=${asToken('irc')}&user_id=@alice:hs.test`);
      await call(url, 'GET', `/_matrix/client/v3/account/whoami?access_token=${asToken('irc')}`, {
        token: asToken('legacy'),
      });
      // 4. The host throws under an as_token request: the plugin logs an unexpected error.
      hostFails = true;
      const failed = await call(
        url,
        'GET',
        `/_matrix/client/v3/account/whoami?access_token=${asToken('irc')}&user_id=${encodeURIComponent('@irc_bob:hs.test')}`,
      );
      expect(failed.status).to.equal(500);
      hostFails = false;
      // 5. The ASes come back; everything drains.
      await irc.up();
      legacy.status(null);
      await flaky.heal();
      for (const id of ids)
        await call(url, 'POST', `/_matrix/client/v1/appservice/${id}/ping`, { token: asToken(id), body: {} });
      await until(() => irc.events.length >= 5 && legacy.events.length >= 5 && flaky.events.length >= 5, 5_000);
      await hs.close();
      hs = undefined;
    });

    // The run really did log (or this spec could pass by silence).
    const failures = lines.filter((l) => l.includes('transaction failed'));
    expect(failures.length, lines.join('\n')).to.be.at.least(9);
    for (const id of ids)
      expect(
        failures.some((l) => l.includes(`"asId":"${id}"`)),
        `a failure line for ${id}`,
      ).to.equal(true);
    expect(
      lines.some((l) => l.includes('unexpected error')),
      'the host failure was logged',
    ).to.equal(true);
    expect(
      legacy.requests.some((r) => r.query.access_token === hsToken('legacy')),
      'the legacy AS got its token in the URL',
    ).to.equal(true);

    for (const line of lines) {
      for (const secret of secrets) {
        expect(
          line.includes(secret) || line.includes(encodeURIComponent(secret)),
          `a token in: ${line.slice(0, 300)}`,
        ).to.equal(false);
      }
    }
  });
});
