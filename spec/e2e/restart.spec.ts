/**
 * A homeserver restarted in the middle of a backlog, with the queues in a SqliteStore file:
 * every event published before the restart reaches the AS exactly once, in order, and what is
 * published after the restart comes after it; no transaction id is reused with other content.
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../../lib/store/sqlite/sqlite-store.ts';
import { MockAppService } from '../../lib/testing/index.ts';
import { startHomeserver, type RunningHomeserver } from '../../examples/homeserver/index.ts';
import { Api, enc, eventually } from './support/client.ts';

const HS_TOKEN = 'restart-hs-token';
const AS_TOKEN = 'restart-as-token';
const MESSAGES = 250;

const registration = (url: string) => ({
  id: 'irc',
  url,
  as_token: AS_TOKEN,
  hs_token: HS_TOKEN,
  sender_localpart: 'ircbot',
  namespaces: { users: [{ exclusive: true, regex: '@irc_.*' }], aliases: [], rooms: [] },
});

describe('e2e: homeserver restart in the middle of a backlog (SqliteStore)', () => {
  let dir: string;
  let mock: MockAppService;
  const running: RunningHomeserver[] = [];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'koa-as-restart-'));
    mock = await MockAppService.start({ hsToken: HS_TOKEN });
  });

  afterEach(async () => {
    for (const hs of running.splice(0)) await hs.close();
    await mock.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const start = async () => {
    const hs = await startHomeserver({
      registrations: [registration(mock.url)],
      store: new SqliteStore(join(dir, 'appservice.db')),
      backoffInitialMs: 20,
      backoffMaxMs: 100,
    });
    running.push(hs);
    return hs;
  };

  it('loses nothing: the backlog from before the restart arrives once, in order, before what comes after', async function () {
    this.timeout(60_000);
    const first = await start();
    const api = new Api(first.url);
    const as = (method: 'POST' | 'PUT', path: string, body: unknown) =>
      api.call(method, `/_matrix/client/v3${path}`, {
        token: AS_TOKEN,
        query: { user_id: '@irc_bob:localhost' },
        body,
      });

    // The AS is down while its ghost talks: everything piles up in the store.
    await mock.down();
    expect(
      (
        await api.call('POST', '/_matrix/client/v3/register', {
          token: AS_TOKEN,
          body: { type: 'm.login.application_service', username: 'irc_bob' },
        })
      ).status,
    ).to.equal(200);
    const roomId = (await as('POST', '/createRoom', { preset: 'public_chat' })).body.room_id as string;
    for (let i = 0; i < MESSAGES; i++) {
      const res = await as('PUT', `/rooms/${enc(roomId)}/send/m.room.message/${i}`, {
        msgtype: 'm.text',
        body: `line ${i}`,
      });
      expect(res.status).to.equal(200);
    }
    const published = first.data.rooms.get(roomId)!.timeline.map((e) => e.event_id);
    expect((await first.as.store.backlog('irc')).size).to.equal(published.length);

    // The AS comes back slowly; the homeserver stops after the first transaction got through.
    mock.slow(50);
    await mock.up();
    await eventually(() => (mock.events.length > 0 ? true : undefined), 10_000);
    await first.close();
    const beforeRestart = mock.events.length;
    expect(beforeRestart).to.be.greaterThan(0).and.lessThan(published.length);

    mock.slow(0);
    const second = await start();
    await second.as.publish({
      event_id: '$after-restart',
      room_id: roomId,
      type: 'm.room.message',
      sender: '@irc_bob:localhost',
      content: { body: 'after' },
    });
    await eventually(() => (mock.events.length >= published.length + 1 ? true : undefined), 20_000);

    const ids = (mock.events as { event_id: string }[]).map((e) => e.event_id);
    expect(ids).to.deep.equal([...published, '$after-restart']);
    expect(mock.conflicts).to.deep.equal([]);
    // The mock holds the last transaction before it answers; the sender deletes it from the store
    // only once the 200 is read, so the backlog empties a moment after the events arrive.
    const deadline = Date.now() + 10_000;
    while ((await second.as.store.backlog('irc')).size > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));
    expect((await second.as.store.backlog('irc')).size).to.equal(0);
  });
});
