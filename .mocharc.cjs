'use strict';
// Specs are TypeScript run through tsx; the reporter ends with the plain `N passed, N failed` line CI reads.
module.exports = {
  'node-option': ['import=tsx'],
  reporter: './spec/support/reporter.cjs',
  // Stops the throwaway PostgreSQL that the PostgreSQL specs start on demand (spec/support/postgres-server.ts).
  require: ['./spec/support/postgres-fixture.ts'],
  timeout: 20000,
  exit: true,
};
