import { expect } from 'chai';
import { validateRegistration } from '../../lib/registration/load.ts';
import { Registry } from '../../lib/registration/registry.ts';

function reg(id: string, asToken: string, senderLocalpart: string) {
  return validateRegistration(
    {
      id,
      url: null,
      as_token: asToken,
      hs_token: `hs-${id}-0123456789`,
      sender_localpart: senderLocalpart,
      namespaces: {},
    },
    `${id}.yaml`,
  );
}

describe('Registry', () => {
  const irc = reg('irc', 'token-irc-0123456789', 'appservice-irc');
  const slack = reg('slack', 'token-slack-abcdef', 'slackbot');
  const registry = new Registry([irc, slack], 'example.org');

  it('lists all registrations, frozen', () => {
    expect(registry.all).to.deep.equal([irc, slack]);
    expect(Object.isFrozen(registry.all)).to.equal(true);
    expect(registry.serverName).to.equal('example.org');
  });

  it('finds by id', () => {
    expect(registry.byId('irc')).to.equal(irc);
    expect(registry.byId('IRC')).to.equal(undefined);
    expect(registry.byId('nope')).to.equal(undefined);
  });

  it('finds by exact as_token only', () => {
    expect(registry.byAsToken('token-irc-0123456789')).to.equal(irc);
    expect(registry.byAsToken('token-slack-abcdef')).to.equal(slack);
    for (const wrong of [
      '',
      'token-irc-012345678',
      'token-irc-0123456789x',
      'TOKEN-IRC-0123456789',
      'token-irc-0123456788',
      'hs-irc',
    ]) {
      expect(registry.byAsToken(wrong), wrong).to.equal(undefined);
    }
  });

  it('handles non-ASCII tokens', () => {
    const odd = reg('odd', 'tökén-✓-ünïcode', 'odd');
    const r = new Registry([odd], 'example.org');
    expect(r.byAsToken('tökén-✓-ünïcode')).to.equal(odd);
    expect(r.byAsToken('tökén-✓-ünïcodx')).to.equal(undefined);
  });

  it('finds by sender user id on this server', () => {
    expect(registry.bySender('@appservice-irc:example.org')).to.equal(irc);
    expect(registry.bySender('@slackbot:example.org')).to.equal(slack);
    expect(registry.bySender('@slackbot:other.org')).to.equal(undefined);
    expect(registry.bySender('slackbot')).to.equal(undefined);
    expect(registry.bySender('@irc_bob:example.org')).to.equal(undefined);
  });

  it('is empty for no registrations', () => {
    const empty = new Registry([], 'example.org');
    expect(empty.all).to.deep.equal([]);
    expect(empty.byAsToken('x')).to.equal(undefined);
  });
});
