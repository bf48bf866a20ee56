/**
 * A pretend IRC network, so the demo needs no IRC server: who is online, which channels exist
 * and who sits in them, what was said there before the bridge came, and how Bob answers. The
 * timestamps are the network's (IRCv3 `server-time`), which the bridge passes on as `ts`.
 */

export interface IrcLine {
  readonly nick: string;
  readonly text: string;
  /** When the IRC server saw it, ms since the epoch. */
  readonly time: number;
}

export interface IrcChannel {
  readonly name: string;
  readonly topic: string;
  readonly nicks: readonly string[];
  /** Said before anyone on Matrix looked: the bridge replays it into the new room. */
  readonly backlog: readonly IrcLine[];
}

/** The original request's example timestamp (2015-01-16): obviously not the homeserver's clock. */
export const FIRST_LINE_TIME = 1421416883133;

/**
 * @example
 * const irc = new FakeIrcNetwork('irc.example.net');
 * irc.channel('#matrix')?.nicks; // ['Bob']
 */
export class FakeIrcNetwork {
  readonly name: string;
  readonly #online = new Set(['Bob', 'Alice']);
  readonly #channels = new Map<string, IrcChannel>([
    [
      '#matrix',
      {
        name: '#matrix',
        topic: 'Matrix, bridged from IRC',
        nicks: ['Bob'],
        backlog: [{ nick: 'Bob', text: 'hello?', time: FIRST_LINE_TIME }],
      },
    ],
  ]);
  /** Lines the bridge relayed from Matrix, as IRC would see them. */
  readonly relayed: { channel: string; from: string; text: string }[] = [];

  constructor(name: string) {
    this.name = name;
  }

  isOnline(nick: string): boolean {
    return this.#online.has(nick);
  }

  channel(name: string): IrcChannel | undefined {
    return this.#channels.get(name);
  }

  /** Matrix → IRC. Returns Bob's answer when he is in the channel: he always says hi back. */
  say(channel: string, from: string, text: string): IrcLine | undefined {
    this.relayed.push({ channel, from, text });
    if (!this.#channels.get(channel)?.nicks.includes('Bob')) return undefined;
    return {
      nick: 'Bob',
      text: `hi ${from}! (${JSON.stringify(text)} reached IRC)`,
      time: FIRST_LINE_TIME + 60_000 * this.relayed.length,
    };
  }
}
