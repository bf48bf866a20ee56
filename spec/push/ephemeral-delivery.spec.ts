/**
 * AS API, "Pushing EDUs" (v1.13), end to end: `appservices()` with a SqliteStore file, publishing
 * ephemeral events that reach real ASes on loopback (MockAppService) in transactions.
 *
 * - "Private read receipts should only be sent for users matching one of the application service's
 *   namespaces. Normal read receipts and threaded read receipts are always sent."
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appservices, type Appservices, type EphemeralEvent, type Host } from '../../lib/index.ts';
import { SqliteStore } from '../../lib/store/sqlite-store.ts';
import { MockAppService } from '../../lib/testing/index.ts';

const SERVER = 'hs.test';

/** Rooms and their joined members; `joinedRooms` only when `contextual` is asked for. */
class RoomsHost implements Host {
  readonly serverName = SERVER;
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
    as_token: `as-${id}`,
    hs_token: `hs-${id}`,
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

  /** Publishes a room event both ASes want and waits for it: whatever was published before has arrived. */
  async function flush(roomId: string, n: number): Promise<void> {
    await as!.publish({ event_id: `$mark${n}`, room_id: roomId, type: 'm.room.message', sender: '@irc_x:hs.test', content: {} });
    await Promise.all([irc.waitForEvents(n), slack.waitForEvents(n)]);
  }

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'koa-as-ephemeral-'));
    irc = await MockAppService.start({ hsToken: 'hs-irc' });
    slack = await MockAppService.start({ hsToken: 'hs-slack' });
    logged.length = 0;
  });

  afterEach(async () => {
    await as?.close();
    as = undefined;
    await irc.close();
    await slack.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('private read receipts: only for users matching the AS\'s namespaces', () => {
    it('delivers one receipt EDU to each AS with the other users\' m.read.private entries removed', async () => {
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
      await flush('!room:hs.test', 1);
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
      const receipt: EphemeralEvent = { type: 'm.receipt', room_id: '!room:hs.test', content: { $1: { 'm.read.private': { '@irc_x:hs.test': { ts: 2 } } } } };
      expect(await as!.publishEphemeral(receipt)).to.deep.equal(['irc']);
      await flush('!room:hs.test', 1);
      expect(irc.ephemeral).to.deep.equal([receipt]);
      expect(slack.ephemeral).to.deep.equal([]);
    });
  });
});
