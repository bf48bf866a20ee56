/**
 * The demo IRC bridge on its own, for a homeserver started with `koa-appservice serve`:
 *
 *   npx koa-appservice serve --registration examples/irc-bridge/registration.yaml
 *   node --import tsx examples/irc-bridge/index.ts --homeserver http://127.0.0.1:8008
 *
 * It reads its tokens and port from the same registration file the homeserver loads.
 */
import { readFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { parse } from 'yaml';
import { IrcBridge } from './bridge.ts';

export { IrcBridge } from './bridge.ts';
export { ircRegistration } from './registration.ts';
export { FakeIrcNetwork, FIRST_LINE_TIME } from './irc-network.ts';

/**
 * @example
 * await runBridge(['--homeserver', 'http://127.0.0.1:8008']);
 */
export async function runBridge(argv: readonly string[]): Promise<IrcBridge> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      homeserver: { type: 'string', default: 'http://127.0.0.1:8008' },
      registration: { type: 'string', default: new URL('./registration.yaml', import.meta.url).pathname },
      'server-name': { type: 'string', default: 'localhost' },
    },
  });
  const registration = parse(await readFile(values.registration, 'utf8')) as {
    as_token: string;
    hs_token: string;
    url: string;
    sender_localpart: string;
  };
  const bridge = await IrcBridge.start(
    {
      asToken: registration.as_token,
      hsToken: registration.hs_token,
      serverName: values['server-name'],
      senderLocalpart: registration.sender_localpart,
      log: (line) => console.log(line),
    },
    Number(new URL(registration.url).port),
  );
  bridge.connect(values.homeserver);
  console.log(`IRC bridge listening on ${bridge.url}, talking to ${values.homeserver}`);
  return bridge;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const bridge = await runBridge(process.argv.slice(2));
  const stop = () => void bridge.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
