/**
 * Mocha global fixture (loaded through `require` in .mocharc.cjs): stops the throwaway PostgreSQL
 * that spec/support/postgres-server.ts starts on demand. Starting stays lazy, so a run without
 * PostgreSQL specs never starts a server.
 *
 * @example
 * // .mocharc.cjs
 * module.exports = { require: ['./spec/support/postgres-fixture.ts'] };
 */
import { stopPostgres } from './postgres-server.ts';

export async function mochaGlobalTeardown(): Promise<void> {
  await stopPostgres();
}
