/**
 * The original request's IRC scenario, end to end: the reference homeserver with koa-appservice,
 * the demo IRC bridge, and a Matrix user (Alice's client) talking to the homeserver over HTTP.
 * `npm start` narrates it; spec/e2e/irc-scenario.spec.ts checks what it returns.
 */
import { randomBytes } from 'node:crypto';
import type { Store } from '../lib/index.ts';
import { startHomeserver, type RunningHomeserver } from './homeserver/index.ts';
import { IrcBridge, type BridgedTransaction } from './irc-bridge/bridge.ts';
import { MatrixAsClient, seg } from './irc-bridge/matrix-client.ts';
import { ircRegistration } from './irc-bridge/registration.ts';

export interface ScenarioOptions {
  /** Where the plugin queues events. */
  readonly store: Store;
  /** Narration, one line at a time. */
  readonly say?: (line: string) => void;
  /** Leave the homeserver and bridge running (for `npm start -- --serve`); the caller closes them. */
  readonly keepRunning?: boolean;
  readonly port?: number;
}

export interface ScenarioMessage {
  readonly sender: string;
  readonly body: string;
  readonly origin_server_ts: number;
}

export interface ScenarioResult {
  readonly roomId: string;
  readonly alias: string;
  readonly joinBlockedMs: number;
  readonly inviteBlockedMs: number;
  /** The room's messages as Alice's client reads them back, oldest first. */
  readonly messages: readonly ScenarioMessage[];
  readonly transactions: readonly BridgedTransaction[];
  readonly joinedMembers: readonly string[];
  readonly homeserver: RunningHomeserver;
  readonly bridge: IrcBridge;
  /** Closes the bridge and the homeserver (already done unless keepRunning). */
  close(): Promise<void>;
}

const SERVER_NAME = 'localhost';

/** Polls `check` every 10 ms until it returns a value, for at most `timeoutMs`. */
async function waitFor<T>(
  what: string,
  check: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`scenario: timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * @example
 * const result = await runIrcScenario({ store: new MemoryStore(), say: console.log });
 */
export async function runIrcScenario(options: ScenarioOptions): Promise<ScenarioResult> {
  const started = performance.now();
  const say = (line: string) =>
    options.say?.(`[${String(Math.round(performance.now() - started)).padStart(5)} ms] ${line}`);
  const asToken = randomBytes(24).toString('base64url');
  const hsToken = randomBytes(24).toString('base64url');

  const bridge = await IrcBridge.start({ asToken, hsToken, serverName: SERVER_NAME, log: say });
  const registration = ircRegistration({ url: bridge.url, asToken, hsToken, serverName: SERVER_NAME });
  const homeserver = await startHomeserver({
    registrations: [registration],
    store: options.store,
    serverName: SERVER_NAME,
    port: options.port ?? 0,
    backoffInitialMs: 200,
  });
  bridge.connect(homeserver.url);
  const close = async () => {
    await bridge.close();
    await homeserver.close();
  };
  say(`homeserver ${SERVER_NAME} on ${homeserver.url}, IRC bridge on ${bridge.url}`);
  say(
    `the bridge's registration claims ${(registration.namespaces as { users: { regex: string }[] }).users[0]!.regex} and ${(registration.namespaces as { aliases: { regex: string }[] }).aliases[0]!.regex}`,
  );

  try {
    // 1. Alice registers with the dummy auth stage, as a client would.
    const anon = new MatrixAsClient(homeserver.url, '');
    const alice = await anon
      .call<{ access_token: string; user_id: string }>('POST', '/register', {
        body: { username: 'alice', auth: { type: 'm.login.dummy' } },
      })
      .finally(() => anon.close());
    const client = new MatrixAsClient(homeserver.url, alice.access_token);
    try {
      say(`${alice.user_id} registered`);

      // 2. The join that blocks while the bridge creates the room.
      const alias = bridge.aliasOf('#matrix');
      say(
        `${alice.user_id} joins ${alias}: the homeserver does not know that alias yet, so it asks the bridge and waits`,
      );
      const joinStart = performance.now();
      const joined = await client.call<{ room_id: string }>('POST', `/join/${seg(alias)}`);
      const joinBlockedMs = performance.now() - joinStart;
      const roomId = joined.room_id;
      say(`join completed after ${joinBlockedMs.toFixed(0)} ms: ${alice.user_id} is in ${roomId}`);

      // 3. Alice speaks; the bridge gets it in a transaction, relays it, Bob answers with IRC's time.
      const sent = await client.call<{ event_id: string }>('PUT', `/rooms/${seg(roomId)}/send/m.room.message/hi-1`, {
        body: { msgtype: 'm.text', body: 'hi!' },
      });
      say(`${alice.user_id} says "hi!" (${sent.event_id})`);
      const carrier = await waitFor('the bridge to receive "hi!"', () =>
        bridge.transactions.find((t) => t.events.some((e) => e.event_id === sent.event_id)),
      );
      say(`transaction ${carrier.txnId} carried "hi!" to the bridge`);
      await bridge.settled();

      // 4. Alice reads the room back: Bob's lines carry the IRC server's time, not the homeserver's.
      const page = await client.call<{
        chunk: { type: string; sender: string; content: { body?: string }; origin_server_ts: number }[];
      }>('GET', `/rooms/${seg(roomId)}/messages?dir=b&limit=50`);
      const messages = page.chunk
        .filter((e) => e.type === 'm.room.message')
        .reverse()
        .map((e) => ({ sender: e.sender, body: e.content.body ?? '', origin_server_ts: e.origin_server_ts }));
      say(`${alice.user_id} reads the room back:`);
      for (const m of messages) say(`    ${new Date(m.origin_server_ts).toISOString()}  <${m.sender}> ${m.body}`);

      // 5. Invite an IRC user who has no Matrix account yet: the invite blocks on a user query.
      const ghost = bridge.ghostId('Alice');
      say(`${alice.user_id} invites ${ghost}, who does not exist on the homeserver yet`);
      const inviteStart = performance.now();
      await client.call('POST', `/rooms/${seg(roomId)}/invite`, { body: { user_id: ghost } });
      const inviteBlockedMs = performance.now() - inviteStart;
      say(`invite completed after ${inviteBlockedMs.toFixed(0)} ms`);
      const joinedMembers = await waitFor(`${ghost} to join`, async () => {
        const { joined: members } = await client.call<{ joined: Record<string, unknown> }>(
          'GET',
          `/rooms/${seg(roomId)}/joined_members`,
        );
        return ghost in members ? Object.keys(members) : undefined;
      });
      await bridge.settled();
      say(`${ghost} joined; members now: ${joinedMembers.join(', ')}`);

      say(`the bridge received ${bridge.transactions.length} transaction(s):`);
      for (const t of bridge.transactions) say(`    ${t.txnId}: ${t.events.map((e) => e.type).join(', ')}`);
      const result: ScenarioResult = {
        roomId,
        alias,
        joinBlockedMs,
        inviteBlockedMs,
        messages,
        transactions: bridge.transactions,
        joinedMembers,
        homeserver,
        bridge,
        close,
      };
      return result;
    } finally {
      await client.close();
    }
  } finally {
    if (!options.keepRunning) await close();
  }
}
