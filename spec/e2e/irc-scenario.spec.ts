/**
 * The original request's IRC scenario end to end: reference homeserver + demo bridge over real
 * loopback HTTP, driven the way `npm start` drives it.
 */
import { expect } from 'chai';
import { MemoryStore } from '../../lib/index.ts';
import { runIrcScenario, type ScenarioResult } from '../../examples/scenario.ts';
import { FIRST_LINE_TIME } from '../../examples/irc-bridge/irc-network.ts';
import { MatrixAsClient, MatrixCallError, seg } from '../../examples/irc-bridge/matrix-client.ts';

describe('e2e: the IRC scenario (reference homeserver + demo bridge)', () => {
  let result: ScenarioResult;
  const lines: string[] = [];

  before(async () => {
    result = await runIrcScenario({ store: new MemoryStore(), say: (line) => lines.push(line), keepRunning: true });
  });

  after(async () => {
    await result?.close();
  });

  it('blocks the join by alias while the bridge creates the room, then joins it', () => {
    const { data } = result.homeserver;
    expect(data.aliases.get(result.alias)?.roomId).to.equal(result.roomId);
    const queried = lines.findIndex((l) => l.includes(`alias query ${result.alias}`));
    const answered = lines.findIndex((l) => l.includes(`200 {} for ${result.alias}`));
    const completed = lines.findIndex((l) => l.includes('join completed'));
    expect(queried).to.be.greaterThan(-1);
    expect(answered).to.be.greaterThan(queried);
    expect(completed).to.be.greaterThan(answered);
    expect(result.joinedMembers).to.include('@alice:localhost');
  });

  it("keeps the IRC server's time on the bridged messages (ts) and the homeserver's on Alice's", () => {
    expect(result.messages.map((m) => [m.sender, m.body.split(' ')[0]])).to.deep.equal([
      ['@irc.example.net/Bob:localhost', 'hello?'],
      ['@alice:localhost', 'hi!'],
      ['@irc.example.net/Bob:localhost', 'hi'],
    ]);
    expect(result.messages[0]!.origin_server_ts).to.equal(FIRST_LINE_TIME);
    expect(result.messages[2]!.origin_server_ts).to.equal(FIRST_LINE_TIME + 60_000);
    expect(result.messages[1]!.origin_server_ts).to.be.greaterThan(FIRST_LINE_TIME + 86_400_000);
  });

  it('pushes every persisted event of the room to the bridge once, in order, without homeserver internals', () => {
    const room = result.homeserver.data.rooms.get(result.roomId)!;
    const pushed = result.transactions.flatMap((t) => t.events).filter((e) => e.room_id === result.roomId);
    expect(pushed.map((e) => e.event_id)).to.deep.equal(room.timeline.map((e) => e.event_id));
    for (const event of pushed) expect(event).not.to.have.property('stream');
    expect(new Set(result.transactions.map((t) => t.txnId)).size).to.equal(result.transactions.length);
    expect(result.bridge.irc.relayed).to.deep.equal([{ channel: '#matrix', from: 'alice', text: 'hi!' }]);
  });

  it('blocks the invite while the bridge registers the IRC user, who then joins', () => {
    const ghost = '@irc.example.net/Alice:localhost';
    expect(result.homeserver.data.users.get(ghost)?.displayname).to.equal('Alice (IRC)');
    expect(result.joinedMembers).to.include(ghost);
    const invite = result.transactions
      .flatMap((t) => t.events)
      .find((e) => e.type === 'm.room.member' && e.state_key === ghost && e.content.membership === 'invite');
    expect(invite?.sender).to.equal('@alice:localhost');
  });

  it('answers 404 M_NOT_FOUND when the bridge says the channel or the nick does not exist', async () => {
    const { homeserver } = result;
    const session = homeserver.data.login('@alice:localhost');
    const client = new MatrixAsClient(homeserver.url, session.accessToken);
    try {
      const failures: unknown[] = [];
      for (const attempt of [
        () => client.call('POST', `/join/${seg('#irc.example.net/#nowhere:localhost')}`),
        () =>
          client.call('POST', `/rooms/${seg(result.roomId)}/invite`, {
            body: { user_id: '@irc.example.net/Nobody:localhost' },
          }),
      ]) {
        await attempt().then(
          () => failures.push('succeeded'),
          (err: unknown) => failures.push(err),
        );
      }
      for (const failure of failures) {
        expect(failure).to.be.instanceOf(MatrixCallError);
        expect([(failure as MatrixCallError).status, (failure as MatrixCallError).errcode]).to.deep.equal([
          404,
          'M_NOT_FOUND',
        ]);
      }
    } finally {
      await client.close();
    }
  });
});
