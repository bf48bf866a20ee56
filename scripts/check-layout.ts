/**
 * The layout rule of lib/ (README, "Layout"): no file over 300 lines, and no import cycle
 * between its files. Every import counts, `import type` and dynamic `import()` included: a cycle
 * of types is still two files that cannot be understood apart.
 *
 * Prints every offence and exits 1 when there is one; `npm run check:layout`, run by `.ci/run`.
 *
 * @example
 * node --import tsx scripts/check-layout.ts           # checks lib/
 * node --import tsx scripts/check-layout.ts some/dir  # checks another tree
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

export const MAX_LINES = 300;

export interface LayoutReport {
  /** Files over MAX_LINES, with their line counts, relative to the checked directory. */
  readonly long: readonly { file: string; lines: number }[];
  /** Each import cycle as the files it runs through, relative to the checked directory. */
  readonly cycles: readonly string[][];
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

/** The files of `files` that `file` imports by relative path. */
function importsOf(file: string, text: string, files: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (const { fileName } of ts.preProcessFile(text, true, true).importedFiles) {
    if (!fileName.startsWith('.')) continue;
    const target = resolve(dirname(file), fileName.replace(/\.js$/, '.ts'));
    for (const candidate of [target, `${target}.ts`, join(target, 'index.ts')]) {
      if (files.has(candidate)) {
        out.push(candidate);
        break;
      }
    }
  }
  return out;
}

/** Strongly connected components of more than one file, or one file that imports itself (Tarjan). */
function cyclesOf(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

export function checkLayout(dir: string): LayoutReport {
  const root = resolve(dir);
  const files = sources(root);
  const known = new Set(files);
  const long: { file: string; lines: number }[] = [];
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
    if (lines > MAX_LINES) long.push({ file: relative(root, file), lines });
    graph.set(file, importsOf(file, text, known));
  }
  const cycles = cyclesOf(graph).map((c) => c.map((f) => relative(root, f)));
  return { long, cycles };
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const dir = process.argv[2] ?? join(import.meta.dirname, '..', 'lib');
  const { long, cycles } = checkLayout(dir);
  const shown = (file: string): string => relative(process.cwd(), join(dir, file));
  for (const { file, lines } of long) console.log(`${shown(file)}: ${lines} lines (at most ${MAX_LINES})`);
  for (const cycle of cycles) console.log(`import cycle: ${cycle.map(shown).join(' -> ')} -> ${shown(cycle[0]!)}`);
  const problems = long.length + cycles.length;
  console.log(problems === 0 ? `layout OK: ${relative(process.cwd(), dir) || '.'}` : `layout: ${problems} problem(s)`);
  process.exitCode = problems === 0 ? 0 : 1;
}
