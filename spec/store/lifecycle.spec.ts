import { expect } from 'chai';
import { StoreError } from '../../lib/errors.ts';
import { StoreLifecycle } from '../../lib/store/lifecycle.ts';
import { rejection } from '../support/rejection.ts';

describe('StoreLifecycle', () => {
  it('opens once for concurrent callers, and lets a failed open be retried', async () => {
    const life = new StoreLifecycle('test store');
    let calls = 0;
    const fail = life.open(async () => {
      calls++;
      throw new Error('server down');
    });
    expect((await rejection(fail)).message).to.equal('server down');
    expect(life.isOpen).to.equal(false);
    await Promise.all([life.open(async () => void calls++), life.open(async () => void calls++)]);
    expect(calls).to.equal(2);
    expect(life.isOpen).to.equal(true);
    await life.open(() => expect.fail('already open'));
  });

  it('names the store in the StoreError of an operation before open and after close', async () => {
    const life = new StoreLifecycle('test store x.db');
    expect(() => life.assertOpen()).to.throw(StoreError, 'test store x.db: call open() first');
    await life.open(() => {});
    life.assertOpen();
    await life.close(() => {});
    expect(() => life.assertOpen()).to.throw(StoreError, 'test store x.db: the store is closed');
    expect(await rejection(life.open(() => {})))
      .to.be.instanceOf(StoreError)
      .with.property('message')
      .that.contains('cannot reopen');
  });

  it('tears down once, telling whether the store had opened, and waits for an open still running', async () => {
    const life = new StoreLifecycle('test store');
    const seen: boolean[] = [];
    let finishOpen!: () => void;
    const opening = life.open(() => new Promise<void>((resolve) => (finishOpen = resolve)));
    const closing = Promise.all([
      life.close((wasOpen) => void seen.push(wasOpen)),
      life.close(() => void seen.push(true)),
    ]);
    let teardownRan = seen.length > 0;
    await new Promise((r) => setImmediate(r));
    teardownRan ||= seen.length > 0;
    expect(teardownRan, 'teardown waits for the open').to.equal(false);
    finishOpen();
    await opening;
    await closing;
    expect(seen).to.deep.equal([false]);
    expect(life.isOpen).to.equal(false);
  });
});
