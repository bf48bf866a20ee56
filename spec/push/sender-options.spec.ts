import { expect } from 'chai';
import { OptionsError } from '../../lib/errors.ts';
import { pushDefaults } from '../../lib/options.ts';
import { Sender } from '../../lib/push/sender.ts';
import { MemoryStore } from '../../lib/store/memory-store.ts';
import { registration } from './registrations.ts';

describe('Sender options', () => {
  const deps = {
    registration: registration('a', { users: ['@a_.*'] }),
    store: new MemoryStore(),
    send: async () => {},
  };

  const bad: [string, ConstructorParameters<typeof Sender>[1]][] = [
    ['limits.event', { limits: { event: 0 } }],
    ['limits.toDevice', { limits: { toDevice: 1.5 } }],
    ['backoff.initialMs', { backoff: { initialMs: -1 } }],
    ['backoff.maxMs', { backoff: { initialMs: 100, maxMs: 10 } }],
    ['electIntervalMs', { electIntervalMs: 0 }],
  ];
  for (const [option, options] of bad) {
    it(`refuses a bad ${option} with an OptionsError naming it and the Sender`, () => {
      let caught: unknown;
      try {
        new Sender(deps, options);
      } catch (error) {
        caught = error;
      }
      expect(caught).to.be.instanceOf(OptionsError);
      expect((caught as OptionsError).option).to.equal(option);
      expect((caught as OptionsError).source).to.equal('Sender');
    });
  }

  it('takes its defaults from lib/options.ts', () => {
    expect(pushDefaults.limits).to.deep.equal({
      event: 100,
      ephemeral: 100,
      toDevice: 100,
      deviceList: 100,
      keyCounts: 100,
    });
    expect(() => new Sender(deps)).not.to.throw();
  });
});
