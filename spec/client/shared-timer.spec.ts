import { expect } from 'chai';
import { Deadline } from '../../lib/client/deadline.ts';
import { SharedTimer } from '../../lib/client/shared-timer.ts';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves with when (a `performance.now()`) `deadline` timed out. */
const timedOutAt = (deadline: Deadline): Promise<number> =>
  new Promise((resolve) => deadline.once('abort', () => resolve(performance.now())));

describe('SharedTimer: one timer for many deadlines', () => {
  it('times out each of many deadlines at its own budget, not before, the earliest included', async () => {
    const timers = new SharedTimer();
    const started = performance.now();
    const budgets = [120, 40, 80, 40, 160, 60, 100, 140];
    const deadlines = budgets.map((ms) => new Deadline(ms, undefined, timers));
    const ends = await Promise.all(deadlines.map(timedOutAt));
    budgets.forEach((ms, i) => {
      expect(deadlines[i]!.timedOut).to.equal(true);
      expect((deadlines[i]!.reason as Error).name).to.equal('TimeoutError');
      expect(ends[i]! - started)
        .to.be.at.least(ms - 1)
        .and.below(ms + 100);
    });
    expect(timers.size).to.equal(0);
  });

  it('when the earliest deadline ends first, the later ones still time out at their own budget', async () => {
    const timers = new SharedTimer();
    const started = performance.now();
    const earliest = new Deadline(30, undefined, timers);
    const later = [80, 120].map((ms) => new Deadline(ms, undefined, timers));
    const ends = later.map(timedOutAt);
    await sleep(5);
    earliest.dispose(); // answered in time: the shared timer was armed for it
    expect((await ends[0]!) - started)
      .to.be.at.least(79)
      .and.below(80 + 100);
    expect((await ends[1]!) - started)
      .to.be.at.least(119)
      .and.below(120 + 100);
    expect(earliest.aborted).to.equal(false);
  });

  it('a deadline due sooner than the one the timer is armed for fires at its own time', async () => {
    const timers = new SharedTimer();
    const started = performance.now();
    const long = new Deadline(2_000, undefined, timers);
    const short = new Deadline(40, undefined, timers);
    expect((await timedOutAt(short)) - started)
      .to.be.at.least(39)
      .and.below(40 + 100);
    expect(long.aborted).to.equal(false);
    long.dispose();
    expect(timers.size).to.equal(0);
  });

  it('a deadline ended by its parent or disposed is forgotten and never timed out', async () => {
    const timers = new SharedTimer();
    const parent = new AbortController();
    const child = new Deadline(30, parent.signal, timers);
    const disposed = new Deadline(30, undefined, timers);
    disposed.dispose();
    parent.abort(new Error('caller left'));
    expect(child.aborted).to.equal(true);
    expect(timers.size).to.equal(0);
    await sleep(60);
    expect(child.timedOut).to.equal(false);
    expect(disposed.aborted).to.equal(false);
    child.dispose();
  });

  it('a deadline ended by an abort handler in the same walk is not timed out', async () => {
    const timers = new SharedTimer();
    const first = new Deadline(20, undefined, timers);
    const second = new Deadline(20, undefined, timers);
    first.once('abort', () => second.dispose()); // the first one's failure ends the second's work
    const parent = new Deadline(20, undefined, timers);
    const child = new Deadline(20, parent, timers); // an attempt under the caller's deadline
    await sleep(80);
    expect(first.timedOut).to.equal(true);
    expect({ aborted: second.aborted, timedOut: second.timedOut }).to.deep.equal({ aborted: false, timedOut: false });
    expect(parent.timedOut).to.equal(true);
    expect({ aborted: child.aborted, timedOut: child.timedOut }, 'ended by its parent').to.deep.equal({
      aborted: true,
      timedOut: false,
    });
    expect(timers.size).to.equal(0);
  });

  it('a throwing abort listener leaves the other deadlines timed, due and later', async () => {
    const timers = new SharedTimer();
    const thrower = new Deadline(20, undefined, timers);
    const due = new Deadline(20, undefined, timers);
    const later = new Deadline(40, undefined, timers);
    thrower.once('abort', () => {
      throw new Error('a listener bug');
    });
    const mocha = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    const thrown: unknown[] = [];
    process.on('uncaughtException', (error) => thrown.push(error));
    try {
      await sleep(120);
    } finally {
      process.removeAllListeners('uncaughtException');
      for (const listener of mocha) process.on('uncaughtException', listener);
    }
    expect(thrown).to.have.length(1);
    expect({ due: due.timedOut, later: later.timedOut, held: timers.size }).to.deep.equal({
      due: true,
      later: true,
      held: 0,
    });
  });

  it('waits for a deadline further away than a Node timer can, without firing meanwhile', async () => {
    let fired = 0;
    class Counting extends SharedTimer {
      override expire(): void {
        fired++;
        super.expire();
      }
    }
    const timers = new Counting();
    const far = new Deadline(30 * 24 * 3600 * 1000, undefined, timers); // 30 days: past 2^31 - 1 ms
    await sleep(50);
    expect({ fired, aborted: far.aborted }).to.deep.equal({ fired: 0, aborted: false });
    far.dispose();
  });
});
