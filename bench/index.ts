/**
 * `npm run bench`: run every benchmark in bench/ (each file exporting `run()`), one after another so
 * they do not compete for the two cores, each under a header line. Every bench prints its own
 * figures and ratios against a baseline measured in the same run.
 *
 * Usage:
 *   npm run bench                     # all of them: namespace, query, push, plugin, then any others
 *   npm run bench -- namespace push   # only these
 *
 * Every goal a bench reports (support/goals.ts) is repeated in one table at the end.
 *
 * Exits 0 when every bench ran, 1 when one threw, 2 on an unknown name.
 */
import { readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { formatGoal, reportedGoals } from './support/goals.ts';

/** Cheap and self-contained first, so a quick look needs no patience; the rest follow by name. */
const ORDER = ['namespace', 'query', 'push', 'many-ases', 'plugin'];

interface BenchModule {
  readonly run?: unknown;
}

/**
 * The bench names in bench/ (files `<name>.ts`, this one aside), in running order.
 *
 * @example
 * await benchNames('/repo/bench'); // ['namespace', 'query', 'push', 'plugin']
 */
export async function benchNames(dir: string): Promise<string[]> {
  const self = fileURLToPath(import.meta.url);
  const names = (await readdir(dir))
    .filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts') && join(dir, file) !== self)
    .map((file) => file.slice(0, -'.ts'.length));
  const rank = (name: string) => (ORDER.includes(name) ? ORDER.indexOf(name) : ORDER.length);
  return names.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

async function main(argv: readonly string[]): Promise<number> {
  const dir = dirname(fileURLToPath(import.meta.url));
  const available = await benchNames(dir);
  const unknown = argv.filter((name) => !available.includes(name));
  if (unknown.length > 0) {
    console.error(`unknown bench: ${unknown.join(', ')} (available: ${available.join(', ')})`);
    return 2;
  }
  const selected = argv.length === 0 ? available : available.filter((name) => argv.includes(name));
  let failed = 0;
  for (const name of selected) {
    console.log(`\n=== ${name} (bench/${name}.ts) ===`);
    const started = performance.now();
    try {
      const mod = (await import(pathToFileURL(join(dir, `${name}.ts`)).href)) as BenchModule;
      if (typeof mod.run !== 'function') {
        console.log('(no run() export: skipped)');
        continue;
      }
      await (mod.run as () => Promise<void>)();
      console.log(`--- ${name}: ${((performance.now() - started) / 1000).toFixed(1)} s`);
    } catch (err) {
      failed++;
      console.error(`--- ${name} FAILED:`, err);
    }
  }
  const goals = reportedGoals();
  if (goals.length > 0) {
    console.log(`\n=== goals (${goals.filter((g) => g.met).length} of ${goals.length} met) ===`);
    for (const goal of goals) console.log(`  ${formatGoal(goal)}`);
  }
  return failed > 0 ? 1 : 0;
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) {
  // Exit explicitly: a bench that leaves a socket or timer behind must not hang the run.
  process.exit(await main(process.argv.slice(2)));
}
