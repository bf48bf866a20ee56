import { expect } from 'chai';
import { unexportedPublicTypes } from './support/public-types.ts';

describe('public types', function () {
  // Emits the declarations of all of lib/ and type-checks them: tens of seconds on a busy machine.
  this.timeout(240_000);

  it('every type named in a public signature is exported from an entry point', () => {
    const missing = unexportedPublicTypes().map((t) => `${t.name} (${t.file}, reached through ${t.via})`);
    expect(missing).to.deep.equal([]);
  });
});
