'use strict';
// Specs are TypeScript run through tsx; the reporter ends with the plain `N passed, N failed` line CI reads.
module.exports = {
  'node-option': ['import=tsx'],
  reporter: './spec/support/reporter.cjs',
  timeout: 20000,
  exit: true,
};
