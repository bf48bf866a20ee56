import { expect } from 'chai';
import {
  formatPath,
  LEGACY_QUERY_TOKEN_KEY,
  toRegistration,
  type FieldProblem,
} from '../../lib/registration/schema.ts';
import type { Registration } from '../../lib/registration/registration.ts';

const AS_TOKEN = 'as-secret-0123456789abcdef';
const HS_TOKEN = 'hs-secret-0123456789abcdef';

function file(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: 'irc',
    url: 'http://localhost:9999',
    as_token: AS_TOKEN,
    hs_token: HS_TOKEN,
    sender_localpart: 'appservice-irc',
    namespaces: { users: [{ exclusive: true, regex: '@irc_.*' }] },
    ...overrides,
  };
}

function ok(value: unknown): Registration {
  const result = toRegistration(value, 'irc.yaml');
  if ('problems' in result) throw new Error(`unexpected problems: ${JSON.stringify(result.problems)}`);
  return result.registration;
}

function problems(value: unknown): FieldProblem[] {
  const result = toRegistration(value, 'irc.yaml');
  if (!('problems' in result)) throw new Error('expected problems');
  return result.problems;
}

function fieldsOf(value: unknown): string[] {
  return problems(value).map((p) => p.field);
}

describe('registration schema', () => {
  it('maps a minimal file with Synapse defaults', () => {
    const r = ok(file());
    expect(r).to.include({
      id: 'irc',
      url: 'http://localhost:9999',
      asToken: AS_TOKEN,
      hsToken: HS_TOKEN,
      senderLocalpart: 'appservice-irc',
      source: 'irc.yaml',
    });
    expect(r.rateLimited).to.equal(true);
    expect(r.protocols).to.deep.equal([]);
    expect(r).to.include({
      receiveEphemeral: false,
      receiveToDevice: false,
      msc3202: false,
      msc4190: false,
      legacyQueryToken: false,
    });
    expect(r.ipRangeWhitelist).to.equal(undefined);
    expect(r.namespaces.users).to.have.length(1);
    expect(r.namespaces.users[0]).to.include({ exclusive: true, source: '@irc_.*' });
    expect(r.namespaces.users[0]!.regex.test('@irc_bob:x')).to.equal(true);
    expect(r.namespaces.aliases).to.deep.equal([]);
    expect(r.namespaces.rooms).to.deep.equal([]);
  });

  it('reads every optional field', () => {
    const r = ok(
      file({
        rate_limited: false,
        protocols: ['irc', 'gitter'],
        receive_ephemeral: true,
        'org.matrix.msc3202': true,
        'io.element.msc4190': true,
        ip_range_whitelist: ['10.0.0.0/8', '::1', '2001:db8::/32'],
        [LEGACY_QUERY_TOKEN_KEY]: true,
      }),
    );
    expect(r).to.include({
      rateLimited: false,
      receiveEphemeral: true,
      receiveToDevice: true,
      msc3202: true,
      msc4190: true,
      legacyQueryToken: true,
    });
    expect(r.protocols).to.deep.equal(['irc', 'gitter']);
    expect(r.ipRangeWhitelist).to.deep.equal(['10.0.0.0/8', '::1', '2001:db8::/32']);
  });

  it('treats the MSC2409 unstable key like receive_ephemeral', () => {
    expect(ok(file({ 'de.sorunome.msc2409.push_ephemeral': true })).receiveEphemeral).to.equal(true);
  });

  it('accepts url: null and strips trailing slashes from a URL, as Synapse does', () => {
    expect(ok(file({ url: null })).url).to.equal(null);
    expect(ok(file({ url: 'https://as.example.org/bridge//' })).url).to.equal('https://as.example.org/bridge');
  });

  it('accepts protocols: null and ip_range_whitelist: null', () => {
    expect(ok(file({ protocols: null, ip_range_whitelist: null })).protocols).to.deep.equal([]);
  });

  it('keeps unknown keys in raw', () => {
    const value = file({ 'com.example.future': { a: 1 } });
    expect(ok(value).raw['com.example.future']).to.deep.equal({ a: 1 });
  });

  it('requires id, url, as_token, hs_token, sender_localpart and namespaces', () => {
    for (const key of ['id', 'url', 'as_token', 'hs_token', 'sender_localpart', 'namespaces']) {
      const value = file();
      delete value[key];
      const found = problems(value);
      expect(
        found.map((p) => p.field),
        key,
      ).to.deep.equal([key]);
      expect(found[0]!.reason, key).to.match(/^required/);
    }
  });

  it('refuses empty strings for the required strings', () => {
    expect(fieldsOf(file({ id: '', as_token: '' }))).to.deep.equal(['id', 'as_token']);
  });

  it('refuses an id with "|"', () => {
    expect(problems(file({ id: 'a|b' }))).to.deep.equal([
      { field: 'id', reason: 'must not contain "|" (Synapse refuses it)' },
    ]);
  });

  it('refuses a url that is not http(s), saying why', () => {
    expect(problems(file({ url: 'ftp://x' }))[0]!.reason).to.match(/http\(s\) URL, not a "ftp" URL/);
    expect(problems(file({ url: 'localhost:9000' }))[0]!.reason).to.match(/scheme missing/);
    expect(problems(file({ url: 'not a url' }))[0]!.reason).to.match(/not a URL/);
    expect(problems(file({ url: 42 }))[0]!.reason).to.match(/got a number/);
  });

  it('refuses rate_limited: "false" instead of reading it as true', () => {
    expect(problems(file({ rate_limited: 'false' }))).to.deep.equal([
      { field: 'rate_limited', reason: 'must be a boolean, not the string "false" (write it without quotes)' },
    ]);
    expect(problems(file({ rate_limited: 0 }))[0]!.reason).to.equal('must be true or false, got a number');
  });

  it('refuses non-boolean opt-ins', () => {
    for (const key of [
      'receive_ephemeral',
      'de.sorunome.msc2409.push_ephemeral',
      'org.matrix.msc3202',
      'io.element.msc4190',
      LEGACY_QUERY_TOKEN_KEY,
    ]) {
      expect(fieldsOf(file({ [key]: 'yes' })), key).to.deep.equal([key]);
    }
  });

  it('refuses a sender_localpart that needs URL encoding', () => {
    expect(fieldsOf(file({ sender_localpart: 'bot bot' }))).to.deep.equal(['sender_localpart']);
    expect(ok(file({ sender_localpart: '_bot.x~y/z-1' })).senderLocalpart).to.equal('_bot.x~y/z-1');
  });

  it('checks namespaces entry by entry with full field paths', () => {
    const value = file({
      namespaces: {
        users: [{ exclusive: true, regex: '@ok_.*' }, { regex: '@x' }, { exclusive: 'true', regex: 1 }],
        aliases: 'nope',
        rooms: [null],
      },
    });
    expect(fieldsOf(value)).to.deep.equal([
      'namespaces.users[1].exclusive',
      'namespaces.users[2].exclusive',
      'namespaces.users[2].regex',
      'namespaces.aliases',
      'namespaces.rooms[0]',
    ]);
  });

  it('reports an untranslatable regex with the others, at its path', () => {
    const found = problems(
      file({
        id: 'a|b',
        namespaces: {
          users: [
            { exclusive: true, regex: '@a' },
            { exclusive: true, regex: '@irc_(.*' },
          ],
        },
      }),
    );
    expect(found).to.deep.include({ field: 'namespaces.users[1].regex', reason: 'unterminated group in "@irc_(.*"' });
    expect(found.map((p) => p.field)).to.include('id');
  });

  it('checks the list fields', () => {
    expect(fieldsOf(file({ protocols: 'irc' }))).to.deep.equal(['protocols']);
    expect(fieldsOf(file({ protocols: ['irc', 3] }))).to.deep.equal(['protocols[1]']);
    expect(fieldsOf(file({ ip_range_whitelist: ['10.0.0.0/8', '300.1.1.1', '::1/129', '1.2.3.4/8/9'] }))).to.deep.equal(
      ['ip_range_whitelist[1]', 'ip_range_whitelist[2]', 'ip_range_whitelist[3]'],
    );
    expect(fieldsOf(file({ 'io.element.msc4502.scopes': ['a', 1] }))).to.deep.equal(['io.element.msc4502.scopes[1]']);
  });

  it('requires the MSC4512 proxy keys together', () => {
    expect(fieldsOf(file({ 'io.element.msc4512.proxy_prefix': 'rtc/livekit' }))).to.deep.equal([
      'io.element.msc4512.proxy_url',
    ]);
    ok(file({ 'io.element.msc4512.proxy_prefix': 'rtc/livekit', 'io.element.msc4512.proxy_url': 'http://lk' }));
  });

  it('refuses a file that is not a mapping', () => {
    expect(problems(['id'])).to.deep.equal([
      { field: '', reason: 'must be a mapping of registration fields, got a list' },
    ]);
    expect(problems('id: x')[0]!.reason).to.match(/got a string/);
  });

  it('never puts a token in a reason', () => {
    const values = [
      file({ as_token: 12345, hs_token: ['x'] }),
      file({ id: 'a|b', url: 'ftp://x', rate_limited: 'no' }),
    ];
    for (const value of values) {
      for (const p of problems(value)) {
        expect(p.reason).not.to.include(AS_TOKEN);
        expect(p.reason).not.to.include(HS_TOKEN);
        expect(p.reason).not.to.include('12345');
      }
    }
  });
});

describe('formatPath', () => {
  it('writes dotted keys and bracketed indexes', () => {
    expect(formatPath(['namespaces', 'users', 1, 'regex'])).to.equal('namespaces.users[1].regex');
    expect(formatPath([])).to.equal('');
    expect(formatPath([0])).to.equal('[0]');
  });
});
