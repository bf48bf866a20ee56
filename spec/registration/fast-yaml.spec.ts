import { expect } from 'chai';
import fc from 'fast-check';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { pyyamlBooleans, readPlainYaml } from '../../lib/registration/fast-yaml.ts';

/** What the yaml package reads (the reference), or 'error' when it refuses or only warns. */
function reference(text: string): unknown {
  const doc = parseDocument(text, { version: '1.1', prettyErrors: false, customTags: pyyamlBooleans });
  if (doc.errors.length > 0 || doc.warnings.length > 0) return 'error';
  try {
    return doc.toJS();
  } catch {
    return 'error';
  }
}

/** The fast path either gives up or reads exactly what the yaml package reads. */
function agrees(text: string): void {
  const fast = readPlainYaml(text);
  if (fast !== undefined) expect(fast, text).to.deep.equal(reference(text));
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return yamlFiles(path);
    return name.endsWith('.yaml') ? [path] : [];
  });
}

describe('readPlainYaml (the fast path for registration files)', () => {
  it('reads a plain registration file itself, with nulls and PyYAML booleans', () => {
    const text = [
      'id: irc',
      'url: null',
      'as_token: "at-0123456789"',
      "hs_token: 'ht-0123456789'",
      'sender_localpart: y',
      'rate_limited: off',
      'protocols: ~',
      'namespaces:',
      '  users:',
      "    - { exclusive: yes, regex: '@irc_.*:example\\.org' }",
      '  rooms: []',
      '  aliases:',
      '',
    ].join('\n');
    expect(readPlainYaml(text)).to.deep.equal({
      id: 'irc',
      url: null,
      as_token: 'at-0123456789',
      hs_token: 'ht-0123456789',
      sender_localpart: 'y',
      rate_limited: false,
      protocols: null,
      namespaces: { users: [{ exclusive: true, regex: '@irc_.*:example\\.org' }], rooms: [], aliases: null },
    });
  });

  it('leaves to the yaml package what YAML 1.1 reads as more than a string, null or boolean', () => {
    for (const text of [
      'id: 010', // an octal int in YAML 1.1
      'id: 1:20', // a sexagesimal int
      'id: 2001-12-14', // a timestamp
      'id: .inf',
      'a: &x irc\nb: *x', // anchors and aliases
      '<<: { id: irc }', // a merge key
      'id: !!str irc', // an explicit tag
      'id: !secret', // an unknown tag: the yaml package's error
      '~: irc', // a null key, which the yaml package writes as ""
      'id:\n  - ?', // an empty explicit key: a null key too
      '? [a, b]\n: irc', // a complex key, which the yaml package warns about
      '[a, b]: irc',
      "id: '\n{ '", // a quoted scalar over two lines, badly indented for the yaml package
      '- id: irc', // not a mapping
      'id: irc\nid: irc', // a duplicate key: the yaml package's error
      'id: irc\n---\nid: irc', // two documents
      '',
    ]) {
      expect(readPlainYaml(text), text).to.equal(undefined);
    }
  });

  it('agrees with the yaml package on every fixture registration file', () => {
    const files = yamlFiles('fixtures');
    expect(files.length).to.be.greaterThan(10);
    for (const file of files) agrees(readFileSync(file, 'utf8'));
  });

  it('agrees with the yaml package on generated mappings of tricky scalars', () => {
    const scalar = fc.oneof(
      fc.constantFrom(
        'y',
        'n',
        'Y',
        'N',
        'yes',
        'No',
        'on',
        'OFF',
        'true',
        'False',
        'null',
        'Null',
        '~',
        '',
        '0',
        '010',
        '0x1F',
        '0b101',
        '1_000',
        '1:20',
        '1.5',
        '1e3',
        '.nan',
        '-.inf',
        '2001-12-14',
        '2001-12-14t21:59:43.10-05:00',
        '<<',
        '=',
        '-',
        'a b',
        'a: b',
        'a #b',
        '@irc_.*:example\\.org',
        '"quoted"',
        "'single'",
        'http://x/y?a=1',
      ),
      fc.string({ maxLength: 8 }),
    );
    const line = fc.tuple(fc.constantFrom('id', 'url', 'as_token', 'k', 'y', 'yes', '1'), scalar, fc.nat(5));
    fc.assert(
      fc.property(fc.array(line, { maxLength: 6 }), (lines) => {
        const text = lines
          .map(([key, value, style]) =>
            style === 0
              ? `${key}: ${value}`
              : style === 1
                ? `${key}: ${JSON.stringify(value)}`
                : style === 2
                  ? `${key}: [${value}]`
                  : style === 3
                    ? `${key}:\n  - ${value}`
                    : style === 4
                      ? `? ${value}\n: ${key}`
                      : `{ ${value}: ${key} }`,
          )
          .join('\n');
        agrees(text);
      }),
      { numRuns: 5000 },
    );
  });
});
