import { expect } from 'chai';
import type { AbortLike } from '../../lib/client/deadline.ts';
import { withRetries } from '../../lib/client/retry-policy.ts';
import { AppserviceRequestError } from '../../lib/errors.ts';
import { gatedAsk } from '../../lib/query/gated-ask.ts';
import { QueryGate, type QueryGateOptions } from '../../lib/query/query-gate.ts';

const gateWith = (options: Partial<QueryGateOptions> = {}): QueryGate =>
  new QueryGate('irc', { concurrency: 8, queueLimit: 1_000, downForMs: 1_000, ...options });

const retry = { minDelayMs: 5, maxDelayMs: 5, random: () => 0 };

/** An AS that never answers: the attempt ends only when its signal fires, as a request would. */
const hung = (signals: AbortLike[]) => (signal: AbortLike) => {
  signals.push(signal);
  return new Promise<boolean>((_, reject) => {
    const onAbort = (): void => reject(new AppserviceRequestError('irc', 'timeout', 'no answer'));
    if (signal.aborted) onAbort();
    else if ('addEventListener' in signal) signal.addEventListener('abort', onAbort, { once: true });
    else signal.once('abort', onAbort);
  });
};

const failure = (promise: Promise<unknown>): Promise<AppserviceRequestError> =>
  promise.then(
    () => {
      throw new Error('did not fail');
    },
    (error: AppserviceRequestError) => error,
  );

describe('gatedAsk: a first attempt straight through a free slot, the retry loop after a failure', () => {
  it('a first attempt that fails falls into the retries: the same answers and attempts as the whole loop through the gate', async () => {
    const script = (): ((signal: AbortLike) => Promise<boolean>) => {
      const answers = [503, 500, 200];
      return async () => {
        const status = answers.shift()!;
        if (status === 200) return true;
        throw new AppserviceRequestError('irc', 'status', `HTTP ${status}`, { status });
      };
    };
    const fast = gateWith();
    let fastCalls = 0;
    const fastAsk = script();
    const viaFastPath = await gatedAsk('irc', fast, (s) => (fastCalls++, fastAsk(s)), 5_000, retry);
    const slow = gateWith();
    let slowCalls = 0;
    const slowAsk = script();
    const viaLoop = await withRetries('irc', (d) => slow.attempt(d, (s) => (slowCalls++, slowAsk(s))), {
      ...retry,
      deadlineMs: 5_000,
    });
    expect(viaFastPath).to.equal(viaLoop).and.equal(true);
    expect(fastCalls).to.equal(slowCalls).and.equal(3);
    expect(fast.load).to.deep.equal({ inFlight: 0, waiting: 0 });
    expect(fast.isDown).to.equal(false);
  });

  it('the retries after a timed-out first attempt get what is left of the same budget, not a new one', async () => {
    const gate = gateWith({ attemptTimeoutMs: 150, failuresToDown: 10 });
    const signals: AbortLike[] = [];
    const started = performance.now();
    const error = await failure(gatedAsk('irc', gate, hung(signals), 300, retry));
    const elapsed = performance.now() - started;
    expect(error.kind).to.equal('timeout');
    // Attempts from 0 and ~155 ms; the second is cut at 300 ms by the overall deadline, and no third
    // starts. A fresh budget for the retries would have run a third attempt, to ~450 ms.
    expect(signals).to.have.length(2);
    expect(elapsed)
      .to.be.at.least(290)
      .and.below(300 + 100);
    expect(gate.load).to.deep.equal({ inFlight: 0, waiting: 0 });
  });

  it('a budget shorter than the attempt timeout bounds the first attempt; no retry is started past it', async () => {
    const gate = gateWith({ attemptTimeoutMs: 5_000 });
    const signals: AbortLike[] = [];
    const started = performance.now();
    const error = await failure(gatedAsk('irc', gate, hung(signals), 50, retry));
    expect(error.kind).to.equal('timeout');
    expect(performance.now() - started).to.be.below(50 + 150);
    expect(signals).to.have.length(1);
  });

  it('a 4xx on the first attempt is an answer: not retried, the AS stays up', async () => {
    const gate = gateWith();
    let calls = 0;
    const error = await failure(
      gatedAsk(
        'irc',
        gate,
        async () => {
          calls++;
          throw new AppserviceRequestError('irc', 'status', 'HTTP 403', { status: 403 });
        },
        5_000,
        retry,
      ),
    );
    expect(error.status).to.equal(403);
    expect(calls).to.equal(1);
    expect(gate.isDown).to.equal(false);
  });

  it('unreachable first attempts count towards marking the AS down, as in the loop', async () => {
    const gate = gateWith({ failuresToDown: 3 });
    let calls = 0;
    const error = await failure(
      gatedAsk(
        'irc',
        gate,
        async () => {
          calls++;
          throw new AppserviceRequestError('irc', 'connection', 'ECONNREFUSED');
        },
        5_000,
        retry,
      ),
    );
    // Three refusals mark it down; the fourth attempt is refused by the gate without asking.
    expect(calls).to.equal(3);
    expect(error.kind).to.equal('down');
    expect(gate.isDown).to.equal(true);
    let asked = false;
    const refused = await failure(gatedAsk('irc', gate, async () => (asked = true), 5_000, retry));
    expect(refused.kind).to.equal('down');
    expect(asked).to.equal(false);
  });

  it('with no free slot the query waits in the gate queue, as before', async () => {
    const gate = gateWith({ concurrency: 1 });
    let release!: (value: boolean) => void;
    const first = gatedAsk('irc', gate, () => new Promise<boolean>((resolve) => (release = resolve)), 5_000, retry);
    const second = gatedAsk('irc', gate, async () => true, 5_000, retry);
    await new Promise((resolve) => setImmediate(resolve));
    expect(gate.load).to.deep.equal({ inFlight: 1, waiting: 1 });
    release(true);
    expect(await Promise.all([first, second])).to.deep.equal([true, true]);
    expect(gate.load).to.deep.equal({ inFlight: 0, waiting: 0 });
  });
  it('attempts sharing the gate timer each end at their own attempt timeout, after the earliest was answered in time', async () => {
    const gate = gateWith({ concurrency: 6, attemptTimeoutMs: 100, failuresToDown: 100 });
    const spans: { asked: number; ended: number }[] = [];
    // Each hung attempt records when it was asked and when its signal ended it.
    const timed = (signal: AbortLike): Promise<boolean> => {
      const span = { asked: performance.now(), ended: 0 };
      spans.push(span);
      return hung([])(signal).finally(() => (span.ended = performance.now()));
    };
    const once = { ...retry, maxAttempts: 1 };
    // The first is armed for earliest and answers in time; then five hung first attempts straight
    // through free slots, staggered, and four more that wait in the queue for a slot.
    const answered = gatedAsk(
      'irc',
      gate,
      () => new Promise<boolean>((resolve) => setTimeout(resolve, 20, true)),
      5_000,
      once,
    );
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < 9; i++) {
      calls.push(failure(gatedAsk('irc', gate, timed, 5_000, once)));
      await new Promise((resolve) => setTimeout(resolve, 7));
    }
    expect(await answered).to.equal(true);
    const errors = (await Promise.all(calls)) as AppserviceRequestError[];
    expect(errors.map((error) => error.kind)).to.deep.equal(Array(9).fill('timeout'));
    expect(spans).to.have.length(9);
    for (const { asked, ended } of spans) {
      expect(ended - asked)
        .to.be.at.least(99)
        .and.below(100 + 100);
    }
    expect(gate.load).to.deep.equal({ inFlight: 0, waiting: 0 });
  });
});
