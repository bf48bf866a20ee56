/**
 * The demo bridge's registration: the same shape as a YAML file a homeserver admin installs
 * (`registration.yaml` beside this file is one written out), built in code for the demo so the
 * tokens are fresh on every run.
 */

export interface IrcRegistrationInput {
  readonly url: string | null;
  readonly asToken: string;
  readonly hsToken: string;
  readonly serverName: string;
  readonly id?: string;
  readonly network?: string;
  readonly senderLocalpart?: string;
}

/** Python `re.escape` for the characters a host or server name can hold. */
function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/-]/g, (c) => (c === '/' || c === '-' ? c : `\\${c}`));
}

/**
 * @example
 * const registration = ircRegistration({ url: bridge.url, asToken, hsToken, serverName: 'localhost' });
 * await startHomeserver({ registrations: [registration] });
 */
export function ircRegistration(input: IrcRegistrationInput): Record<string, unknown> {
  const network = input.network ?? 'irc.example.net';
  const server = escape(input.serverName);
  return {
    id: input.id ?? 'irc',
    url: input.url,
    as_token: input.asToken,
    hs_token: input.hsToken,
    sender_localpart: input.senderLocalpart ?? 'ircbot',
    rate_limited: false,
    protocols: ['irc'],
    namespaces: {
      users: [{ exclusive: true, regex: `@${escape(network)}/.*:${server}` }],
      aliases: [{ exclusive: true, regex: `#${escape(network)}/.*:${server}` }],
      rooms: [],
    },
  };
}
