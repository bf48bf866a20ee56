/**
 * AS API, "Pushing EDUs" (v1.13), end to end: `appservices()` with a SqliteStore file, publishing
 * ephemeral events that reach real ASes on loopback (MockAppService) in transactions.
 *
 * - "Private read receipts should only be sent for users matching one of the application service's
 *   namespaces. Normal read receipts and threaded read receipts are always sent."
 * - "EDUs which are not associated with a particular room (i.e. m.presence), should be sent to the
 *   application service if the EDU would apply contextually. For example, a presence update for a
 *   user an application service shares a room with, or matching one of the application service's
 *   namespaces." (with `Host.joinedRooms`; without it, only the namespace rule, said at start)
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appservices, type Appservices, type EphemeralEvent, type Host } from '../../lib/index.ts';
import { SqliteStore } from '../../lib/store/sqlite/sqlite-store.ts';
import { MockAppService } from '../../lib/testing/index.ts';

const SERVER = 'hs.test';

/** Rooms and their joined members; `joinedRooms` only when `contextual` is asked for. */
class RoomsHost implements Host {
  readonly serverName = SERVER;
  authenticate = async (): Promise<null> => null;
  readonly members = new Map<string, Set<string>>();
  joinedRoomsCalls = 0;
  joinedRooms?: (userId: string) => Promise<string[]>;

  constructor(contextual: boolean) {
    if (contextual) {
      this.joinedRooms = async (userId) => {
        this.joinedRoomsCalls++;
        return [...this.members].filter(([, users]) => users.has(userId)).map(([roomId]) => roomId);
      };
    }
  }

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
  join(roomId: string, userId: string): void {
    let users = this.members.get(roomId);
    if (users === undefined) this.members.set(roomId, (users = new Set()));
    users.add(userId);
  }
}

function registration(id: string, url: string, users: string): Record<string, unknown> {
  return {
    id,
    url,
    as_token: `as-token-${id}`,
    hs_token: `hs-token-${id}`,
    sender_localpart: `${id}bot`,
    namespaces: { users: [{ exclusive: true, regex: users }], aliases: [], rooms: [] },
    receive_ephemeral: true,
  };
}

describe('ephemeral delivery (AS API "Pushing EDUs")', function () {
  this.timeout(20_000);
  let dir: string;
  let irc: MockAppService;
  let slack: MockAppService;
  let host: RoomsHost;
  let as: Appservices | undefined;
  const logged: { fields: Record<string, unknown>; message: string | undefined }[] = [];

  async function start(contextual: boolean): Promise<Appservices> {
    host = new RoomsHost(contextual);
    const log = (fields: Record<string, unknown> | string, message?: string) => {
      logged.push(typeof fields === 'string' ? { fields: {}, message: fields } : { fields, message });
    };
    as = await appservices({
      host,
      store: new SqliteStore(join(dir, 'appservice.db')),
      registrations: [registration('irc', irc.url, '@irc_.*'), registration('slack', slack.url, '@slack_.*')],
      backoffInitialMs: 20,
      backoffMaxMs: 100,
      logger: { debug: log, info: log, warn: log, error: log },
    });
    return as;
  }

  let marks = 0;
  /**
   * Publishes one event to each AS (sent by its own user) and waits until both have it: whatever
   * was published before has arrived, since each AS's queue is delivered in order.
   */
  async function flush(): Promise<void> {
    const id = `$mark${++marks}`;
    const mark = (sender: string) => ({
      event_id: `${id}${sender}`,
      room_id: '!marks:hs.test',
      type: 'm.room.message',
      sender,
      content: {},
    });
    await as!.publish(mark('@irc_mark:hs.test'));
    await as!.publish(mark('@slack_mark:hs.test'));
    const arrived = (mock: MockAppService) =>
      mock.events.some((e) => (e as { event_id: string }).event_id.startsWith(id));
    const deadline = Date.now() + 10_000;
    while (!arrived(irc) || !arrived(slack)) {
      if (Date.now() > deadline) throw new Error(`${id} did not reach both ASes`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'koa-as-ephemeral-'));
    irc = await MockAppService.start({ hsToken: 'hs-token-irc' });
    slack = await MockAppService.start({ hsToken: 'hs-token-slack' });
    logged.length = 0;
  });

  afterEach(async () => {
    await as?.close();
    as = undefined;
    await irc.close();
    await slack.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe("private read receipts: only for users matching the AS's namespaces", () => {
    it("delivers one receipt EDU to each AS with the other users' m.read.private entries removed", async () => {
      await start(false);
      host.join('!room:hs.test', '@irc_x:hs.test');
      host.join('!room:hs.test', '@slack_y:hs.test');
      const receipt: EphemeralEvent = {
        type: 'm.receipt',
        room_id: '!room:hs.test',
        content: {
          $1: {
            'm.read': { '@alice:hs.test': { ts: 1 } },
            'm.read.private': { '@irc_x:hs.test': { ts: 2 }, '@slack_y:hs.test': { ts: 3 }, '@bob:hs.test': { ts: 4 } },
          },
        },
      };
      expect(await as!.publishEphemeral(receipt)).to.deep.equal(['irc', 'slack']);
      await flush();
      const only = (userId: string, ts: number) => ({
        type: 'm.receipt',
        room_id: '!room:hs.test',
        content: { $1: { 'm.read': { '@alice:hs.test': { ts: 1 } }, 'm.read.private': { [userId]: { ts } } } },
      });
      expect(irc.ephemeral).to.deep.equal([only('@irc_x:hs.test', 2)]);
      expect(slack.ephemeral).to.deep.equal([only('@slack_y:hs.test', 3)]);
    });

    it("sends an AS nothing when only other users' private receipts are in the EDU", async () => {
      await start(false);
      host.join('!room:hs.test', '@irc_x:hs.test');
      host.join('!room:hs.test', '@slack_y:hs.test');
      const receipt: EphemeralEvent = {
        type: 'm.receipt',
        room_id: '!room:hs.test',
        content: { $1: { 'm.read.private': { '@irc_x:hs.test': { ts: 2 } } } },
      };
      expect(await as!.publishEphemeral(receipt)).to.deep.equal(['irc']);
      await flush();
      expect(irc.ephemeral).to.deep.equal([receipt]);
      expect(slack.ephemeral).to.deep.equal([]);
    });
  });

  describe('presence "contextually"', () => {
    const alice = (n: number): EphemeralEvent => ({
      type: 'm.presence',
      sender: '@alice:far.test',
      content: { presence: 'online', n },
    });

    it("with Host.joinedRooms: the presence of a user sharing a room with an AS's user reaches that AS only", async () => {
      await start(true);
      host.join('!room:hs.test', '@irc_x:hs.test');
      host.join('!room:hs.test', '@alice:far.test');
      host.join('!other:hs.test', '@slack_y:hs.test');
      expect(await as!.publishEphemeral(alice(1))).to.deep.equal(['irc']);
      // Alice joins slack's room too; the membership event is published, so the next update sees it.
      host.join('!other:hs.test', '@alice:far.test');
      await as!.publish({
        event_id: '$j',
        room_id: '!other:hs.test',
        type: 'm.room.member',
        state_key: '@alice:far.test',
        sender: '@alice:far.test',
        content: { membership: 'join' },
      });
      expect(await as!.publishEphemeral(alice(2))).to.deep.equal(['irc', 'slack']);
      await flush();
      expect(irc.ephemeral).to.deep.equal([alice(1), alice(2)]);
      expect(slack.ephemeral).to.deep.equal([alice(2)]);
      expect(logged.filter((l) => l.fields.hook === 'Host.joinedRooms')).to.deep.equal([]);
    });

    it("without Host.joinedRooms: only namespace users' presence, and appservices() says so once at start naming the hook", async () => {
      await start(false);
      host.join('!room:hs.test', '@irc_x:hs.test');
      host.join('!room:hs.test', '@alice:far.test');
      expect(await as!.publishEphemeral(alice(1))).to.deep.equal([]);
      const own: EphemeralEvent = { type: 'm.presence', sender: '@irc_x:hs.test', content: { presence: 'online' } };
      expect(await as!.publishEphemeral(own)).to.deep.equal(['irc']);
      await as!.publishEphemeral(alice(2));
      await flush();
      expect(irc.ephemeral).to.deep.equal([own]);
      expect(slack.ephemeral).to.deep.equal([]);
      const notices = logged.filter((l) => l.fields.hook === 'Host.joinedRooms');
      expect(notices).to.have.length(1);
      expect(notices[0]!.fields.feature).to.equal('contextual presence');
      expect(notices[0]!.message).to.match(/presence/);
    });
  });
});
