import { expect } from 'chai';
import { OptionsError } from '../../lib/errors.ts';
import { Backoff } from '../../lib/push/backoff.ts';

describe('Backoff', () => {
  it('defaults to 1 s doubling up to 60 s', () => {
    const b = new Backoff();
    const delays = Array.from({ length: 9 }, () => b.fail());
    expect(delays).to.deep.equal([1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000]);
    expect(b.up).to.equal(false);
    expect(b.failures).to.equal(9);
  });

  it('starts again from initialMs after a success or a reset', () => {
    const b = new Backoff({ initialMs: 10, maxMs: 100 });
    b.fail();
    b.fail();
    b.succeed();
    expect(b.up).to.equal(true);
    expect(b.fail()).to.equal(10);
    b.fail();
    b.reset();
    expect(b.fail()).to.equal(10);
  });

  it('stays finite after very many failures', () => {
    const b = new Backoff({ initialMs: 5, maxMs: 50 });
    let last = 0;
    for (let i = 0; i < 5000; i++) last = b.fail();
    expect(last).to.equal(50);
  });

  it('refuses a max below the initial delay or a negative delay', () => {
    expect(() => new Backoff({ initialMs: 100, maxMs: 10 })).to.throw(OptionsError, /maxMs/);
    expect(() => new Backoff({ initialMs: -1 })).to.throw(OptionsError, /initialMs/);
  });

  it('waits what the AS asked for (Retry-After) when that is longer, never more than maxMs', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 1_000 });
    expect(b.fail(50)).to.equal(100);
    expect(b.fail(700)).to.equal(700);
    expect(b.fail(5_000)).to.equal(1_000);
    expect(b.fail(undefined)).to.equal(800);
  });
});
