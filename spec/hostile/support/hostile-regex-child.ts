/**
 * Run as a child process by namespace-regex.spec.ts, so that a stalled event loop can be killed:
 * mounts the plugin with one registration whose users regex is argv[2], prints `ready`, sends
 * `GET /profile/<argv[3]>` and, while it is being answered, `GET /_matrix/client/versions`, then
 * prints both answers as one JSON line and exits.
 */
import { MockAppService } from '../../../lib/testing/index.ts';
import { call, hsToken, registrationObject, startHomeserver } from '../../reliability/support/homeserver.ts';

const [regex, userId] = process.argv.slice(2) as [string, string];
const irc = await MockAppService.start({ hsToken: hsToken('irc') });
const hs = await startHomeserver({
  registrations: [registrationObject('irc', irc.url, { users: [regex] })],
  queryDeadlineMs: 2_000,
});
process.stdout.write('ready\n');
try {
  const profile = call(hs.url, 'GET', `/_matrix/client/v3/profile/${encodeURIComponent(userId)}`, {
    token: 'syt_client', // a client's session: an unauthenticated lookup asks no AS
  });
  const versions = call(hs.url, 'GET', '/_matrix/client/versions');
  const [p, v] = await Promise.all([profile, versions]);
  process.stdout.write(
    `${JSON.stringify({ profile: { status: p.status, ms: p.ms }, versions: { status: v.status, ms: v.ms }, asQueries: irc.requests.length })}\n`,
  );
} finally {
  await hs.close();
  await irc.close();
}
process.exit(0); // keep-alive sockets would hold the process open for seconds
