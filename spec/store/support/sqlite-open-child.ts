/**
 * A child for the read-only spec: opens a SqliteStore at argv[2] and prints one JSON line, what
 * open() did and, when it opened, what an enqueue then did. The spec runs it as an unprivileged
 * user when it runs as root (root may write any file, so permissions would not bite).
 *
 * @example
 * spawnSync(process.execPath, ['--import', 'tsx', 'spec/store/support/sqlite-open-child.ts', path]);
 */
import { SqliteStore } from '../../../lib/store/sqlite/sqlite-store.ts';

const store = new SqliteStore(process.argv[2]!);
const report: Record<string, unknown> = {};
try {
  await store.open();
  report.open = 'ok';
  await store.enqueue([{ kind: 'event', json: '{}', asIds: ['a'] }]).then(
    () => (report.enqueue = 'ok'),
    (err: Error) => (report.enqueue = err.message),
  );
} catch (err) {
  report.open = { name: (err as Error).name, message: (err as Error).message };
} finally {
  await store.close();
}
process.stdout.write(`${JSON.stringify(report)}\n`);
