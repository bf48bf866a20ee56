'use strict';
// Mocha's spec reporter plus one plain closing line, `N passed, N failed[, N skipped]`, because
// CI reads only that line. It must stay the very last thing printed.
const Mocha = require('mocha');

class CountingReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once(Mocha.Runner.constants.EVENT_RUN_END, () => {
      const { passes, failures, pending } = runner.stats;
      process.stdout.write(`\n${passes} passed, ${failures} failed${pending ? `, ${pending} skipped` : ''}\n`);
    });
  }
}

module.exports = CountingReporter;
