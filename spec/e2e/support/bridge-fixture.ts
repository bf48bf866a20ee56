/**
 * A reference homeserver with one bridge registered (a MockAppService that wants ephemeral events)
 * and a helper to call the client-server API as the bridge's bot or one of its ghosts, the way
 * bridges do (`?user_id=` with the as_token).
 */
import { MemoryStore } from '../../../lib/index.ts';
import { MockAppService } from '../../../lib/testing/index.ts';
import { startHomeserver, type RunningHomeserver } from '../../../examples/homeserver/index.ts';
import { Api, type Json, type Response } from './client.ts';

export const C = '/_matrix/client/v3';
export const AS_TOKEN = 'bridge-fixture-as-token';

export interface BridgeFixture {
  readonly hs: RunningHomeserver;
  readonly api: Api;
  readonly mock: MockAppService;
  /** Calls as `userId` (the bot by default) with the as_token. */
  as(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    path: string,
    body?: unknown,
    userId?: string,
    query?: Record<string, string>,
  ): Promise<Response>;
  /** Registers a ghost through the AS registration type. */
  ghost(localpart: string): Promise<string>;
  close(): Promise<void>;
}

/**
 * @example
 * const f = await bridgeFixture();
 * const roomId = (await f.as('POST', `${C}/createRoom`, {})).body.room_id;
 */
export async function bridgeFixture(): Promise<BridgeFixture> {
  const mock = await MockAppService.start({ hsToken: 'bridge-fixture-hs-token' });
  const hs = await startHomeserver({
    store: new MemoryStore(),
    registrations: [
      {
        id: 'bridge',
        url: mock.url,
        as_token: AS_TOKEN,
        hs_token: 'bridge-fixture-hs-token',
        sender_localpart: 'bridgebot',
        namespaces: {
          users: [{ exclusive: true, regex: '@ghost_.*' }],
          aliases: [{ exclusive: true, regex: '#bridged_.*' }],
          rooms: [],
        },
        receive_ephemeral: true,
      },
    ],
    backoffInitialMs: 20,
  });
  const api = new Api(hs.url);
  const bot = '@bridgebot:localhost';
  const as: BridgeFixture['as'] = (method, path, body, userId = bot, query = {}) =>
    api.call(method, path, { token: AS_TOKEN, query: { user_id: userId, ...query }, body });
  return {
    hs,
    api,
    mock,
    as,
    async ghost(localpart) {
      const res = await api.call('POST', `${C}/register`, {
        token: AS_TOKEN,
        body: { type: 'm.login.application_service', username: localpart },
      });
      if (res.status !== 200) throw new Error(`register ${localpart}: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body.user_id as string;
    },
    async close() {
      await hs.close();
      await mock.close();
    },
  };
}

export type { Json };
