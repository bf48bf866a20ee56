import { expect } from 'chai';
import { Deadline, raceDeadline } from '../../lib/client/deadline.ts';

describe('Deadline', () => {
  it('aborts at the deadline with a TimeoutError, once', async () => {
    const deadline = new Deadline(30);
    let fired = 0;
    deadline.on('abort', () => fired++);
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(deadline.aborted).to.equal(true);
    expect(deadline.timedOut).to.equal(true);
    expect((deadline.reason as Error).name).to.equal('TimeoutError');
    deadline.abort(new Error('again'));
    expect(fired).to.equal(1);
    expect(() => deadline.throwIfAborted()).to.throw('no answer within 30 ms');
    deadline.dispose();
  });

  it('follows its parent signal, before or after it is created', () => {
    const early = new AbortController();
    early.abort(new Error('gone'));
    const a = new Deadline(10_000, early.signal);
    expect(a.aborted).to.equal(true);
    expect(a.timedOut).to.equal(false);
    a.dispose();
    const late = new AbortController();
    const b = new Deadline(10_000, late.signal);
    expect(b.aborted).to.equal(false);
    late.abort(new Error('later'));
    expect(b.aborted).to.equal(true);
    expect((b.reason as Error).message).to.equal('later');
    b.dispose();
  });

  it('dispose() stops the timer and lets go of the parent', async () => {
    const parent = new AbortController();
    const deadline = new Deadline(20, parent.signal);
    deadline.dispose();
    parent.abort();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(deadline.aborted).to.equal(false);
  });
});

describe('Deadline.govern', () => {
  const recorder = () => {
    const reasons: unknown[] = [];
    return { reasons, deadlineAborted: (reason: unknown) => reasons.push(reason) };
  };

  it('tells the governed request once, before the listeners, on timeout or parent abort', async () => {
    const order: string[] = [];
    const request = recorder();
    const deadline = new Deadline(20);
    deadline.govern({ deadlineAborted: (reason) => (order.push('request'), request.deadlineAborted(reason)) });
    deadline.once('abort', () => order.push('listener'));
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(order).to.deep.equal(['request', 'listener']);
    expect((request.reasons[0] as DOMException).name).to.equal('TimeoutError');
    expect(deadline.timedOut).to.equal(true);
    const parent = new AbortController();
    const child = new Deadline(10_000, parent.signal);
    const other = recorder();
    child.govern(other);
    parent.abort(new Error('gone'));
    child.abort(new Error('again'));
    expect(other.reasons.map((r) => (r as Error).message)).to.deep.equal(['gone']);
    child.dispose();
  });

  it('tells every request made under one deadline, not only the last governed', () => {
    const first = recorder();
    const second = recorder();
    const third = recorder();
    const deadline = new Deadline(10_000);
    deadline.govern(first);
    deadline.govern(second);
    deadline.govern(third);
    deadline.release(third);
    deadline.abort(new Error('late'));
    expect(first.reasons.map((r) => (r as Error).message)).to.deep.equal(['late']);
    expect(second.reasons.map((r) => (r as Error).message)).to.deep.equal(['late']);
    expect(third.reasons).to.deep.equal([]);
    deadline.dispose();
  });

  it('a released request or a disposed deadline tells no one', async () => {
    const released = recorder();
    const deadline = new Deadline(10);
    deadline.govern(released);
    deadline.release(released);
    const disposed = recorder();
    const other = new Deadline(10);
    other.govern(disposed);
    other.dispose();
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(released.reasons).to.deep.equal([]);
    expect(disposed.reasons).to.deep.equal([]);
    expect(deadline.aborted).to.equal(true);
  });
});

describe('raceDeadline', () => {
  const never = new Promise<string>(() => {});

  it('settles like the work when it is first', async () => {
    expect(await raceDeadline(Promise.resolve('ok'), 1000, undefined)).to.equal('ok');
    const error = await raceDeadline(Promise.reject(new Error('bad')), 1000, undefined).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(Error).with.property('message', 'bad');
  });

  it('gives undefined at the deadline or on abort, whichever first', async () => {
    const started = performance.now();
    expect(await raceDeadline(never, 50, undefined)).to.equal(undefined);
    expect(performance.now() - started).to.be.below(50 + 200);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 20);
    expect(await raceDeadline(never, 10_000, controller.signal)).to.equal(undefined);
    expect(await raceDeadline(never, 10_000, controller.signal)).to.equal(undefined);
  });
});
