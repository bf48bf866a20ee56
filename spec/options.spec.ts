import { expect } from 'chai';
import { resolveOptions, defaults, type AppservicesOptions } from '../lib/options.ts';
import { OptionsError } from '../lib/errors.ts';
import type { Host } from '../lib/host.ts';

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

  it('keeps given values', () => {
    const resolved = resolveOptions({ registrations: ['x.yaml'], host, queryDeadlineMs: 500, backoffInitialMs: 10, backoffMaxMs: 20 });
    expect(resolved.queryDeadlineMs).to.equal(500);
    expect(resolved.backoffMaxMs).to.equal(20);
  });

  it('names the option that is wrong', () => {
    expect(optionError({ registrations: [], host }).option).to.equal('registrations');
    expect(optionError({ registrations: ['a'] }).option).to.equal('host');
    expect(optionError({ registrations: ['a'], host: { ...host, serverName: '' } }).message).to.match(/serverName/);
    expect(optionError({ registrations: ['a'], host: { ...host, joinedMembers: undefined } }).message).to.match(/joinedMembers/);
    expect(optionError({ registrations: ['a'], host, queryDeadlineMs: -1 }).option).to.equal('queryDeadlineMs');
    expect(optionError({ registrations: ['a'], host, queryDeadlineMs: '5s' }).message).to.match(/positive integer/);
    expect(optionError({ registrations: ['a'], host, store: {} }).option).to.equal('store');
    expect(optionError({ registrations: ['a'], host, logger: console.log }).option).to.equal('logger');
    expect(optionError({ registrations: ['a'], host, backoffInitialMs: 100, backoffMaxMs: 10 }).option).to.equal('backoffMaxMs');
    expect(optionError({ registrations: ['a'], host, headersTimeoutMs: 0 }).option).to.equal('headersTimeoutMs');
    expect(optionError({ registrations: ['a'], host, connectTimeoutMs: 1.5 }).option).to.equal('connectTimeoutMs');
    expect(optionError({ registrations: ['a'], host, bodyTimeoutMs: '30s' }).option).to.equal('bodyTimeoutMs');
    expect(optionError({ registrations: ['a'], host, maxResponseBytes: -1 }).option).to.equal('maxResponseBytes');
  });
});
