import { expect } from 'chai';
import { AppserviceRequestError } from '../../lib/errors.ts';
import { isRetryable, parseRetryAfter, retryDelayMs, withRetries } from '../../lib/client/retry-policy.ts';

const statusError = (status: number, retryAfterMs?: number): AppserviceRequestError =>
  new AppserviceRequestError(
    'irc',
    'status',
    `HTTP ${status}`,
    retryAfterMs === undefined ? { status } : { status, retryAfterMs },
  );

describe('retry-policy', () => {
  describe('isRetryable', () => {
    it('retries network errors, timeouts, 5xx and 429', () => {
      expect(isRetryable(new AppserviceRequestError('irc', 'connection', 'refused'))).to.equal(true);
      expect(isRetryable(new AppserviceRequestError('irc', 'timeout', 'slow'))).to.equal(true);
      for (const status of [500, 502, 503, 504, 429])
        expect(isRetryable(statusError(status)), String(status)).to.equal(true);
    });

    it('never retries other 4xx, bad bodies, a missing url or foreign errors', () => {
      for (const status of [400, 401, 403, 404, 405, 408, 409, 418])
        expect(isRetryable(statusError(status)), String(status)).to.equal(false);
      expect(isRetryable(new AppserviceRequestError('irc', 'body', 'garbage'))).to.equal(false);
      expect(isRetryable(new AppserviceRequestError('irc', 'url-not-set', 'no url'))).to.equal(false);
      expect(isRetryable(new TypeError('bug'))).to.equal(false);
    });
  });

  describe('retryDelayMs', () => {
    it('doubles from minDelayMs with jitter above it, capped at maxDelayMs', () => {
      const low = { minDelayMs: 100, maxDelayMs: 1000, random: () => 0 };
      const high = { ...low, random: () => 0.999999 };
      expect([1, 2, 3, 4, 5].map((n) => retryDelayMs(n, new Error('x'), low))).to.deep.equal([
        100, 200, 400, 800, 1000,
      ]);
      expect([1, 2, 3, 4, 5].map((n) => retryDelayMs(n, new Error('x'), high))).to.deep.equal([
        150, 300, 600, 1000, 1000,
      ]);
    });

    it('uses what the AS asked for when it is longer, even beyond maxDelayMs', () => {
      expect(retryDelayMs(1, statusError(429, 7000), { maxDelayMs: 1000 })).to.equal(7000);
    });

    it('never waits less than the backoff, whatever the AS asked for: Retry-After 0 is not "hammer"', () => {
      const random = () => 0;
      expect([1, 2, 3, 4].map((n) => retryDelayMs(n, statusError(429, 0), { random }))).to.deep.equal([
        100, 200, 400, 800,
      ]);
      expect(retryDelayMs(1, statusError(503, 30), { minDelayMs: 100, random })).to.equal(100);
    });
  });

  describe('parseRetryAfter', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    it('reads delta-seconds', () => {
      expect(parseRetryAfter('3', now)).to.equal(3000);
      expect(parseRetryAfter(' 0 ', now)).to.equal(0);
      expect(parseRetryAfter(['5', '9'], now)).to.equal(5000);
    });
    it('reads an HTTP date, never negative', () => {
      expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:04 GMT', now)).to.equal(4000);
      expect(parseRetryAfter('Wed, 31 Dec 2025 23:00:00 GMT', now)).to.equal(0);
    });
    it('ignores what is neither', () => {
      for (const bad of [undefined, '', '-1', '1.5', 'soon'])
        expect(parseRetryAfter(bad, now), String(bad)).to.equal(undefined);
    });
  });

  describe('withRetries', () => {
    const fast = { minDelayMs: 1, maxDelayMs: 5 };

    it('repeats a retryable failure until it succeeds', async () => {
      let calls = 0;
      const result = await withRetries(
        'irc',
        async () => {
          calls++;
          if (calls < 3) throw statusError(503);
          return 'ok';
        },
        fast,
      );
      expect(result).to.equal('ok');
      expect(calls).to.equal(3);
    });

    it('gives up at once on a 4xx', async () => {
      let calls = 0;
      const error = await withRetries(
        'irc',
        async () => {
          calls++;
          throw statusError(403);
        },
        fast,
      ).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(AppserviceRequestError).with.property('status', 403);
      expect(calls).to.equal(1);
    });

    it('waits the Retry-After delay before the next attempt', async () => {
      const times: number[] = [];
      await withRetries(
        'irc',
        async () => {
          times.push(performance.now());
          if (times.length === 1) throw statusError(429, 150);
          return true;
        },
        fast,
      );
      expect(times[1]! - times[0]!).to.be.at.least(140);
    });

    it('fails at once when Retry-After reaches past the deadline', async () => {
      const started = performance.now();
      const error = await withRetries(
        'irc',
        async () => {
          throw statusError(429, 60_000);
        },
        { ...fast, deadlineMs: 2000 },
      ).catch((e: unknown) => e);
      expect(error).to.have.property('status', 429);
      expect(performance.now() - started).to.be.below(1000);
    });

    it('gives up by the deadline, with the last failure or a timeout', async () => {
      const started = performance.now();
      let calls = 0;
      const error = await withRetries(
        'irc',
        async () => {
          calls++;
          throw new AppserviceRequestError('irc', 'connection', 'refused');
        },
        { minDelayMs: 20, maxDelayMs: 20, deadlineMs: 300 },
      ).catch((e: unknown) => e);
      const elapsed = performance.now() - started;
      expect(error).to.be.instanceOf(AppserviceRequestError);
      expect((error as AppserviceRequestError).kind).to.be.oneOf(['timeout', 'connection']);
      expect(calls).to.be.greaterThan(2);
      expect(elapsed).to.be.below(300 + 250);
    });

    it('passes a signal that fires at the deadline to each attempt', async () => {
      const error = await withRetries(
        'irc',
        (signal) =>
          new Promise((_, reject) => {
            signal.once('abort', () => reject(new AppserviceRequestError('irc', 'timeout', 'deadline passed')));
          }),
        { deadlineMs: 100 },
      ).catch((e: unknown) => e);
      expect(error).to.have.property('kind', 'timeout');
    });

    it('stops when the caller aborts', async () => {
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 50);
      const error = await withRetries(
        'irc',
        async () => {
          throw statusError(500);
        },
        { minDelayMs: 10_000, maxDelayMs: 10_000, deadlineMs: 20_000, signal: controller.signal },
      ).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(AppserviceRequestError);
      expect((error as Error).message).to.contain('aborted');
    });
  });
});
