/**
 * Ids outside the Matrix identifier grammar are refused with 400 M_INVALID_PARAM before any AS is
 * asked, from an authenticated user too: an AS never sees a NUL, a bidi override or a kilobyte id
 * as a query, and none lands in the query cache.
 */
import { expect } from 'chai';
import { MockAppService } from '../../lib/testing/index.ts';
import { ToyHost } from '../koa/support/toy-host.ts';
import {
  alias,
  call,
  hsToken,
  registrationObject,
  startHomeserver,
  type Homeserver,
} from '../reliability/support/homeserver.ts';

const C = '/_matrix/client/v3';
const enc = encodeURIComponent;
const token = 'syt_user_token';

const badUsers: [string, string][] = [
  ['a NUL', '@irc_bob\u0000:hs.test'],
  ['U+202E (right-to-left override)', '@irc_\u202ebob:hs.test'],
  ['U+200B (zero width space)', '@irc_b\u200bob:hs.test'],
  ['U+FFFD (replacement character)', '@irc_b\ufffdob:hs.test'],
  ['a control character', '@irc_b\u0007ob:hs.test'],
  ['a space', '@irc_b ob:hs.test'],
  ['a bad sigil', '#irc_bob:hs.test'],
  ['no sigil', 'irc_bob:hs.test'],
  ['no server name', '@irc_bob'],
  ['a bad server name', '@irc_bob:hs test'],
  ['over 255 bytes', `@irc_${'a'.repeat(251)}:hs.test`],
];
const badAliases: [string, string][] = [
  ['a NUL', '#irc_chan\u0000:hs.test'],
  ['a control character', '#irc_ch\u001ban:hs.test'],
  ['DEL', '#irc_ch\u007fan:hs.test'],
  ['a C1 control', '#irc_ch\u0085an:hs.test'],
  ['a bad sigil', '@irc_chan:hs.test'],
  ['no server name', '#irc_chan'],
  ['over 255 bytes', `#irc_${'é'.repeat(126)}:hs.test`],
];

describe('hostile: ids outside the Matrix grammar', function () {
  this.timeout(20_000);
  let irc: MockAppService;
  let hs: Homeserver;

  before(async () => {
    irc = await MockAppService.start({ hsToken: hsToken('irc') });
    hs = await startHomeserver({
      host: new ToyHost('hs.test'),
      registrations: [registrationObject('irc', irc.url)],
      queryDeadlineMs: 2_000,
    });
  });
  after(async () => {
    await hs.close();
    await irc.close();
  });
  beforeEach(() => {
    irc.requests.length = 0;
    hs.reached.length = 0;
  });

  async function refused(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown): Promise<void> {
    const reply = await call(hs.url, method, path, { token, ...(body === undefined ? {} : { body }) });
    expect([reply.status, reply.body.errcode], JSON.stringify(reply.body)).to.deep.equal([400, 'M_INVALID_PARAM']);
    expect(reply.body.error).to.not.include('\u0000');
  }

  for (const [what, userId] of badUsers) {
    it(`a user id with ${what}: 400 M_INVALID_PARAM on profile, invite and createRoom; 0 AS requests`, async () => {
      await refused('GET', `${C}/profile/${enc(userId)}`);
      await refused('POST', `${C}/rooms/${enc('!r:hs.test')}/invite`, { user_id: userId });
      await refused('POST', `${C}/createRoom`, { invite: ['@irc_fine:hs.test', userId] });
      expect(irc.requests).to.have.length(0);
      expect(hs.reached).to.deep.equal([]);
    });
  }

  for (const [what, value] of badAliases) {
    it(`an alias with ${what}: 400 M_INVALID_PARAM on lookup, join and canonical alias; 0 AS requests`, async () => {
      await refused('GET', alias(value));
      if (value.startsWith('#')) await refused('POST', `${C}/join/${enc(value)}`, {});
      await refused('PUT', `${C}/rooms/${enc('!r:hs.test')}/state/m.room.canonical_alias`, { alias: value });
      expect(irc.requests).to.have.length(0);
      expect(hs.reached).to.deep.equal([]);
    });
  }

  it('valid ids are still asked: historical user id characters, a non-ASCII alias (the spec allows it)', async () => {
    await call(hs.url, 'GET', `${C}/profile/${enc('@irc_B!ob~"x:hs.test')}`, { token });
    await call(hs.url, 'GET', alias('#irc_ça_va_😀:hs.test'), { token });
    expect(irc.requests).to.have.length(2);
  });
});
