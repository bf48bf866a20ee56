/**
 * Nothing is lost and nothing is doubled when the homeserver dies: a child process (crash/child.ts)
 * publishes 100k events into a SqliteStore and sends them to a MockAppService run here; it is
 * SIGKILLed at random moments, at least 10 times, and restarted on the same database. At the end
 * the AS has every event exactly once after dedup by txnId, in publish order, and no txnId ever
 * came with two different bodies.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MockAppService } from '../../lib/testing/mock-appservice.ts';

const CHILD = fileURLToPath(new URL('./crash/child.ts', import.meta.url));
const TOTAL = 100_000;
const KILLS = 12;
/** The whole spec stays under about two minutes even on a slow machine. */
const BUDGET_MS = 110_000;

interface Run {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly ready: Promise<number>;
  readonly stderr: () => string;
  done: boolean;
}

function launch(db: string, url: string, highestReceived: number): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, db, url, String(TOTAL), String(highestReceived)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const run: Run = {
    child,
    exited,
    stderr: () => err,
    done: false,
    ready: new Promise<number>((resolve, reject) => {
      child.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const m = /ready (\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
        if (out.includes('done\n')) run.done = true;
      });
      void exited.then(({ code, signal }) =>
        reject(new Error(`child exited (${code ?? signal}) before ready: ${err}`)),
      );
    }),
  };
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
  return run;
}

function lastIndex(events: readonly unknown[]): number {
  const last = events.at(-1) as { content: { index: number } } | undefined;
  return last === undefined ? -1 : last.content.index;
}

describe('push survives SIGKILL (crash test)', function () {
  this.timeout(BUDGET_MS + 10_000);
  let mock: MockAppService;
  let dir: string;
  let current: Run | null = null;

  before(async () => {
    mock = await MockAppService.start({ hsToken: 'hs-token-crash' });
    dir = await mkdtemp(join(tmpdir(), 'koa-appservice-crash-'));
  });

  after(async () => {
    if (current && current.child.exitCode === null && current.child.signalCode === null) {
      current.child.kill('SIGKILL');
      await current.exited;
    }
    await mock.close();
    await rm(dir, { recursive: true, force: true });
  });

  it(`delivers ${TOTAL} events exactly once, in order, across at least ${KILLS} kills`, async () => {
    const db = join(dir, 'push.db');
    const deadline = Date.now() + BUDGET_MS;
    const resumedAt: number[] = [];
    let kills = 0;
    for (let attempt = 0; ; attempt++) {
      expect(Date.now(), 'time budget').to.be.below(deadline);
      expect(attempt, 'restarts').to.be.below(KILLS * 3);
      const run = launch(db, mock.url, lastIndex(mock.events));
      current = run;
      const next = await run.ready;
      // Progress never goes back: what was committed stays committed.
      if (resumedAt.length > 0) expect(next).to.be.at.least(resumedAt.at(-1)!);
      resumedAt.push(next);
      if (kills < KILLS) {
        // Random moments: while publishing, in a commit, mid-send, between send and acknowledgement.
        await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 250)));
        if (run.child.exitCode === null && !run.done) {
          run.child.kill('SIGKILL');
          const { signal } = await run.exited;
          expect(signal).to.equal('SIGKILL');
          kills++;
          continue;
        }
      }
      const { code } = await Promise.race([
        run.exited,
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error('final run did not finish')), Math.max(1, deadline - Date.now())),
        ),
      ]);
      expect(code, run.stderr()).to.equal(0);
      if (kills >= KILLS) break;
    }

    expect(kills).to.be.at.least(KILLS);
    expect(mock.conflicts, 'txnIds received with two bodies').to.deep.equal([]);
    expect(mock.events.length).to.equal(TOTAL);
    const indexes = mock.events.map((e) => (e as { content: { index: number } }).content.index);
    const misplaced = indexes.findIndex((index, i) => index !== i);
    expect(misplaced, `first event out of place (resumed at ${resumedAt.join(', ')})`).to.equal(-1);
    // Transaction ids were never reused: every id was seen once, and they increase.
    const ids = [...mock.transactions.keys()].map(Number);
    expect(ids).to.deep.equal([...ids].sort((a, b) => a - b));
  });
});
