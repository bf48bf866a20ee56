import { expect } from 'chai';
import { defaults, type AppservicesOptions } from '../lib/options.ts';
import { resolveOptions } from '../lib/resolve-options.ts';
import { OptionsError } from '../lib/errors.ts';
import type { Host } from '../lib/host.ts';
import { AppserviceClient } from '../lib/client/appservice-client.ts';
import { resolveClientOptions } from '../lib/client/client-options.ts';
import { retryDelayMs } from '../lib/client/retry-policy.ts';
import { ExistenceQueries } from '../lib/query/existence.ts';
import { resolveExistenceOptions } from '../lib/query/existence-options.ts';
import { makeRegistration, naiveIndex, ToyHost } from './testing/fixtures.ts';

const host: Host = {
  serverName: 'example.org',
  userExists: async () => false,
  resolveAlias: async () => null,
  roomAliases: async () => [],
  joinedMembers: async () => [],
  authenticate: async () => null,
};

function optionError(options: unknown): OptionsError {
  try {
    resolveOptions(options as AppservicesOptions);
  } catch (err) {
    expect(err).to.be.instanceOf(OptionsError);
    return err as OptionsError;
  }
  throw new Error('resolveOptions accepted bad options');
}

describe('options', () => {
  it('applies the documented defaults', () => {
    expect(resolveOptions({ registrations: ['x.yaml'], host })).to.deep.equal(defaults);
  });

  it('derives the per-attempt timeout from the deadline unless given', () => {
    expect(resolveOptions({ registrations: ['x.yaml'], host }).queryAttemptTimeoutMs).to.equal(3_334);
    expect(resolveOptions({ registrations: ['x.yaml'], host, queryDeadlineMs: 900 }).queryAttemptTimeoutMs).to.equal(
      300,
    );
    expect(
      resolveOptions({ registrations: ['x.yaml'], host, queryAttemptTimeoutMs: 50 }).queryAttemptTimeoutMs,
    ).to.equal(50);
    expect(resolveExistenceOptions({ deadlineMs: 900 }).attemptTimeoutMs).to.equal(300);
  });

  it('keeps given values', () => {
    const resolved = resolveOptions({
      registrations: ['x.yaml'],
      host,
      queryDeadlineMs: 500,
      backoffInitialMs: 10,
      backoffMaxMs: 20,
    });
    expect(resolved.queryDeadlineMs).to.equal(500);
    expect(resolved.backoffMaxMs).to.equal(20);
  });

  it('names the option that is wrong', () => {
    expect(optionError({ registrations: [], host }).option).to.equal('registrations');
    expect(optionError({ registrations: ['a'] }).option).to.equal('host');
    expect(optionError({ registrations: ['a'], host: { ...host, serverName: '' } }).message).to.match(/serverName/);
    expect(optionError({ registrations: ['a'], host: { ...host, joinedMembers: undefined } }).message).to.match(
      /joinedMembers/,
    );
    expect(optionError({ registrations: ['a'], host, queryDeadlineMs: -1 }).option).to.equal('queryDeadlineMs');
    expect(optionError({ registrations: ['a'], host, queryDeadlineMs: '5s' }).message).to.match(/positive integer/);
    expect(optionError({ registrations: ['a'], host, store: {} }).option).to.equal('store');
    expect(optionError({ registrations: ['a'], host, logger: console.log }).option).to.equal('logger');
    expect(optionError({ registrations: ['a'], host, backoffInitialMs: 100, backoffMaxMs: 10 }).option).to.equal(
      'backoffMaxMs',
    );
    expect(optionError({ registrations: ['a'], host, headersTimeoutMs: 0 }).option).to.equal('headersTimeoutMs');
    expect(optionError({ registrations: ['a'], host, connectTimeoutMs: 1.5 }).option).to.equal('connectTimeoutMs');
    expect(optionError({ registrations: ['a'], host, bodyTimeoutMs: '30s' }).option).to.equal('bodyTimeoutMs');
    expect(optionError({ registrations: ['a'], host, maxResponseBytes: -1 }).option).to.equal('maxResponseBytes');
    expect(optionError({ registrations: ['a'], host, legacyReprobeMs: 0 }).option).to.equal('legacyReprobeMs');
    expect(
      optionError({ registrations: ['a'], host, queryRetryMinDelayMs: 200, queryRetryMaxDelayMs: 100 }).option,
    ).to.equal('queryRetryMaxDelayMs');
  });

  describe('one source of defaults: every constructor defaults to what appservices() uses', () => {
    const resolved = resolveOptions({ registrations: ['x.yaml'], host });

    it('AppserviceClient', () => {
      expect(resolveClientOptions()).to.deep.equal({
        connections: resolved.connectionsPerAppservice,
        connectTimeoutMs: resolved.connectTimeoutMs,
        headersTimeoutMs: resolved.headersTimeoutMs,
        bodyTimeoutMs: resolved.bodyTimeoutMs,
        maxResponseBytes: resolved.maxResponseBytes,
        legacyReprobeMs: resolved.legacyReprobeMs,
      });
    });

    it('ExistenceQueries and its retry policy', () => {
      const settings = resolveExistenceOptions();
      expect({ ...settings, retry: { ...settings.retry } }).to.deep.equal({
        deadlineMs: resolved.queryDeadlineMs,
        positiveTtlMs: resolved.positiveCacheTtlMs,
        negativeTtlMs: resolved.negativeCacheTtlMs,
        maxEntries: resolved.cacheMaxEntries,
        downForMs: resolved.appserviceDownForMs,
        attemptTimeoutMs: resolved.queryAttemptTimeoutMs,
        concurrency: resolved.queryConcurrencyPerAppservice,
        queueLimit: resolved.queryQueuePerAppservice,
        onAppserviceUp: undefined,
        onCacheHit: undefined,
        onTokenRejected: undefined,
        onQueueFull: undefined,
        logger: undefined,
        retry: {
          minDelayMs: resolved.queryRetryMinDelayMs,
          maxDelayMs: resolved.queryRetryMaxDelayMs,
          maxAttempts: resolved.queryMaxAttempts,
        },
      });
    });

    it('retryDelayMs', () => {
      const error = new Error('x');
      const explicit = { minDelayMs: resolved.queryRetryMinDelayMs, maxDelayMs: resolved.queryRetryMaxDelayMs };
      for (const attempt of [1, 2, 3, 10]) {
        for (const random of [() => 0, () => 0.99]) {
          expect(retryDelayMs(attempt, error, { random }), `attempt ${attempt}`).to.equal(
            retryDelayMs(attempt, error, { ...explicit, random }),
          );
        }
      }
    });
  });

  describe('bad constructor options throw OptionsError naming the option and the constructor', () => {
    function thrown(make: () => unknown): OptionsError {
      try {
        make();
      } catch (err) {
        expect(err, String(err)).to.be.instanceOf(OptionsError);
        return err as OptionsError;
      }
      throw new Error('accepted bad options');
    }
    const registration = makeRegistration({ url: 'http://127.0.0.1:9' });
    const deps = {
      host: new ToyHost('hs.test'),
      registrations: [registration],
      index: naiveIndex([registration]),
      client: () => new AppserviceClient(registration),
    };

    it('AppserviceClient', () => {
      for (const [option, value] of [
        ['connections', 0],
        ['connectTimeoutMs', -5],
        ['headersTimeoutMs', 1.5],
        ['bodyTimeoutMs', '30s'],
        ['maxResponseBytes', Number.NaN],
        ['legacyReprobeMs', 0],
      ] as const) {
        const err = thrown(() => new AppserviceClient(registration, { [option]: value }));
        expect(err.option).to.equal(option);
        expect(err.source).to.equal('AppserviceClient');
        expect(err.message).to.include(option);
      }
    });

    it('ExistenceQueries', () => {
      for (const [option, value] of [
        ['deadlineMs', 0],
        ['positiveTtlMs', -1],
        ['negativeTtlMs', -1],
        ['maxEntries', 0.5],
        ['downForMs', '5s'],
        ['onCacheHit', 'yes'],
      ] as const) {
        const err = thrown(() => new ExistenceQueries(deps, { [option]: value } as never));
        expect(err.option).to.equal(option);
        expect(err.source).to.equal('ExistenceQueries');
      }
      expect(thrown(() => new ExistenceQueries(deps, { retry: { maxAttempts: 0 } })).option).to.equal(
        'retry.maxAttempts',
      );
      expect(thrown(() => new ExistenceQueries(deps, { retry: { minDelayMs: 100, maxDelayMs: 10 } })).option).to.equal(
        'retry.maxDelayMs',
      );
      // Zero is a meaningful value where documented: do not remember "absent", never skip a failing AS.
      expect(() => new ExistenceQueries(deps, { negativeTtlMs: 0, downForMs: 0 })).not.to.throw();
    });
  });
});
