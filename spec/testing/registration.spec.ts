import { expect } from 'chai';
import { translateNamespaceRegex } from '../../lib/registration/regex.ts';
import * as testing from '../../lib/testing/index.ts';
import { testRegistration } from '../../lib/testing/registration.ts';

describe('testRegistration', () => {
  it('fills every field but the id with a default', () => {
    expect(testRegistration({ id: 'irc' })).to.deep.equal({
      id: 'irc',
      url: null,
      asToken: 'as-irc',
      hsToken: 'hs-irc',
      senderLocalpart: 'ircbot',
      namespaces: { users: [], aliases: [], rooms: [] },
      rateLimited: true,
      protocols: [],
      receiveEphemeral: false,
      msc3202: false,
      msc4190: false,
      receiveToDevice: false,
      legacyQueryToken: false,
      source: '<test irc>',
      raw: {},
    });
  });

  it('takes an override of every field', () => {
    const users = [{ exclusive: false, source: 'x', regex: /^x/i }];
    const overrides = {
      id: 'slack',
      url: 'http://127.0.0.1:9',
      asToken: 'A',
      hsToken: 'H',
      senderLocalpart: 'slackbot9',
      rateLimited: false,
      protocols: ['slack'],
      receiveEphemeral: true,
      msc3202: true,
      msc4190: true,
      receiveToDevice: false,
      legacyQueryToken: true,
      ipRangeWhitelist: ['10.0.0.0/8'],
      source: 'slack.yaml',
      raw: { id: 'slack', extra: 1 },
    };
    const r = testRegistration({ ...overrides, namespaces: { users } });
    // Every field of Registration is here, so nothing of the defaults may leak through.
    expect(r).to.deep.equal({ ...overrides, namespaces: { users, aliases: [], rooms: [] } });
    expect(r.namespaces.users).to.equal(users); // used as given, not recompiled
  });

  it('follows receiveEphemeral for to-device messages unless told otherwise, as the loader does', () => {
    expect(testRegistration({ id: 'a', receiveEphemeral: true }).receiveToDevice).to.equal(true);
    expect(testRegistration({ id: 'a', receiveEphemeral: true, receiveToDevice: false }).receiveToDevice).to.equal(
      false,
    );
    expect(testRegistration({ id: 'a', receiveToDevice: true })).to.include({
      receiveEphemeral: false,
      receiveToDevice: true,
    });
  });

  it('keeps url: null when given null', () => {
    expect(testRegistration({ id: 'a', url: null }).url).to.equal(null);
  });

  it('compiles string rules exclusive by default, and honours `exclusive` and per-rule overrides', () => {
    const r = testRegistration({
      id: 'irc',
      users: ['@irc_.*', { regex: '@ircbot' }, { regex: '@irc', exclusive: false }],
      rooms: ['!a.*'],
    });
    expect(r.namespaces.users.map((u) => [u.source, u.exclusive])).to.deep.equal([
      ['@irc_.*', true],
      ['@ircbot', true],
      ['@irc', false],
    ]);
    expect(r.namespaces.rooms.map((u) => [u.source, u.exclusive])).to.deep.equal([['!a.*', true]]);
    expect(r.namespaces.aliases).to.deep.equal([]);
    const shared = testRegistration({
      id: 'w',
      exclusive: false,
      aliases: ['#.*', { regex: '#own_.*', exclusive: true }],
    });
    expect(shared.namespaces.aliases.map((u) => u.exclusive)).to.deep.equal([false, true]);
  });

  it('compiles a rule exactly as the translator compiles the same pattern: ^(?:...) with the u flag', () => {
    for (const source of ['@irc_.*', '@_discord_[0-9]+:example\\.org', '#(foo|bar)_.*', '@.:x']) {
      const built = testRegistration({ id: 'a', users: [source] }).namespaces.users[0]!.regex;
      const translated = translateNamespaceRegex(source);
      expect(built.flags, source).to.equal(translated.flags);
      expect(built.source, source).to.equal(`^(?:${source})`);
      expect(translated.source.startsWith('^(?:') && translated.source.endsWith(')'), translated.source).to.equal(true);
      for (const value of [
        '@irc_bob:x',
        'x@irc_bob',
        '@_discord_12:example.org',
        '@_discord_12:exampleXorg',
        '#bar_1',
        '@irc_bob:x\n',
        '@\u{1F600}:x',
        '@ab:x',
      ]) {
        expect(built.test(value), `${source} on ${JSON.stringify(value)}`).to.equal(translated.test(value));
      }
    }
    const irc = testRegistration({ id: 'irc', users: ['@irc_'] }).namespaces.users[0]!.regex;
    expect(irc.test('@irc_bob:hs.test')).to.equal(true); // anchored at the start only
    expect(irc.test('x@irc_bob:hs.test')).to.equal(false);
    // `u`: one astral character is one `.`, as a Python str pattern sees it.
    expect(testRegistration({ id: 'a', users: ['@.:x'] }).namespaces.users[0]!.regex.test('@\u{1F600}:x')).to.equal(
      true,
    );
  });

  it('refuses a kind given both compiled and as sources', () => {
    expect(() => testRegistration({ id: 'a', namespaces: { users: [] }, users: ['@a'] })).to.throw(
      TypeError,
      'namespaces.users and users',
    );
    expect(() => testRegistration({ id: 'a', namespaces: { users: [] }, aliases: ['#a'] })).not.to.throw();
  });

  it('leaves ipRangeWhitelist out unless given', () => {
    expect(testRegistration({ id: 'a' })).not.to.have.property('ipRangeWhitelist');
  });

  it('is exported from koa-appservice/testing', () => {
    expect(testing.testRegistration).to.equal(testRegistration);
  });
});
