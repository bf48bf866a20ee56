import { expect } from 'chai';
import { literalPrefix, regexLiterals, startsWithPrefix } from '../../lib/namespace/literal-prefix.ts';

/** Like the registration translator's output: anchored at the start, wrapped in a group. */
function anchored(src: string, flags = ''): RegExp {
  return new RegExp(`^(?:${src})`, flags);
}

function prefixOf(src: string, flags = ''): string {
  return literalPrefix(anchored(src, flags)).text;
}

describe('literalPrefix', () => {
  const cases: ReadonlyArray<readonly [string, string]> = [
    ['@irc\\.example\\.net/.*', '@irc.example.net/'],
    ['@irc\\.example\\.net\\/.*', '@irc.example.net/'],
    ['@_discord_[0-9]+', '@_discord_'],
    ['@whatsapp_.*', '@whatsapp_'],
    ['@_telegram_[0-9]+:example\\.org', '@_telegram_'],
    ['@(irc|slack)_.*', '@'],
    ['@a?b', '@'],
    ['@a*b', '@'],
    ['@a+b', '@a'],
    ['@a{2}b', '@a'],
    ['@a{2,}b', '@a'],
    ['@a{0,2}b', '@'],
    ['@a{x}', '@'], // Annex B: a literal brace; we stop rather than guess
    ['@\\d+abc', '@'],
    ['@\\w', '@'],
    ['@\\n', '@'],
    ['@\\1', '@'],
    ['@\\x41', '@'],
    ['@\\_x', '@_x'],
    ['@a\\|b', '@a|b'],
    ['a|b', ''],
    ['@abc|@abd', ''],
    ['@a.b', '@a'],
    ['@a$', '@a'],
    ['@a\\b', '@a'],
    ['@[ab]c', '@'],
    ['@x[|]y', '@x'],
    ['@x[(]y', '@x'],
    ['@x[(]|y', ''],
    ['@x[\\]|]y', '@x'],
    ['(?:@irc_)(?:foo)bar.*', '@irc_foobar'],
    ['(@irc_)+x', '@irc_'],
    ['(@irc_)?x', ''],
    ['(?:@a.)b', '@a'],
    ['(?<net>@t)x', '@tx'],
    // Assertions consume nothing, so the characters around them stay adjacent.
    ['@(?=x)x', '@x'],
    ['@(?!x)y', '@y'],
    ['@(?<=@)y', '@y'],
    ['@a\\bc', '@ac'],
    ['^@telegram_\\d+', '@telegram_'], // what the translator makes of Python's \A
    ['@(?:a|b)c', '@'],
    ['@é_.*', '@é_'],
    ['@\u{1F600}x', '@'],
    ['', ''],
    ['.*', ''],
  ];
  for (const [src, expected] of cases) {
    it(`${JSON.stringify(src)} -> ${JSON.stringify(expected)}`, () => {
      expect(prefixOf(src)).to.equal(expected);
    });
  }

  it('every case prefix really starts every match it was computed for', () => {
    // Guards the table itself: a sample match of each regex starts with the expected prefix.
    const samples: ReadonlyArray<readonly [string, string]> = [
      ['@irc\\.example\\.net/.*', '@irc.example.net/bob'],
      ['@a+b', '@aaab'],
      ['(?:@irc_)(?:foo)bar.*', '@irc_foobarx'],
      ['(@irc_)+x', '@irc_@irc_x'],
    ];
    for (const [src, sample] of samples) {
      expect(anchored(src).test(sample), src).to.equal(true);
      expect(sample.startsWith(prefixOf(src)), src).to.equal(true);
    }
  });

  it('gives no prefix to a regex not anchored at the start', () => {
    expect(literalPrefix(/@irc_.*/).text).to.equal('');
    expect(literalPrefix(/^@irc_.*/m).text).to.equal('');
    expect(literalPrefix(/^@irc_.*/).text).to.equal('@irc_');
  });

  it('treats the sticky flag as an anchor', () => {
    expect(literalPrefix(/@irc_.*/y).text).to.equal('@irc_');
  });

  it('gives no prefix under the v flag', () => {
    expect(literalPrefix(new RegExp('^@irc_', 'v')).text).to.equal('');
  });

  it('folds a case-insensitive prefix to ASCII lowercase', () => {
    expect(literalPrefix(anchored('@Slack_.*', 'i'))).to.deep.equal({ text: '@slack_', folded: true });
    expect(literalPrefix(anchored('@Slack_.*'))).to.deep.equal({ text: '@Slack_', folded: false });
    expect(literalPrefix(anchored('.*', 'i'))).to.deep.equal({ text: '', folded: false });
  });

  it('stops a folded prefix at the first non-ASCII character', () => {
    expect(prefixOf('@ab_é.*', 'i')).to.equal('@ab_');
  });

  it('keeps k and s in a folded prefix: the fold covers KELVIN SIGN and LONG S', () => {
    // With `u`, Unicode case folding matches them with k and s; without, they match nothing ASCII.
    expect(anchored('@k', 'iu').test('@\u212A')).to.equal(true);
    expect(anchored('@s', 'iu').test('@\u017F')).to.equal(true);
    expect(anchored('@k', 'i').test('@\u212A')).to.equal(false);
    expect(prefixOf('@ask', 'iu')).to.equal('@ask');
    expect(startsWithPrefix('@A\u017F\u212A_', literalPrefix(anchored('@ask', 'iu')))).to.equal(true);
  });
});

describe('regexLiterals: the required run', () => {
  const cases: ReadonlyArray<readonly [string, string, string]> = [
    // [source, prefix, required]
    ['@_discord_[0-9]+:example\\.org', '@_discord_', ':example.org'],
    ['@a.*bc.*def', '@a', 'def'],
    ['@a(?:b|c)xyz', '@a', 'xyz'],
    ['@a\\d+xy\\x41zzzz', '@a', 'xy'], // stops at \x: its length is its own
    ['@a(?=q)bc', '@abc', ''],
    ['@a.(?=q)bc', '@a', 'bc'],
    ['@ab+cd', '@ab', 'cd'],
    ['@a(bc)+de', '@abc', 'de'],
    ['@a(?:b.*xyz)?', '@a', ''],
    ['@a(?:b.*xyz)', '@ab', 'xyz'],
    ['@a[.]b$', '@a', 'b'],
    ['@a{x}bcd', '@', ''],
    ['@a.b*?cd', '@a', 'cd'],
    ['@a.b{2,3}?cd', '@a', 'cd'],
    ['@irc_.*', '@irc_', ''],
    ['x|y', '', ''],
    ['.*x', '', 'x'],
  ];
  for (const [src, prefix, required] of cases) {
    it(`${JSON.stringify(src)} -> ${JSON.stringify(prefix)} + ${JSON.stringify(required)}`, () => {
      const got = regexLiterals(anchored(src));
      expect([got.prefix.text, got.required]).to.deep.equal([prefix, required]);
    });
  }

  it('takes the first run of an unanchored regex as a required run, not a prefix', () => {
    expect(regexLiterals(/fo.*bar/)).to.deep.equal({ prefix: { text: '', folded: false }, required: 'bar' });
  });

  it('has none for a case-insensitive regex', () => {
    expect(regexLiterals(anchored('@a.*bcd', 'i')).required).to.equal('');
  });
});

describe('startsWithPrefix', () => {
  it('compares exactly or folded', () => {
    expect(startsWithPrefix('@SLACK_bob', { text: '@slack_', folded: true })).to.equal(true);
    expect(startsWithPrefix('@SLACK_bob', { text: '@slack_', folded: false })).to.equal(false);
    expect(startsWithPrefix('@sl', { text: '@slack_', folded: true })).to.equal(false);
    expect(startsWithPrefix('@\u212Aick', { text: '@k', folded: true })).to.equal(true);
    expect(startsWithPrefix('@\u212Aick', { text: '@k', folded: false })).to.equal(false);
    expect(startsWithPrefix('anything', { text: '', folded: false })).to.equal(true);
  });
});
