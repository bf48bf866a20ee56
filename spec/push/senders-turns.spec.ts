import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { Sender } from '../../lib/push/sender.ts';
import { CREATES_PER_TURN, Senders } from '../../lib/push/senders.ts';
import { TurnBudget } from '../../lib/push/turn-budget.ts';
import { SqliteStore } from '../../lib/store/sqlite/sqlite-store.ts';
import { registration } from './registrations.ts';

/** Counts turns of the event loop while it runs. */
function turnCounter(): { readonly now: () => number; stop(): void } {
  let turn = 0;
  let running = true;
  const tick = (): void => {
    turn++;
    if (running) setImmediate(tick);
  };
  setImmediate(tick);
  return { now: () => turn, stop: () => (running = false) };
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('Senders: transactions created per turn of the event loop', function () {
  this.timeout(20_000);
  let dir: string;
  let store: SqliteStore;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'koa-appservice-turns-'));
    store = new SqliteStore(join(dir, 'q.db'));
    await store.open();
  });

  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('with many ASes busy at once, spreads their transactions over turns instead of one turn for all', async () => {
    const MANY = 5 * CREATES_PER_TURN;
    const regs = Array.from({ length: MANY }, (_, i) => registration(`as${i}`));
    const turns = turnCounter();
    const sentIn = new Map<number, number>();
    const senders = new Senders({
      registrations: regs,
      store,
      send: async () => void sentIn.set(turns.now(), (sentIn.get(turns.now()) ?? 0) + 1),
    });
    senders.start();
    await store.enqueue(
      regs.map((r) => ({ kind: 'event' as const, json: '{"type":"m.room.message"}', asIds: [r.id] })),
    );
    senders.notify(regs.map((r) => r.id));
    await until(() => [...sentIn.values()].reduce((a, b) => a + b, 0) === MANY, 'every AS to get its transaction');
    await senders.stop();
    turns.stop();
    // At most a budget of creations starts per turn; SqliteStore commits a turn's writes at the
    // next setImmediate, where those of the next budget may join them: two budgets at most per turn.
    expect(Math.max(...sentIn.values())).to.be.at.most(2 * CREATES_PER_TURN + 1);
    expect(sentIn.size).to.be.at.least(MANY / (2 * CREATES_PER_TURN + 1));
    for (const reg of regs) expect((await store.backlog(reg.id)).size, reg.id).to.equal(0);
  });

  it('sends a single AS its first event in the turn it was notified, with no timer and no later turn', async () => {
    const regs = [registration('only')];
    const turns = turnCounter();
    let sentInTurn = -1;
    const senders = new Senders({ registrations: regs, store, send: async () => void (sentInTurn = turns.now()) });
    senders.start();
    await until(() => senders.get('only')!.state === 'idle', 'the sender to go idle');
    await store.enqueue([{ kind: 'event', json: '{}', asIds: ['only'] }]);
    const notifiedIn = turns.now();
    senders.notify(['only']);
    await until(() => sentInTurn >= 0, 'the send');
    await senders.stop();
    turns.stop();
    expect(sentInTurn).to.equal(notifiedIn);
  });

  it('keeps a sender waiting for the budget in its place when it is notified again meanwhile', async () => {
    const budget = new TurnBudget(1);
    const turns = turnCounter();
    let sentInTurn = -1;
    const sender = new Sender({
      registration: registration('late'),
      store,
      send: async () => void (sentInTurn = turns.now()),
      budget,
    });
    sender.start();
    await until(() => sender.state === 'idle', 'the sender to go idle');
    await store.enqueue([{ kind: 'event', json: '{}', asIds: ['late'] }]);
    const notifiedIn = turns.now();
    expect(budget.take(() => {})).to.equal(true); // another sender spends this turn's budget
    sender.notify();
    for (let i = 0; i < 50; i++) await Promise.resolve(); // the sender now waits for a later turn
    sender.notify();
    await until(() => sentInTurn >= 0, 'the send');
    await sender.stop();
    turns.stop();
    expect(turns.now()).to.be.greaterThan(notifiedIn);
    expect(sentInTurn).to.be.greaterThan(notifiedIn);
  });
});
