import { expect } from 'chai';
import { TurnBudget } from '../../lib/push/turn-budget.ts';

const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('TurnBudget', () => {
  it('lets the first ones of a turn go at once and resumes the others in later turns, in order, a budget a turn', async () => {
    const budget = new TurnBudget(3);
    const resumed: number[][] = [[]];
    const at = (i: number) => () => resumed[resumed.length - 1]!.push(i);
    const now = Array.from({ length: 8 }, (_, i) => budget.take(at(i)));
    expect(now).to.deep.equal([true, true, true, false, false, false, false, false]);
    for (let turn = 0; turn < 4; turn++) {
      resumed.push([]);
      await nextTurn();
    }
    // Resumed in the turns after: 3, then 2, each turn's budget spent on those waiting longest.
    expect(resumed.filter((r) => r.length > 0)).to.deep.equal([
      [3, 4, 5],
      [6, 7],
    ]);
  });

  it('gives a full budget again in the next turn when nobody waits', async () => {
    const budget = new TurnBudget(2);
    expect([budget.take(() => {}), budget.take(() => {})]).to.deep.equal([true, true]);
    await nextTurn();
    expect([budget.take(() => {}), budget.take(() => {})]).to.deep.equal([true, true]);
  });

  it('makes a newcomer wait behind those already waiting, even when the new turn has room', async () => {
    const budget = new TurnBudget(2);
    const order: string[] = [];
    budget.take(() => {});
    budget.take(() => {});
    budget.take(() => order.push('a'));
    expect(budget.take(() => order.push('b'))).to.equal(false);
    await nextTurn();
    expect(order).to.deep.equal(['a', 'b']);
  });
});
