import { expect } from 'chai';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RegistrationError, RegistrationLoadError } from '../../lib/errors.ts';
import {
  crossCheckRegistrations,
  loadRegistrations,
  parseRegistration,
  readRegistrationFile,
  validateRegistration,
} from '../../lib/registration/load.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const GOOD = join(ROOT, 'fixtures/registrations/good');
const BAD = join(ROOT, 'fixtures/registrations/bad');

async function rejection(promise: Promise<unknown>): Promise<RegistrationLoadError> {
  try {
    await promise;
  } catch (error) {
    expect(error).to.be.instanceOf(RegistrationLoadError);
    return error as RegistrationLoadError;
  }
  throw new Error('expected the load to fail');
}

function syncRejection(run: () => unknown): RegistrationLoadError {
  try {
    run();
  } catch (error) {
    expect(error).to.be.instanceOf(RegistrationLoadError);
    return error as RegistrationLoadError;
  }
  throw new Error('expected a RegistrationLoadError');
}

/** Every token-looking value in a fixture, so that we can check no message repeats one. */
function tokensIn(text: string): string[] {
  return [...text.matchAll(/^\s*(?:as_token|hs_token):\s*['"]?([^'"\s]+)/gm)].map((m) => m[1]!);
}

/** Tokens are padded to the minimum length; equal arguments stay equal tokens. */
function object(id: string, asToken: string, hsToken: string): Record<string, unknown> {
  return {
    id,
    url: null,
    as_token: `${asToken}-0123456789`,
    hs_token: `${hsToken}-0123456789`,
    sender_localpart: `${id}bot`,
    namespaces: {},
  };
}

describe('loadRegistrations', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'koa-as-load-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('loads every good fixture together through a glob', async () => {
    const registrations = await loadRegistrations(['fixtures/registrations/good/*.yaml'], { cwd: ROOT });
    const files = (await readdir(GOOD)).filter((f) => f.endsWith('.yaml'));
    expect(files.length).to.be.at.least(10);
    expect(registrations).to.have.length(files.length);
    expect(registrations.map((r) => r.source)).to.deep.equal(
      files.sort().map((f) => `fixtures/registrations/good/${f}`),
    );
  });

  it('maps the fixtures as Synapse would read them', async () => {
    const all = await loadRegistrations(['fixtures/registrations/good/*.yaml'], { cwd: ROOT });
    const byId = new Map(all.map((r) => [r.id, r]));
    const irc = byId.get('7d9e6a3c1f0b4e2a8c5d9f1b3a7e0c42')!;
    expect(irc).to.include({ rateLimited: false, url: 'http://localhost:9999' });
    expect(irc.protocols).to.deep.equal(['irc']);
    expect(irc.namespaces.users.map((u) => u.source)).to.deep.equal([
      '@irc_.*:example.org',
      '@irc.example.net/.*:example.org',
      '@libera_(?P<nick>[^:]+):example\\.org',
    ]);
    expect(irc.namespaces.users[1]!.regex.test('@irc.example.net/bob:example.org')).to.equal(true);
    expect(byId.get('doublepuppet')!.url).to.equal(null);
    expect(byId.get('signal')).to.include({ msc3202: true, msc4190: true, receiveEphemeral: true });
    expect(byId.get('telegram')!.namespaces.aliases[0]!.regex.test('#telegram_chat:example.com')).to.equal(true);
    expect(byId.get('discord-bridge')!.rateLimited).to.equal(true); // absent: Synapse's default
    const puppet = byId.get('slack-puppet')!;
    expect(puppet.rateLimited).to.equal(false); // `no` is a YAML 1.1 boolean, as in PyYAML
    expect(puppet.namespaces.users[0]!.exclusive).to.equal(true); // `yes`
    const legacy = byId.get('legacy-bot')!;
    expect(legacy).to.include({ legacyQueryToken: true, url: 'https://bots.example.org:8443/appservice' });
    expect(legacy.ipRangeWhitelist).to.deep.equal(['10.0.0.0/8', '::1']);
    expect(legacy.raw['unknown_future_key']).to.equal('kept as is');
    expect(legacy.namespaces.users[0]!.regex.test('@legacy_bob:example.org')).to.equal(true);
  });

  it('accepts parsed objects, named by their index', async () => {
    const [a, b] = await loadRegistrations([object('a', 'ta', 'ha'), object('b', 'tb', 'hb')]);
    expect(a!.source).to.equal('<object #0>');
    expect(b!.source).to.equal('<object #1>');
    const error = await rejection(
      loadRegistrations([object('a', 'ta', 'ha'), { ...object('b', 'tb', 'hb'), url: 'ftp://x' }]),
    );
    expect(error.errors.map((e) => e.message)).to.deep.equal([
      '<object #1>: url: must be an http(s) URL, not a "ftp" URL',
    ]);
  });

  it('refuses a glob that matches nothing and a path that does not exist', async () => {
    const error = await rejection(loadRegistrations(['nothing/*.yaml', 'missing.yaml'], { cwd: dir }));
    expect(error.errors.map((e) => e.message)).to.deep.equal([
      'nothing/*.yaml: no file matches this pattern',
      'missing.yaml: file not found',
    ]);
  });

  it('refuses a directory given as a file', async () => {
    const error = await rejection(loadRegistrations([dir]));
    expect(error.errors[0]!.reason).to.match(/directory/);
  });

  it('loads a file listed twice (path and glob) once', async () => {
    await writeFile(
      join(dir, 'a.yaml'),
      'id: a\nurl: null\nas_token: t1-0123456789\nhs_token: h1-0123456789\nsender_localpart: a\nnamespaces: {}\n',
    );
    const registrations = await loadRegistrations(['a.yaml', '*.yaml'], { cwd: dir });
    expect(registrations).to.have.length(1);
  });

  it('resolves relative paths against cwd and reports them as given', async () => {
    await writeFile(
      join(dir, 'a.yaml'),
      'id: a\nurl: null\nas_token: t1-0123456789\nhs_token: h1-0123456789\nsender_localpart: a\nnamespaces: {}\n',
    );
    const [r] = await loadRegistrations(['./a.yaml'], { cwd: dir });
    expect(r!.source).to.equal('./a.yaml');
  });

  it('collects every problem of every file before failing as a whole', async () => {
    await writeFile(
      join(dir, 'ok.yaml'),
      'id: ok\nurl: null\nas_token: t1-0123456789\nhs_token: h1-0123456789\nsender_localpart: ok\nnamespaces: {}\n',
    );
    await writeFile(
      join(dir, 'one.yaml'),
      'id: one|x\nurl: null\nas_token: t2-0123456789\nhs_token: h2-0123456789\nsender_localpart: one\nnamespaces: {}\nrate_limited: "false"\n',
    );
    await writeFile(
      join(dir, 'two.yaml'),
      'id: ok\nurl: null\nas_token: t1-0123456789\nhs_token: h3-0123456789\nsender_localpart: two\nnamespaces: {}\n',
    );
    const error = await rejection(loadRegistrations(['*.yaml'], { cwd: dir }));
    expect(error.errors.map((e) => `${e.file}|${e.field}`)).to.deep.equal([
      'one.yaml|id',
      'one.yaml|rate_limited',
      'two.yaml|id',
      'two.yaml|as_token',
    ]);
    expect(error.code).to.equal('ERR_REGISTRATION');
    expect(error.message.split('\n')).to.have.length(4);
    expect(error.message).not.to.include('t1');
  });

  it('names line and column of a YAML syntax error, without quoting the file', async () => {
    const text = 'id: a\nas_token: supersecret\nprotocols: [irc\nurl: null\n';
    const error = syncRejection(() => parseRegistration(text, 'x.yaml'));
    expect(error.errors[0]!.field).to.equal('');
    expect(error.errors[0]!.message).to.match(/^x\.yaml: invalid YAML at line 4, column 1: /);
    expect(error.message).not.to.include('supersecret');
  });

  it('refuses what PyYAML safe_load refuses: unknown tags, several documents', () => {
    const tagged = syncRejection(() =>
      parseRegistration('id: a\nas_token: !!python/object:os.system supersecret\n', 'x.yaml'),
    );
    expect(tagged.errors[0]!.message).to.match(/^x\.yaml: invalid YAML at line 2, column 11: Unresolved tag/);
    expect(tagged.message).not.to.include('supersecret');
    const several = syncRejection(() => parseRegistration('id: a\n---\nid: b\n', 'x.yaml'));
    expect(several.errors[0]!.message).to.equal(
      'x.yaml: invalid YAML at line 2, column 1: the file holds several YAML documents; a registration is one',
    );
  });

  it('refuses a file over 1 MiB before parsing it', async () => {
    const big = `${'# padding\n'.repeat(110_000)}id: a\n`;
    await writeFile(join(dir, 'big.yaml'), big);
    const error = await rejection(loadRegistrations(['big.yaml'], { cwd: dir }));
    expect(error.errors.map((e) => e.message)).to.deep.equal([
      'big.yaml: file too large: a registration file is at most 1 MiB (1048576 bytes)',
    ]);
    expect(syncRejection(() => parseRegistration(big, 'big.yaml')).errors[0]!.reason).to.match(/^file too large/);
  });

  it('refuses tokens shorter than 8 characters, blanks included, without echoing them', () => {
    for (const short of ['Qz', ' ', '   Qz   ', '1234567']) {
      const error = syncRejection(() =>
        validateRegistration({ ...object('a', 'ok', 'ok2'), as_token: short, hs_token: short }, 'a.yaml'),
      );
      expect(error.errors.map((e) => `${e.field}: ${e.reason}`)).to.deep.equal([
        'as_token: is too short: at least 8 characters besides spaces, so that it cannot be guessed (bridges generate 32 to 64)',
        'hs_token: is too short: at least 8 characters besides spaces, so that it cannot be guessed (bridges generate 32 to 64)',
      ]);
    }
    expect(validateRegistration({ ...object('a', 'ok', 'ok2'), as_token: '12345678' }, 'a.yaml').asToken).to.equal(
      '12345678',
    );
  });

  it('refuses an empty file', () => {
    for (const text of ['', '\n\n', '# nothing but a comment\n']) {
      const error = syncRejection(() => parseRegistration(text, 'empty.yaml'));
      expect(error.errors[0]!.message).to.equal('empty.yaml: empty file: expected a mapping of registration fields');
    }
  });

  it('reads a file directly with readRegistrationFile', async () => {
    const r = await readRegistrationFile('fixtures/registrations/good/matrix-appservice-slack.yaml', ROOT);
    expect(r.id).to.equal('slack');
    await rejection(readRegistrationFile('nope.yaml', dir));
  });

  it('validateRegistration throws RegistrationErrors naming the file and field', () => {
    const error = syncRejection(() => validateRegistration({ ...object('a', 't', 'h'), id: 7 }, 'mine'));
    expect(error.errors[0]).to.be.instanceOf(RegistrationError);
    expect(error.errors[0]).to.include({
      file: 'mine',
      field: 'id',
      message: 'mine: id: must be a string, got a number',
    });
  });
});

describe('crossCheckRegistrations', () => {
  const load = (...objects: Record<string, unknown>[]) => objects.map((o, i) => validateRegistration(o, `f${i}`));

  it('finds duplicate ids and as_tokens, and as_tokens equal to any hs_token', () => {
    const errors = crossCheckRegistrations(
      load(
        object('a', 'secret-a', 'secret-h'),
        object('a', 'secret-a', 'secret-h2'),
        object('c', 'secret-h', 'secret-h3'),
        object('d', 'secret-d', 'secret-d'),
      ),
    );
    expect(errors.map((e) => e.message)).to.deep.equal([
      'f1: id: "a" is already the id of f0',
      'f1: as_token: the same as_token is already used by f0',
      'f2: as_token: must differ from the hs_token of f0',
      'f3: as_token: must differ from its own hs_token',
    ]);
    for (const e of errors) expect(e.message).not.to.include('secret');
  });

  it('refuses an hs_token shared by two ASes, naming the other file', () => {
    const errors = crossCheckRegistrations(
      load(object('a', 'secret-a', 'secret-h'), object('b', 'secret-b', 'secret-h')),
    );
    expect(errors.map((e) => e.message)).to.deep.equal(['f1: hs_token: the same hs_token is already used by f0']);
  });

  it('is empty for registrations that can live together', () => {
    expect(crossCheckRegistrations(load(object('a', 'ta', 'ha'), object('b', 'tb', 'hb')))).to.deep.equal([]);
  });
});

describe('bad registration fixtures', () => {
  // Each bad file (or folder of files loaded together) starts with `# error: <field path>`, the
  // field its error must name; `(file)` means an error about the whole file (empty, not YAML...).
  // A file holding only that comment line is the empty-file case: YAML sees no document in it.
  const names: string[] = [];
  before(async () => {
    names.push(...(await readdir(BAD)).sort());
  });

  it('holds at least 12 cases', () => {
    expect(names.length).to.be.at.least(12);
  });

  it('each fails to load, naming the field in its first line, and never a token', async () => {
    let checked = 0;
    for (const name of names) {
      const path = join(BAD, name);
      const isDir = !name.endsWith('.yaml');
      const files = isDir ? (await readdir(path)).filter((f) => f.endsWith('.yaml')).map((f) => join(path, f)) : [path];
      const texts = await Promise.all(files.map((f) => readFile(f, 'utf8')));
      const expected = /^# error: (.+)$/m.exec(texts[0]!.split('\n')[0]!)?.[1];
      expect(expected, `${name} must start with "# error: <field>"`).to.be.a('string');
      const field = expected === '(file)' ? '' : expected;
      const error = await rejection(
        loadRegistrations(
          files.map((f) => relative(ROOT, f)),
          { cwd: ROOT },
        ),
      );
      const fields = error.errors.map((e) => e.field);
      expect(fields, `${name}: ${error.message}`).to.include(field);
      for (const e of error.errors) {
        expect(e).to.be.instanceOf(RegistrationError);
        expect(e.message.startsWith(`${e.file}: `), e.message).to.equal(true);
        for (const token of texts.flatMap(tokensIn)) expect(e.message, name).not.to.include(token);
      }
      checked++;
    }
    expect(checked).to.equal(names.length);
  });
});
