import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { main } from '../lib/cli.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const GOOD = 'fixtures/registrations/good';
const BAD = 'fixtures/registrations/bad';

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io = { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } };
  const code = await main(argv, io, { cwd: ROOT });
  return { code, out, err };
}

describe('koa-appservice CLI', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'koa-as-cli-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('prints help with --help and exits 0', async () => {
    for (const argv of [['--help'], ['-h'], ['lint', '--help']]) {
      const { code, out } = await run(...argv);
      expect(code).to.equal(0);
      expect(out)
        .to.match(/^Usage: koa-appservice/)
        .and.include('lint <files...>');
    }
  });

  it('exits 2 on usage errors', async () => {
    for (const argv of [[], ['frobnicate'], ['lint'], ['lint', '--strict', 'a.yaml']]) {
      const { code, err } = await run(...argv);
      expect(code, argv.join(' ')).to.equal(2);
      expect(err).to.include('Usage:');
    }
  });

  it('routes serve to the reference homeserver: usage error without --registration, help with --help', async () => {
    const { code, err } = await run('serve');
    expect(code).to.equal(2);
    expect(err).to.include('give at least one --registration');
    const help = await run('serve', '--help');
    expect(help.code).to.equal(0);
    expect(help.out).to.match(/^Usage: koa-appservice serve --registration/);
  });

  it('lints the good fixtures: one ✓ line per file, exit 0', async () => {
    const files = (await readdir(join(ROOT, GOOD))).filter((f) => f.endsWith('.yaml'));
    const { code, out } = await run('lint', `${GOOD}/*.yaml`);
    expect(code).to.equal(0);
    const lines = out.split('\n').filter((l) => l.startsWith('✓ '));
    expect(lines).to.have.length(files.length);
    expect(out).to.include(
      '✓ fixtures/registrations/good/matrix-appservice-irc.yaml: 7d9e6a3c1f0b4e2a8c5d9f1b3a7e0c42 (3 user, 2 alias, 0 room namespaces)',
    );
    expect(out).to.include(`${files.length} files: ${files.length} valid, 0 invalid, 0 warnings`);
  });

  it('reports a bad file with its field and exits 1', async () => {
    const { code, out } = await run('lint', `${BAD}/rate-limited-string.yaml`, `${GOOD}/matrix-appservice-slack.yaml`);
    expect(code).to.equal(1);
    expect(out).to.include(
      '✗ fixtures/registrations/bad/rate-limited-string.yaml\n    rate_limited: must be a boolean, not the string "false"',
    );
    expect(out).to.include('✓ fixtures/registrations/good/matrix-appservice-slack.yaml');
    expect(out).to.include('2 files: 1 valid, 1 invalid');
  });

  it('reports clashes between files against the later file', async () => {
    const { code, out } = await run('lint', `${BAD}/duplicate-id/*.yaml`);
    expect(code).to.equal(1);
    expect(out).to.include('✓ fixtures/registrations/bad/duplicate-id/a.yaml');
    expect(out).to.match(
      /✗ fixtures\/registrations\/bad\/duplicate-id\/b\.yaml\n {4}id: "samebridge" is already the id of/,
    );
  });

  it('reports a glob that matches nothing and a missing file', async () => {
    const { code, out } = await run('lint', 'nowhere/*.yaml', 'missing.yaml');
    expect(code).to.equal(1);
    expect(out).to.include('✗ nowhere/*.yaml\n    no file matches this pattern');
    expect(out).to.include('✗ missing.yaml\n    file not found');
  });

  it('prints warnings but still exits 0', async () => {
    const base = 'url: null\nnamespaces:\n  users:\n    - exclusive: true\n      regex: "@irc_.*"\n';
    await writeFile(
      join(dir, 'a.yaml'),
      `id: a\nas_token: ta-0123456789\nhs_token: ha-0123456789\nsender_localpart: a\n${base}`,
    );
    await writeFile(
      join(dir, 'b.yaml'),
      `id: b\nas_token: tb-0123456789\nhs_token: hb-0123456789\nsender_localpart: b\n${base}`,
    );
    const { code, out } = await run('lint', join(dir, 'a.yaml'), join(dir, 'b.yaml'));
    expect(code).to.equal(0);
    expect(out).to.match(/⚠ .*b\.yaml: namespaces\.users\[0\]\.regex: exclusive "@irc_\.\*" overlaps/);
    expect(out).to.include('2 valid, 0 invalid, 1 warning\n');
  });

  it('says which regexes RE2 made safe and which urls point at metadata addresses, still exiting 0', async () => {
    const file =
      'id: a\nurl: http://169.254.169.254/\nas_token: ta-0123456789\nhs_token: ha-0123456789\nsender_localpart: a\nnamespaces:\n  users:\n    - exclusive: true\n      regex: "@irc_(\\\\w|\\\\d)*:hs"\n';
    await writeFile(join(dir, 'a.yaml'), file);
    const { code, out } = await run('lint', join(dir, 'a.yaml'));
    expect(code).to.equal(0);
    expect(out).to.match(
      /⚠ .*a\.yaml: url: points at 169\.254\.169\.254, a link-local or cloud metadata address; registrations are trusted configuration/,
    );
    expect(out).to.match(
      /⚠ .*a\.yaml: namespaces\.users\[0\]\.regex: "@irc_\(\\\\w\|\\\\d\)\*:hs" runs in linear time via RE2; it would have backtracked/,
    );
  });

  it('names the field of every bad fixture and exits 1', async () => {
    for (const name of await readdir(join(ROOT, BAD))) {
      const arg = name.endsWith('.yaml') ? `${BAD}/${name}` : `${BAD}/${name}/*.yaml`;
      const first = name.endsWith('.yaml') ? `${BAD}/${name}` : `${BAD}/${name}/a.yaml`;
      const field = /^# error: (.+)/.exec(await readFile(join(ROOT, first), 'utf8'))![1]!;
      const { code, out } = await run('lint', arg);
      expect(code, name).to.equal(1);
      expect(out, name).to.include('✗ ');
      if (field !== '(file)') expect(out, name).to.include(`\n    ${field}: `);
    }
  });

  it('runs as a real command through bin/koa-appservice.js', async () => {
    const exec = promisify(execFile);
    const good = await exec(process.execPath, ['bin/koa-appservice.js', 'lint', `${GOOD}/*.yaml`], { cwd: ROOT });
    expect(good.stdout).to.include('0 invalid');
    const bad = await exec(process.execPath, ['bin/koa-appservice.js', 'lint', `${BAD}/url-ftp.yaml`], {
      cwd: ROOT,
    }).then(
      () => expect.fail('expected exit code 1'),
      (error: { code: number; stdout: string }) => error,
    );
    expect(bad.code).to.equal(1);
    expect(bad.stdout).to.include('url: must be an http(s) URL');
  });
});
