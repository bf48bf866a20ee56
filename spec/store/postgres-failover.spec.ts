import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { PostgresStore } from '../../lib/store/postgres/postgres-store.ts';
import { freshSchema } from '../support/postgres-server.ts';

const CHILD = fileURLToPath(new URL('../support/postgres-lock-child.ts', import.meta.url));

interface Competitor {
  readonly child: ChildProcess;
  readonly lines: string[];
  /** Resolves with the line that matches, or rejects after `ms`. */
  waitFor(pattern: RegExp, ms: number): Promise<string>;
}

function compete(env: Record<string, string>): Competitor {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  let rest = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    const parts = (rest + chunk.toString()).split('\n');
    rest = parts.pop()!;
    lines.push(...parts);
    for (const wake of waiters) wake();
  });
  return {
    child,
    lines,
    waitFor(pattern, ms) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const line = lines.find((l) => pattern.test(l));
          if (line !== undefined) finish(() => resolve(line));
          else if (child.exitCode !== null || child.signalCode !== null)
            finish(() => reject(new Error(`child exited (${child.exitCode ?? child.signalCode}) before ${pattern}`)));
        };
        const timer = setTimeout(
          () => finish(() => reject(new Error(`no ${pattern} within ${ms} ms; saw ${JSON.stringify(lines)}`))),
          ms,
        );
        const finish = (settle: () => void): void => {
          clearTimeout(timer);
          waiters.delete(check);
          child.off('exit', check);
          settle();
        };
        waiters.add(check);
        child.on('exit', check);
        check();
      });
    },
  };
}

async function firstOf(competitors: readonly Competitor[], pattern: RegExp, ms: number): Promise<Competitor> {
  return Promise.any(competitors.map(async (c) => (await c.waitFor(pattern, ms), c)));
}

describe('PostgresStore sender failover across processes', function () {
  this.timeout(60_000);
  let env: Record<string, string>;
  let drop: () => Promise<void>;
  const children: ChildProcess[] = [];

  beforeEach(async () => {
    const fresh = await freshSchema();
    drop = fresh.drop;
    env = { PG_URL: fresh.url, PG_SCHEMA: fresh.schema, AS_ID: 'irc', RETRY_MS: '200' };
    // Migrate before the children start, so that their start-up is only the election.
    const store = new PostgresStore({ connectionString: fresh.url, schema: fresh.schema });
    await store.open();
    await store.close();
  });

  afterEach(async () => {
    for (const child of children.splice(0)) {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await exited;
      }
    }
    await drop?.();
  });

  it('elects one sender, and another takes over within seconds when the holder is SIGKILLed', async () => {
    const competitors = [compete(env), compete(env)];
    children.push(...competitors.map((c) => c.child));
    const holder = await firstOf(competitors, /^acquired/, 20_000);
    const other = competitors.find((c) => c !== holder)!;
    // Give the other one time for several attempts: it must not win while the holder lives.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(
      other.lines.filter((l) => l.startsWith('acquired')),
      'a second sender while the first lives',
    ).to.deep.equal([]);

    const exited = new Promise((resolve) => holder.child.once('exit', resolve));
    holder.child.kill('SIGKILL');
    await exited;
    const killedAt = Date.now();
    await other.waitFor(/^acquired/, 5000);
    const takeoverMs = Date.now() - killedAt;
    expect(takeoverMs).to.be.below(5000);
  });

  it('keeps exactly one sender among three through repeated SIGKILLs', async () => {
    const alive = [compete(env), compete(env), compete(env)];
    children.push(...alive.map((c) => c.child));
    for (let round = 0; round < 3; round++) {
      const holder = await firstOf(alive, /^acquired/, 20_000);
      for (const c of alive) {
        if (c !== holder)
          expect(
            c.lines.some((l) => l.startsWith('acquired')),
            `round ${round}`,
          ).to.equal(false);
      }
      const exited = new Promise((resolve) => holder.child.once('exit', resolve));
      holder.child.kill('SIGKILL');
      await exited;
      alive.splice(alive.indexOf(holder), 1);
      const replacement = compete(env);
      children.push(replacement.child);
      alive.push(replacement);
    }
    await firstOf(alive, /^acquired/, 20_000);
  });
});
