/**
 * Namespace lookups: cost per `NamespaceIndex.match()` with 10, 100, 1000 and 10,000 registrations,
 * against the baseline of testing every rule in turn, measured in the same run (the naive loop only
 * up to 1000 registrations: at 10,000 one lookup tests 100,000 regexes and a round takes minutes).
 *
 * Each registration is a bridge with 10 `users` regexes under a realistic, numbered prefix
 * (`@_discord7_[0-9]+:example\.org`, `@irc7\.example\.net/.*`, ...), compiled by the registration
 * translator: they match with RE2, in linear time. The index decides these common shapes with its
 * exact check (lib/namespace/rule-program.ts) and runs a rule's regex only for other shapes, so the
 * "regex runs/lookup" column counts those fallbacks. The same index with V8's backtracking RegExps
 * of the same patterns is measured beside it, to show what the regex engine costs per lookup.
 * The ids are a fixed mix: half match a registration, a quarter share a bridge's prefix but fail
 * its regexes, a quarter match nothing. The goals (issue 17): the index's cost at 10,000
 * registrations stays within 3x its cost at 10, and building the index for 10,000 registrations
 * takes at most 1 s (CPU time, median of three builds; compiling the regexes is the loader's
 * work and is not counted).
 *
 * Run alone: `node --import tsx bench/namespace.ts`
 */
import { pathToFileURL } from 'node:url';
import { reportGoal } from './support/goals.ts';
import { NamespaceIndex, type NamespaceMatch } from '../lib/namespace/namespace-index.ts';
import { translateNamespaceRegex } from '../lib/registration/regex.ts';
import type { NamespaceRule, Registration } from '../lib/registration/registration.ts';
import { testRegistration } from '../lib/testing/registration.ts';

const SIZES = [10, 100, 1000, 10_000] as const;
/** Above this many registrations the naive loop is too slow to time; its answers are still checked on a sample. */
const NAIVE_MAX = 1000;
/** Ids checked against the naive loop above NAIVE_MAX (each such lookup runs every rule). */
const NAIVE_SAMPLE = 40;
const BUILDS = 3;
const RULES_PER_REGISTRATION = 10;
const IDS = 1000;
const WARMUP_ROUNDS = 2;
const ROUNDS = 7;
/** Each timed round repeats the id list until it lasts about this long, so timer noise stays small. */
const ROUND_TARGET_MS = 100;

/** Bridge id prefixes as the common bridges spell them; `#` is where the registration's number goes. */
const BRIDGES = ['@_discord#_', '@whatsapp#_', '@telegram#_', '@irc#\\.example\\.net/', '@slack#_', '@signal#_'];
/** The rest of each regex, after the bridge prefix: 10 shapes seen in real registration files. */
const TAILS = [
  '[0-9]+:example\\.org',
  'bot:example\\.org',
  'puppet_.*:example\\.org',
  '[a-z]+:example\\.org',
  'guild_[0-9]+_.*',
  'relay_.*',
  'ghost_[0-9a-f]{8}:example\\.org',
  'sms_\\+[0-9]+',
  'admin:example\\.org',
  '.*:bridge\\.example\\.org',
];
/** Ids that match the tail of the same index. */
const MATCHING_TAILS = [
  '12345:example.org',
  'bot:example.org',
  'puppet_alice:example.org',
  'carol:example.org',
  'guild_42_general',
  'relay_bob',
  'ghost_0badc0de:example.org',
  'sms_+15550100',
  'admin:example.org',
  'dave:bridge.example.org',
];

/** Deterministic PRNG (mulberry32) so every run looks up the same ids. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function bridgePrefix(i: number): string {
  return BRIDGES[i % BRIDGES.length]!.replace('#', String(i));
}

/** Counts regex runs, to show how many rules each method actually tests per lookup. */
class CountingRegExp extends RegExp {
  static runs = 0;
  override test(value: string): boolean {
    CountingRegExp.runs++;
    return super.test(value);
  }
}

/** The translator's regexes (RE2), as a registration file would give them. */
function makeRegistrations(count: number): Registration[] {
  return Array.from({ length: count }, (_, i) => {
    const users: NamespaceRule[] = TAILS.slice(0, RULES_PER_REGISTRATION).map((tail, j) => {
      const source = bridgePrefix(i) + tail;
      return { exclusive: j % 2 === 0, source, regex: translateNamespaceRegex(source) };
    });
    return testRegistration({ id: `bridge${i}`, namespaces: { users } });
  });
}

/**
 * The same registrations with each rule's regex rebuilt from its JS source: a V8 RegExp (to show
 * what linear time costs per lookup) or a counting one. Rebuilt rather than translated again, which
 * at 10,000 registrations would take seconds per copy.
 */
function withRegExp(registrations: readonly Registration[], make: (source: string) => RegExp): Registration[] {
  return registrations.map((registration) =>
    testRegistration({
      id: registration.id,
      namespaces: {
        users: registration.namespaces.users.map((rule) => ({ ...rule, regex: make(rule.regex.source) })),
      },
    }),
  );
}
const backtracking = (source: string): RegExp => new RegExp(source, 'u');
const counting = (source: string): RegExp => new CountingRegExp(source, 'u');

function makeIds(count: number): string[] {
  const random = prng(0x5eed + count);
  const pick = (n: number) => Math.floor(random() * n);
  const ids = Array.from({ length: IDS }, (_, k) => {
    const unescaped = bridgePrefix(pick(count)).replace(/\\/g, '');
    switch (k % 4) {
      case 0:
      case 1:
        return unescaped + MATCHING_TAILS[pick(RULES_PER_REGISTRATION)]!;
      case 2:
        return `${unescaped}Not Valid!:other.org`;
      default:
        return `@user${pick(1_000_000)}:example.org`;
    }
  });
  // Ids reach the homeserver through JSON.parse, as flat strings; concatenations would be cons strings.
  return JSON.parse(JSON.stringify(ids)) as string[];
}

/** The baseline: test every rule of every registration. */
function naiveMatch(registrations: readonly Registration[], value: string): NamespaceMatch[] {
  const out: NamespaceMatch[] = [];
  for (const registration of registrations) {
    let matched = false;
    let exclusive = false;
    for (const rule of registration.namespaces.users) {
      if (rule.regex.test(value)) {
        matched = true;
        exclusive ||= rule.exclusive;
      }
    }
    if (matched) out.push({ registration, exclusive });
  }
  return out;
}

/**
 * One timed workload: lookups cycling through `ids` in rounds sized to last about ROUND_TARGET_MS
 * (a round of the naive loop at 1000 registrations covers a few dozen ids; the index's covers all
 * many times over). Workloads are run round-robin so a burst of load on the machine falls on every
 * size alike instead of skewing one of them.
 */
class Workload {
  readonly #ids: readonly string[];
  readonly #lookup: (id: string) => readonly NamespaceMatch[];
  readonly #samples: number[] = [];
  #next = 0;
  #sink = 0;
  #perRound = 16;

  constructor(ids: readonly string[], lookup: (id: string) => readonly NamespaceMatch[]) {
    this.#ids = ids;
    this.#lookup = lookup;
    while (this.#time(this.#perRound) < (ROUND_TARGET_MS * 1e6) / 8) this.#perRound *= 2;
    this.#perRound *= 8;
  }

  round(record: boolean): void {
    const ns = this.#time(this.#perRound);
    if (record) this.#samples.push(ns / this.#perRound);
  }

  /** Median ns per lookup of the recorded rounds. */
  median(): number {
    if (this.#sink < 0) console.log(this.#sink); // never true; keeps the lookups from being optimised away
    const sorted = [...this.#samples].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)]!;
  }

  /**
   * CPU time (user + system, in ns) of n lookups. CPU time rather than wall time: the bench shares
   * two cores with whatever else runs (test suites, builds), and time spent descheduled is not the
   * lookup's cost.
   */
  #time(n: number): number {
    const ids = this.#ids;
    const start = process.cpuUsage();
    for (let i = 0; i < n; i++, this.#next++) this.#sink += this.#lookup(ids[this.#next % ids.length]!).length;
    const used = process.cpuUsage(start);
    return (used.user + used.system) * 1000;
  }
}

/** Average regex runs per lookup over all ids, for each method: deterministic, unlike timings. */
function countRuns(
  registrations: readonly Registration[],
  ids: readonly string[],
): { readonly index: number; readonly naive: number } {
  const counted = withRegExp(registrations, counting);
  const index = new NamespaceIndex(counted);
  CountingRegExp.runs = 0;
  for (const id of ids) index.match('users', id);
  const indexRuns = CountingRegExp.runs / ids.length;
  // The naive loop runs every rule whatever the id: a sample of ids shows it.
  const sample = ids.slice(0, registrations.length > NAIVE_MAX ? 5 : 50);
  CountingRegExp.runs = 0;
  for (const id of sample) naiveMatch(counted, id);
  return { index: indexRuns, naive: CountingRegExp.runs / sample.length };
}

interface Size {
  readonly size: number;
  readonly index: Workload;
  /** The same index over V8 RegExps: the cost of matching in linear time is the difference. */
  readonly indexV8: Workload;
  /** Undefined above NAIVE_MAX registrations. */
  readonly naive: Workload | undefined;
  /** Median CPU time of BUILDS index builds. */
  readonly buildMs: number;
  readonly runs: { readonly index: number; readonly naive: number };
}

function sameAnswers(a: readonly NamespaceMatch[], b: readonly NamespaceMatch[]): boolean {
  return (
    a.length === b.length && a.every((m, i) => m.registration === b[i]!.registration && m.exclusive === b[i]!.exclusive)
  );
}

/** CPU time (ms) of building the index, median of BUILDS builds; returns the last index built. */
function build(registrations: readonly Registration[]): { readonly index: NamespaceIndex; readonly ms: number } {
  const times: number[] = [];
  let index: NamespaceIndex | undefined;
  for (let i = 0; i < BUILDS; i++) {
    const start = process.cpuUsage();
    index = new NamespaceIndex(registrations);
    const used = process.cpuUsage(start);
    times.push((used.user + used.system) / 1000);
  }
  return { index: index!, ms: times.sort((a, b) => a - b)[Math.floor(BUILDS / 2)]! };
}

function prepare(size: number): Size {
  const registrations = makeRegistrations(size);
  const ids = makeIds(size);
  const { index, ms: buildMs } = build(registrations);
  const indexV8 = new NamespaceIndex(withRegExp(registrations, backtracking));
  // A benchmark of a wrong answer is worthless: check they agree first (on a sample where the naive
  // loop is too slow to run for every id).
  const checked = size > NAIVE_MAX ? ids.filter((_, k) => k % Math.ceil(IDS / NAIVE_SAMPLE) === 0) : ids;
  for (const id of checked) {
    if (!sameAnswers(index.match('users', id), naiveMatch(registrations, id))) {
      throw new Error(`index and naive loop disagree on ${id} with ${size} registrations`);
    }
  }
  for (const id of ids) {
    if (indexV8.match('users', id).length !== index.match('users', id).length) {
      throw new Error(`the index over RE2 and over V8 RegExps disagree on ${id} with ${size} registrations`);
    }
  }
  return {
    size,
    index: new Workload(ids, (id) => index.match('users', id)),
    indexV8: new Workload(ids, (id) => indexV8.match('users', id)),
    naive: size > NAIVE_MAX ? undefined : new Workload(ids, (id) => naiveMatch(registrations, id)),
    buildMs,
    runs: countRuns(registrations, ids),
  };
}

/**
 * Print ns per lookup for each size, how each method's cost grows from 10 to 10,000 registrations,
 * and the two goal rows.
 *
 * @example
 * await run(); // from bench/index.ts, or `node --import tsx bench/namespace.ts`
 */
export async function run(): Promise<void> {
  const matching = makeIds(SIZES[0]).filter((_, k) => k % 4 < 2).length;
  console.log(
    `${RULES_PER_REGISTRATION} users regexes per registration, ${IDS} ids (${matching} matching, ` +
      `${IDS / 4} prefix-only, ${IDS / 4} unrelated); median CPU time of ${ROUNDS} rounds after ${WARMUP_ROUNDS} warm-up`,
  );
  const sizes = SIZES.map(prepare);
  for (let round = 0; round < WARMUP_ROUNDS + ROUNDS; round++) {
    for (const { index, indexV8, naive } of sizes) {
      index.round(round >= WARMUP_ROUNDS);
      indexV8.round(round >= WARMUP_ROUNDS);
      naive?.round(round >= WARMUP_ROUNDS);
    }
  }
  console.log(
    'registrations  index ns/lookup  index with V8 RegExp  naive ns/lookup  naive/index  regex runs/lookup (index, naive)  index build ms (CPU)',
  );
  for (const { size, index, indexV8, naive, runs, buildMs } of sizes) {
    const naiveNs = naive === undefined ? '-' : naive.median().toFixed(0);
    const ratio = naive === undefined ? '-' : `${(naive.median() / index.median()).toFixed(1)}x`;
    console.log(
      `${String(size).padStart(13)}  ${index.median().toFixed(0).padStart(15)}  ${indexV8.median().toFixed(0).padStart(20)}  ${naiveNs.padStart(15)}  ` +
        `${ratio.padStart(11)}  ` +
        `${runs.index.toFixed(2).padStart(17)}, ${String(runs.naive).padEnd(14)}  ${buildMs.toFixed(1).padStart(20)}`,
    );
  }
  const first = sizes[0]!;
  const last = sizes.at(-1)!;
  const timedNaive = sizes.filter((s) => s.naive !== undefined).at(-1)!;
  const indexGrowth = last.index.median() / first.index.median();
  const naiveGrowth = timedNaive.naive!.median() / first.naive!.median();
  console.log(
    `growth ${last.size}/${first.size} registrations: index ${indexGrowth.toFixed(2)}x ` +
      `(${timedNaive.size}/${first.size}: index ${(timedNaive.index.median() / first.index.median()).toFixed(2)}x, naive ${naiveGrowth.toFixed(1)}x)`,
  );
  reportGoal({
    row: `namespace: ${last.size.toLocaleString('en-US')} vs ${first.size} registrations, per lookup`,
    figure: `${indexGrowth.toFixed(2)}×`,
    goal: '<= 3×',
    met: indexGrowth <= 3,
  });
  reportGoal({
    row: `namespace: index build, ${last.size.toLocaleString('en-US')} registrations (CPU)`,
    figure: `${(last.buildMs / 1000).toFixed(2)} s`,
    goal: '<= 1 s',
    met: last.buildMs <= 1000,
  });
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) await run();
