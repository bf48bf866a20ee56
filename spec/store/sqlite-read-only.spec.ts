import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { SqliteStore } from '../../lib/store/sqlite/sqlite-store.ts';

const CHILD = fileURLToPath(new URL('./support/sqlite-open-child.ts', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Root writes read-only files anyway: the child then runs as nobody, as a homeserver would not run as root. */
const AS_NOBODY = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};

function openInChild(path: string): { open: 'ok' | { name: string; message: string }; enqueue?: string } {
  const run = spawnSync(process.execPath, ['--import', 'tsx', CHILD, path], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, HOME: tmpdir() },
    ...AS_NOBODY,
  });
  expect(run.status, run.stderr).to.equal(0);
  return JSON.parse(run.stdout.trim().split('\n').pop()!);
}

describe('SqliteStore on a queue it may not write', function () {
  this.timeout(60_000);
  let dir: string;
  let path: string;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'koa-as-ro-'));
    path = join(dir, 'appservice.db');
    const store = new SqliteStore(path);
    await store.open();
    await store.close();
  });

  afterEach(() => {
    chmodSync(dir, 0o755);
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses to open a read-only file in a writable directory, naming the file', () => {
    chmodSync(dir, 0o777);
    chmodSync(path, 0o444);
    const report = openInChild(path);
    expect(report.open, `opened, then enqueue: ${report.enqueue}`).to.not.equal('ok');
    const err = report.open as { name: string; message: string };
    expect(err.name).to.equal('StoreError');
    expect(err.message)
      .to.contain(path)
      .and.match(/read-only/);
  });

  it('refuses to open a writable file in a read-only directory, naming the directory', () => {
    chmodSync(path, 0o666);
    chmodSync(dir, 0o555);
    const report = openInChild(path);
    expect(report.open, `opened, then enqueue: ${report.enqueue}`).to.not.equal('ok');
    const err = report.open as { name: string; message: string };
    expect(err.name).to.equal('StoreError');
    expect(err.message)
      .to.contain(`directory ${dir}`)
      .and.match(/read-only/);
  });

  it('still opens a writable file in a writable directory', () => {
    chmodSync(dir, 0o777);
    chmodSync(path, 0o666);
    expect(openInChild(path)).to.deep.equal({ open: 'ok', enqueue: 'ok' });
  });
});
