/**
 * The demo application service: an IRC bridge for the original request's scenario, on plain
 * node:http, speaking the AS API (user and alias queries, transactions, ping, third-party
 * lookups) and driving the homeserver through the client-server API with its as_token.
 *
 *   - alias query `#irc.example.net/#matrix:<hs>`: creates the room as its bot, brings in the
 *     channel's nicks as ghosts, replays the channel's backlog with IRC's timestamps, then 200 {};
 *   - user query `@irc.example.net/<Nick>:<hs>`: registers the ghost when the nick is online;
 *   - a transaction: Matrix messages go to IRC (Bob answers), invites of ghosts are accepted.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import { FakeIrcNetwork } from './irc-network.ts';
import { MatrixAsClient, MatrixCallError, seg } from './matrix-client.ts';

export interface IrcBridgeOptions {
  readonly asToken: string;
  readonly hsToken: string;
  /** The homeserver's server name (the part after `:`). */
  readonly serverName: string;
  readonly senderLocalpart?: string;
  readonly network?: string;
  /** Narration: one line per thing the bridge does. */
  readonly log?: (line: string) => void;
}

export interface BridgedTransaction {
  readonly txnId: string;
  readonly events: readonly {
    type: string;
    sender: string;
    event_id: string;
    room_id: string;
    state_key?: string;
    content: Record<string, unknown>;
    origin_server_ts?: number;
  }[];
}

type Json = Record<string, unknown>;

/**
 * @example
 * const bridge = await IrcBridge.start({ asToken, hsToken, serverName: 'localhost' });
 * // put bridge.url in the registration, start the homeserver, then:
 * bridge.connect(homeserverUrl);
 */
export class IrcBridge {
  readonly irc: FakeIrcNetwork;
  readonly transactions: BridgedTransaction[] = [];
  readonly #options: IrcBridgeOptions;
  readonly #server: http.Server;
  readonly #seenTxns = new Set<string>();
  readonly #roomByChannel = new Map<string, string>();
  readonly #channelByRoom = new Map<string, string>();
  readonly #pending = new Set<Promise<void>>();
  #hs: MatrixAsClient | undefined;
  #url = '';
  #closing: Promise<void> | undefined;

  private constructor(options: IrcBridgeOptions) {
    this.#options = options;
    this.irc = new FakeIrcNetwork(options.network ?? 'irc.example.net');
    this.#server = http.createServer((req, res) => void this.#handle(req, res));
  }

  static async start(options: IrcBridgeOptions, port = 0): Promise<IrcBridge> {
    const bridge = new IrcBridge(options);
    await new Promise<void>((resolve) => bridge.#server.listen(port, '127.0.0.1', resolve));
    bridge.#url = `http://127.0.0.1:${(bridge.#server.address() as AddressInfo).port}`;
    return bridge;
  }

  /** For the registration's `url`. */
  get url(): string {
    return this.#url;
  }

  get botUserId(): string {
    return `@${this.#options.senderLocalpart ?? 'ircbot'}:${this.#options.serverName}`;
  }

  ghostId(nick: string): string {
    return `@${this.irc.name}/${nick}:${this.#options.serverName}`;
  }

  aliasOf(channel: string): string {
    return `#${this.irc.name}/${channel}:${this.#options.serverName}`;
  }

  /** Where the homeserver's client-server API is. */
  connect(homeserverUrl: string): void {
    this.#hs = new MatrixAsClient(homeserverUrl, this.#options.asToken, (line) => this.#log(`  → homeserver: ${line}`));
  }

  /** Resolves when the work started by transactions so far (relays, joins) is done. */
  async settled(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.settled();
      await new Promise<void>((resolve) => {
        this.#server.close(() => resolve());
        this.#server.closeAllConnections();
      });
      await this.#hs?.close();
    })();
    return this.#closing;
  }

  #log(line: string): void {
    this.#options.log?.(line);
  }

  get #matrix(): MatrixAsClient {
    if (this.#hs === undefined) throw new Error('IrcBridge: connect() to the homeserver first');
    return this.#hs;
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url ?? '/', 'http://bridge');
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    // The AS must check the homeserver's token (spec: "Authorization"): anyone can reach this port.
    const header = req.headers.authorization;
    const token = header?.startsWith('Bearer ') ? header.slice(7) : url.searchParams.get('access_token');
    if (token === null || token === undefined)
      return reply(401, { errcode: 'M_UNAUTHORIZED', error: 'Missing hs_token' });
    if (!sameToken(token, this.#options.hsToken)) return reply(403, { errcode: 'M_FORBIDDEN', error: 'Bad hs_token' });
    const [, , , version, kind, ...rest] = url.pathname.split('/');
    const arg = rest.length > 0 ? decodeURIComponent(rest.join('/')) : '';
    try {
      if (version !== 'v1') return reply(404, { errcode: 'M_UNRECOGNIZED', error: 'Unknown endpoint' });
      if (req.method === 'GET' && kind === 'rooms') return reply(...(await this.#aliasQuery(arg)));
      if (req.method === 'GET' && kind === 'users') return reply(...(await this.#userQuery(arg)));
      if (req.method === 'PUT' && kind === 'transactions') {
        this.#transaction(arg, JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Json);
        return reply(200, {});
      }
      if (req.method === 'POST' && kind === 'ping') return reply(200, {});
      if (req.method === 'GET' && kind === 'thirdparty') return reply(...this.#thirdparty(rest, url.searchParams));
      return reply(404, { errcode: 'M_UNRECOGNIZED', error: 'Unknown endpoint' });
    } catch (error) {
      this.#log(`  ! bridge error: ${(error as Error).message}`);
      return reply(500, { errcode: 'M_UNKNOWN', error: 'Bridge error' });
    }
  }

  /** The heart of the original request: make the room exist, then say 200. */
  async #aliasQuery(alias: string): Promise<[number, Json]> {
    const channel = this.#channelOf(alias);
    const found = channel === undefined ? undefined : this.irc.channel(channel);
    this.#log(
      `bridge ← alias query ${alias}: ${found ? `IRC has ${found.name}, creating the room while the homeserver waits` : 'no such channel'}`,
    );
    if (found === undefined) return [404, { errcode: 'M_NOT_FOUND', error: 'No such IRC channel' }];
    const created = await this.#matrix.call<{ room_id: string }>('POST', '/createRoom', {
      body: {
        room_alias_name: alias.slice(1, alias.lastIndexOf(':')),
        preset: 'public_chat',
        name: found.name,
        topic: found.topic,
      },
    });
    const roomId = created.room_id;
    this.#roomByChannel.set(found.name, roomId);
    this.#channelByRoom.set(roomId, found.name);
    for (const nick of found.nicks) {
      await this.#ensureGhost(nick);
      await this.#matrix.call('POST', `/rooms/${seg(roomId)}/join`, { userId: this.ghostId(nick) });
    }
    for (const line of found.backlog) await this.#sendAs(line.nick, roomId, line.text, line.time);
    this.#log(`bridge → 200 {} for ${alias}: room ${roomId} is ready`);
    return [200, {}];
  }

  async #userQuery(userId: string): Promise<[number, Json]> {
    const nick = this.#nickOf(userId);
    const online = nick !== undefined && this.irc.isOnline(nick);
    this.#log(
      `bridge ← user query ${userId}: ${online ? `${nick} is online on IRC, registering the ghost` : 'unknown nick'}`,
    );
    if (!online) return [404, { errcode: 'M_NOT_FOUND', error: 'No such IRC user' }];
    await this.#ensureGhost(nick);
    this.#log(`bridge → 200 {} for ${userId}`);
    return [200, {}];
  }

  async #ensureGhost(nick: string): Promise<void> {
    const userId = this.ghostId(nick);
    try {
      await this.#matrix.call('POST', '/register', {
        body: {
          type: 'm.login.application_service',
          username: userId.slice(1, userId.lastIndexOf(':')),
          inhibit_login: true,
        },
      });
    } catch (error) {
      if (!(error instanceof MatrixCallError && error.errcode === 'M_USER_IN_USE')) throw error;
      return;
    }
    await this.#matrix.call('PUT', `/profile/${seg(userId)}/displayname`, {
      userId,
      body: { displayname: `${nick} (IRC)` },
    });
  }

  #sendAs(nick: string, roomId: string, text: string, time: number): Promise<unknown> {
    const txnId = `irc-${time}-${nick}`;
    return this.#matrix.call('PUT', `/rooms/${seg(roomId)}/send/m.room.message/${seg(txnId)}`, {
      userId: this.ghostId(nick),
      ts: time,
      body: { msgtype: 'm.text', body: text },
    });
  }

  /** Answers at once; the work an event causes runs after, as a real bridge's would. */
  #transaction(txnId: string, body: Json): void {
    if (this.#seenTxns.has(txnId)) {
      this.#log(`bridge ← transaction ${txnId} again: already processed, 200`);
      return;
    }
    this.#seenTxns.add(txnId);
    const events = (Array.isArray(body.events) ? body.events : []) as BridgedTransaction['events'];
    this.transactions.push({ txnId, events });
    const summary = events.map(
      (e) =>
        `${e.type}${typeof e.content.membership === 'string' ? ` (${e.content.membership})` : ''} from ${e.sender}`,
    );
    this.#log(`bridge ← transaction ${txnId}: ${events.length} event(s): ${summary.join(', ')}`);
    for (const event of events) {
      const work = this.#onEvent(event).catch((error: unknown) => this.#log(`  ! bridge: ${(error as Error).message}`));
      this.#pending.add(work);
      void work.finally(() => this.#pending.delete(work));
    }
  }

  async #onEvent(event: BridgedTransaction['events'][number]): Promise<void> {
    const fromBridge = event.sender === this.botUserId || this.#nickOf(event.sender) !== undefined;
    const channel = this.#channelByRoom.get(event.room_id);
    if (event.type === 'm.room.message' && !fromBridge && channel !== undefined) {
      const from = event.sender.slice(1, event.sender.indexOf(':'));
      const text = String(event.content.body ?? '');
      this.#log(`bridge → IRC ${this.irc.name}: PRIVMSG ${channel} :<${from}> ${text}`);
      const answer = this.irc.say(channel, from, text);
      if (answer !== undefined) {
        this.#log(`bridge ← IRC: <${answer.nick}> ${answer.text} (server-time ${answer.time})`);
        await this.#sendAs(answer.nick, event.room_id, answer.text, answer.time);
      }
    } else if (
      event.type === 'm.room.member' &&
      event.content.membership === 'invite' &&
      event.state_key !== undefined
    ) {
      const nick = this.#nickOf(event.state_key);
      if (nick === undefined || !this.irc.isOnline(nick)) return;
      this.#log(`bridge: ${nick} accepts the invite to ${event.room_id}`);
      await this.#matrix.call('POST', `/rooms/${seg(event.room_id)}/join`, { userId: event.state_key });
    }
  }

  #thirdparty(rest: string[], query: URLSearchParams): [number, unknown] {
    const [kind, protocol] = rest.map(decodeURIComponent);
    if (kind === 'protocol' && protocol === 'irc') {
      return [
        200,
        {
          user_fields: ['network', 'nickname'],
          location_fields: ['network', 'channel'],
          icon: 'mxc://example.net/irc',
          field_types: {
            network: { regexp: '([a-z0-9]+\\.)*[a-z0-9]+', placeholder: 'irc.example.net' },
            nickname: { regexp: '[^\\s]+', placeholder: 'Bob' },
            channel: { regexp: '#[^\\s]+', placeholder: '#matrix' },
          },
          instances: [
            {
              network_id: this.irc.name,
              desc: this.irc.name,
              icon: 'mxc://example.net/irc',
              fields: { network: this.irc.name },
            },
          ],
        },
      ];
    }
    if (kind === 'location' && protocol === 'irc') {
      const channel = this.irc.channel(query.get('channel') ?? '');
      return [
        200,
        channel
          ? [
              {
                alias: this.aliasOf(channel.name),
                protocol: 'irc',
                fields: { network: this.irc.name, channel: channel.name },
              },
            ]
          : [],
      ];
    }
    if (kind === 'user' && protocol === 'irc') {
      const nick = query.get('nickname') ?? '';
      return [
        200,
        this.irc.isOnline(nick)
          ? [{ userid: this.ghostId(nick), protocol: 'irc', fields: { network: this.irc.name, nickname: nick } }]
          : [],
      ];
    }
    return [404, { errcode: 'M_NOT_FOUND', error: 'Unknown protocol' }];
  }

  #channelOf(alias: string): string | undefined {
    const prefix = `#${this.irc.name}/`;
    const suffix = `:${this.#options.serverName}`;
    return alias.startsWith(prefix) && alias.endsWith(suffix) ? alias.slice(prefix.length, -suffix.length) : undefined;
  }

  #nickOf(userId: string): string | undefined {
    const prefix = `@${this.irc.name}/`;
    const suffix = `:${this.#options.serverName}`;
    return userId.startsWith(prefix) && userId.endsWith(suffix)
      ? userId.slice(prefix.length, -suffix.length)
      : undefined;
  }
}

function sameToken(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
