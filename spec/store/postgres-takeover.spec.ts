/**
 * Takeovers under slow commits: several "homeserver processes" (spec/support/postgres-publish-child.ts)
 * publish to one AS while the current sender is SIGKILLed again and again. Every write of a
 * transaction row sleeps 50 ms at COMMIT (a deferred constraint trigger), as on a busy or remote
 * database, so kills land while commits are in flight: a dead sender's late commit must neither
 * stall the new sender nor make it send acknowledged events again. Judged at the AS: every
 * confirmed event exactly once, in publish order; no event under two txnIds; no txnId with two
 * bodies. Prints the takeover times (SIGKILL to the next sender sending) it measured.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { PostgresStore } from '../../lib/store/postgres/postgres-store.ts';
import { MockAppService } from '../../lib/testing/mock-appservice.ts';
import { freshSchema } from '../support/postgres-server.ts';

const CHILD = fileURLToPath(new URL('../support/postgres-publish-child.ts', import.meta.url));
const TAKEOVERS = 20;
const COUNT = 150;

interface Proc {
  readonly name: string;
  readonly child: ChildProcess;
  readonly lines: string[];
  /** Highest n whose publish resolved, -1 before the first. */
  published: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what: string, ms: number, check: () => boolean): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

describe('PostgresStore: takeovers while commits are slow', function () {
  this.timeout(180_000);
  const procs: Proc[] = [];
  let mock: MockAppService | undefined;
  let drop: (() => Promise<void>) | undefined;

  afterEach(async () => {
    await Promise.all(
      procs.splice(0).map(async ({ child }) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await exited;
      }),
    );
    await mock?.close();
    await drop?.();
  });

  it(`loses nothing and sends nothing twice under two ids across ${TAKEOVERS} SIGKILLed senders`, async () => {
    const fresh = await freshSchema();
    drop = fresh.drop;
    const setup = new PostgresStore({ connectionString: fresh.url, schema: fresh.schema });
    await setup.open();
    await setup.close();
    const admin = new pg.Client({ connectionString: fresh.url });
    await admin.connect();
    try {
      await admin.query(`
        CREATE FUNCTION "${fresh.schema}".slow_commit() RETURNS trigger LANGUAGE plpgsql AS
          $$ BEGIN PERFORM pg_sleep(0.05); RETURN NULL; END $$;
        CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT OR DELETE ON "${fresh.schema}".transactions
          DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION "${fresh.schema}".slow_commit();`);
    } finally {
      await admin.end();
    }
    mock = await MockAppService.start({ hsToken: 'hs-token-irc' });
    const appservices = JSON.stringify([{ id: 'irc', url: mock.url }]);

    const start = (name: string): Proc => {
      const child = spawn(process.execPath, ['--import', 'tsx', CHILD], {
        env: {
          ...process.env,
          PG_URL: fresh.url,
          PG_SCHEMA: fresh.schema,
          PROC: name,
          COUNT: String(COUNT),
          INTERVAL_MS: '10',
          APPSERVICES: appservices,
        },
        stdio: ['pipe', 'pipe', 'inherit'],
      });
      const proc: Proc = { name, child, lines: [], published: -1 };
      let rest = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        const parts = (rest + chunk.toString()).split('\n');
        rest = parts.pop()!;
        for (const line of parts) {
          proc.lines.push(line);
          const m = /^published (\d+)$/.exec(line);
          if (m) proc.published = Number(m[1]);
        }
      });
      procs.push(proc);
      return proc;
    };
    const alive = (p: Proc) => p.child.exitCode === null && p.child.signalCode === null;
    const state = (p: Proc) =>
      p.lines
        .filter((l) => l.startsWith('state irc '))
        .at(-1)
        ?.split(' ')[2];
    const sender = () => procs.find((p) => alive(p) && ['sending', 'idle', 'backoff'].includes(state(p) ?? ''));

    for (let i = 0; i < 6; i++) start(`p${i}`);
    const takeoverMs: number[] = [];
    for (let round = 0; round < TAKEOVERS; round++) {
      await until('a sender for irc', 30_000, () => sender() !== undefined);
      // Let it send and commit for a moment, so that the kill lands among its writes.
      await sleep(150 + (round % 4) * 40);
      const victim = sender()!;
      const exited = new Promise((resolve) => victim.child.once('exit', resolve));
      victim.child.kill('SIGKILL');
      const killedAt = Date.now();
      await exited;
      start(`p${6 + round}`);
      await until(`a sender after takeover ${round + 1}`, 30_000, () => sender() !== undefined);
      takeoverMs.push(Date.now() - killedAt);
    }
    const sorted = [...takeoverMs].sort((a, b) => a - b);
    console.log(
      `      takeovers: ${TAKEOVERS}, SIGKILL to next sender p50 ${sorted[sorted.length >> 1]} ms, max ${sorted.at(-1)} ms`,
    );

    const survivors = procs.filter(alive);
    await until('the survivors to finish publishing', 60_000, () => survivors.every((p) => p.lines.includes('done')));
    // Each process's confirmed events, by content: a count could be made up by the unconfirmed last
    // events of killed processes, which may arrive too, while a survivor's last ones are still on their way.
    const received = (): Set<string> =>
      new Set(
        (mock!.events as { content: { proc: string; n: number } }[]).map((e) => `${e.content.proc}/${e.content.n}`),
      );
    const allConfirmedIn = (got: Set<string>): boolean =>
      procs.every((p) =>
        Array.from({ length: p.published + 1 }, (_, n) => `${p.name}/${n}`).every((key) => got.has(key)),
      );
    await until('irc to receive every confirmed event', 60_000, () => allConfirmedIn(received()));
    await sleep(500); // resends and the unconfirmed last events of killed processes

    expect(mock.conflicts, 'txnIds with two bodies').to.deep.equal([]);
    const idsOf = new Map<string, Set<string>>();
    for (const [txnId, body] of mock.transactions) {
      for (const event of (body.events ?? []) as { content: { proc: string; n: number } }[]) {
        const key = `${event.content.proc}/${event.content.n}`;
        idsOf.set(key, (idsOf.get(key) ?? new Set()).add(txnId));
      }
    }
    const twice = [...idsOf].filter(([, ids]) => ids.size > 1).map(([key, ids]) => `${key}: ${[...ids].join(', ')}`);
    expect(twice, 'events delivered under two txnIds').to.deep.equal([]);
    let lost = 0;
    for (const p of procs) {
      const got = (mock.events as { content: { proc: string; n: number } }[])
        .filter((e) => e.content.proc === p.name)
        .map((e) => e.content.n);
      lost += Math.max(0, p.published + 1 - new Set(got).size);
      expect(got.slice(0, p.published + 1), `events of ${p.name}, in order`).to.deep.equal(
        Array.from({ length: p.published + 1 }, (_, n) => n),
      );
    }
    expect(lost, 'confirmed events lost').to.equal(0);
  });
});
