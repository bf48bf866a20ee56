/**
 * The package as a homeserver project gets it: `npm pack` (its prepack builds dist/ from
 * scratch), the tarball installed into a fresh project that has koa and pg and none of the
 * package's dev dependencies, then every entry point used from plain Node
 * (fixtures/package-consumer/check.mjs) and from `tsc --strict` with NodeNext resolution
 * (fixtures/package-consumer/consumer.ts).
 *
 * Speed: the pack runs in a copy of the package so that the checkout's dist/ is left alone; the
 * install skips install scripts and reuses the checkout's compiled native addons (better-sqlite3),
 * pinned to the same versions, instead of compiling them again (minutes on two cores). Everything
 * comes from npm's cache when it holds it (`--prefer-offline`).
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const ROOT = resolve(import.meta.dirname, '../..');
const run = promisify(execFile);

/** The files `npm pack` needs to build and pack the package. */
const PACKAGE_FILES = ['package.json', 'tsconfig.json', 'tsconfig.build.json', 'README.md', 'CHANGELOG.md', 'LICENSE'];
const PACKAGE_DIRS = ['lib', 'bin'];

function versionIn(dir: string, name: string): string {
  return (JSON.parse(readFileSync(join(dir, 'node_modules', name, 'package.json'), 'utf8')) as { version: string })
    .version;
}

/** The checkout's installed packages that compile a native addon at install time. */
function nativePackages(): string[] {
  const found: string[] = [];
  const modules = join(ROOT, 'node_modules');
  for (const entry of readdirSync(modules)) {
    const names = entry.startsWith('@') ? readdirSync(join(modules, entry)).map((n) => `${entry}/${n}`) : [entry];
    for (const name of names) if (existsSync(join(modules, name, 'binding.gyp'))) found.push(name);
  }
  return found;
}

async function npm(cwd: string, args: string[]): Promise<string> {
  const { stdout } = await run('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd,
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, npm_config_update_notifier: 'false' },
  });
  return stdout;
}

describe('the packed package', function () {
  // npm pack builds dist/ with tsc, npm install fetches what the cache lacks, tsc checks a
  // consumer: each tens of seconds on a busy two-core machine.
  this.timeout(300_000);

  let work: string;
  let consumer: string;
  let tarball: string;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'koa-appservice-pack-'));
    const source = join(work, 'source');
    mkdirSync(source);
    for (const file of PACKAGE_FILES) if (existsSync(join(ROOT, file))) cpSync(join(ROOT, file), join(source, file));
    for (const dir of PACKAGE_DIRS) cpSync(join(ROOT, dir), join(source, dir), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules'), join(source, 'node_modules'));
    const [packed] = JSON.parse(await npm(source, ['pack', '--json', '--pack-destination', work])) as {
      filename: string;
    }[];
    tarball = join(work, packed!.filename);

    consumer = join(work, 'consumer');
    cpSync(join(ROOT, 'fixtures', 'package-consumer'), consumer, { recursive: true });
    const manifest = JSON.parse(readFileSync(join(consumer, 'package.json'), 'utf8')) as Record<string, unknown>;
    manifest.overrides = Object.fromEntries(nativePackages().map((name) => [name, versionIn(ROOT, name)]));
    writeFileSync(join(consumer, 'package.json'), JSON.stringify(manifest, null, 2));
    // What a TypeScript homeserver on koa and pg has; the same versions as this checkout's.
    const wanted = ['koa', 'pg', '@types/koa', '@types/pg', '@types/node'].map((n) => `${n}@${versionIn(ROOT, n)}`);
    await npm(consumer, ['install', '--prefer-offline', '--ignore-scripts', tarball, ...wanted]);
    // The addons the skipped install scripts would have compiled: the checkout's, same version.
    for (const name of nativePackages()) {
      const installed = join(consumer, 'node_modules', name);
      const built = join(ROOT, 'node_modules', name, 'build', 'Release');
      if (!existsSync(installed) || !existsSync(built)) continue;
      mkdirSync(join(installed, 'build', 'Release'), { recursive: true });
      for (const addon of readdirSync(built).filter((f) => f.endsWith('.node'))) {
        cpSync(join(built, addon), join(installed, 'build', 'Release', addon));
      }
    }
  });

  after(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('packs the built dist/ and the package files, no sources, specs or source maps', async () => {
    const { stdout } = await run('tar', ['-tzf', tarball]);
    const files = stdout.trim().split('\n');
    expect(files).to.include.members([
      'package/package.json',
      'package/LICENSE',
      'package/README.md',
      'package/CHANGELOG.md',
      'package/bin/koa-appservice.js',
      'package/dist/lib/index.js',
      'package/dist/lib/index.d.ts',
      'package/dist/lib/testing/index.js',
      'package/dist/lib/testing/store-contract.js',
    ]);
    expect(
      files.filter((f) => !/^package\/(dist\/lib\/|bin\/|[A-Z]+\.md$|LICENSE$|package\.json$)/.test(f)),
    ).to.deep.equal([]);
    expect(files.filter((f) => f.endsWith('.map') || (f.endsWith('.ts') && !f.endsWith('.d.ts')))).to.deep.equal([]);
  });

  it('installs with none of its dev dependencies', () => {
    for (const dev of ['mocha', 'chai', 'tsx', 'typescript']) {
      expect(existsSync(join(consumer, 'node_modules', dev)), dev).to.equal(false);
    }
  });

  it('runs from plain Node: all four entry points, a transaction delivered, a ping answered', async () => {
    const { stdout } = await run(process.execPath, ['check.mjs'], { cwd: consumer });
    const seen = JSON.parse(stdout.trim().split('\n').at(-1)!) as {
      events: number;
      ping: number;
      pingBody: unknown;
      contract: string;
    };
    expect(seen.events).to.equal(1);
    expect(seen.ping).to.equal(200);
    expect(seen.pingBody).to.have.property('duration_ms');
    // The store contract suite is the one part that needs the optional peers mocha and chai.
    expect(seen.contract).to.match(/Cannot find package '(chai|mocha)'/);
  });

  it('runs its CLI from the installed bin', async () => {
    const { stdout } = await run(
      process.execPath,
      [
        join(consumer, 'node_modules', '.bin', 'koa-appservice'),
        'lint',
        join(ROOT, 'fixtures/registrations/good/matrix-appservice-irc.yaml'),
      ],
      { cwd: consumer },
    );
    expect(stdout).to.contain('matrix-appservice-irc.yaml');
  });

  it('type-checks a consumer with tsc --strict and NodeNext resolution', async () => {
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const result = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: consumer }).then(
      () => '',
      (err: { stdout?: string; stderr?: string }) => `${err.stdout ?? ''}${err.stderr ?? ''}`,
    );
    expect(result).to.equal('');
  });
});
