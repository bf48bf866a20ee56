import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { PostgresStore } from '../../lib/store/postgres/postgres-store.ts';
import { MockAppService } from '../../lib/testing/mock-appservice.ts';
import { freshSchema } from '../support/postgres-server.ts';

const CHILD = fileURLToPath(new URL('../support/postgres-publish-child.ts', import.meta.url));
const COUNT = 120;

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
    await sleep(20);
  }
}

describe('PostgresStore: several homeserver processes, senders SIGKILLed', function () {
  this.timeout(120_000);
  const procs: Proc[] = [];
  const mocks: MockAppService[] = [];
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
    await Promise.all(mocks.splice(0).map((m) => m.close()));
    await drop?.();
  });

  it('delivers every published event to each AS exactly once, in publish order, with one body per txnId', async () => {
    const fresh = await freshSchema();
    drop = fresh.drop;
    const setup = new PostgresStore({ connectionString: fresh.url, schema: fresh.schema });
    await setup.open(); // migrate once up front; the processes then only compete
    await setup.close();
    for (const id of ['irc', 'slack']) mocks.push(await MockAppService.start({ hsToken: `hs-token-${id}` }));
    const appservices = JSON.stringify(mocks.map((m, i) => ({ id: ['irc', 'slack'][i], url: m.url })));

    const start = (name: string): Proc => {
      const child = spawn(process.execPath, ['--import', 'tsx', CHILD], {
        env: {
          ...process.env,
          PG_URL: fresh.url,
          PG_SCHEMA: fresh.schema,
          PROC: name,
          COUNT: String(COUNT),
          INTERVAL_MS: '15',
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
    const stateOf = (p: Proc, asId: string) =>
      p.lines
        .filter((l) => l.startsWith(`state ${asId} `))
        .at(-1)
        ?.split(' ')[2];
    const senderOf = (asId: string) =>
      procs.find((p) => alive(p) && ['sending', 'idle', 'backoff'].includes(stateOf(p, asId) ?? ''));

    for (let i = 0; i < 3; i++) start(`p${i}`);
    // Kill the current sender of irc three times (and of slack once) while everyone publishes.
    const killed: string[] = [];
    for (let round = 0; round < 4; round++) {
      const asId = round === 2 ? 'slack' : 'irc';
      await until(`a sender for ${asId}`, 20_000, () => senderOf(asId) !== undefined);
      await sleep(300);
      const victim = senderOf(asId);
      if (!victim) continue;
      const exited = new Promise((resolve) => victim.child.once('exit', resolve));
      victim.child.kill('SIGKILL');
      await exited;
      killed.push(victim.name);
      start(`p${3 + round}`);
    }
    expect(killed).to.have.length.at.least(3);

    const survivors = procs.filter(alive);
    await until('the survivors to finish publishing', 60_000, () => survivors.every((p) => p.lines.includes('done')));
    const confirmed = procs.reduce((n, p) => n + p.published + 1, 0);
    expect(confirmed, 'events whose publish resolved').to.be.greaterThan(3 * COUNT);
    for (const [i, mock] of mocks.entries()) {
      await until(
        `${['irc', 'slack'][i]} to receive every confirmed event`,
        30_000,
        () => mock.events.length >= confirmed,
      );
    }
    // Let stragglers (resends, unconfirmed events of killed processes) arrive before judging.
    await sleep(500);

    for (const [i, mock] of mocks.entries()) {
      const asId = ['irc', 'slack'][i]!;
      expect(mock.conflicts, `${asId}: txnIds sent with two different bodies`).to.deep.equal([]);
      const seen = new Map<string, number[]>();
      for (const event of mock.events as { content: { proc: string; n: number } }[]) {
        const list = seen.get(event.content.proc) ?? [];
        list.push(event.content.n);
        seen.set(event.content.proc, list);
      }
      for (const p of procs) {
        const got = seen.get(p.name) ?? [];
        // Exactly once and in publish order: 0, 1, 2, ... with no gap and no repeat. Events whose
        // publish never resolved (the process died mid-enqueue) may follow the confirmed ones.
        expect(got.slice(0, p.published + 1), `${asId}: events of ${p.name}`).to.deep.equal(
          Array.from({ length: p.published + 1 }, (_, n) => n),
        );
        expect(got.length - (p.published + 1), `${asId}: extra events of ${p.name}`).to.be.within(0, alive(p) ? 0 : 1);
        if (got.length > p.published + 1) expect(got.at(-1)).to.equal(p.published + 1);
      }
    }
  });
});
