/**
 * What lint learns from a namespace regex's tree without running a backtracking engine: sample
 * strings it matches (to guess overlaps between exclusive namespaces), and whether a backtracking
 * engine could take exponential time on it. Apart from regex.ts, which only translates: nothing
 * that serves requests needs these.
 */
import safeRegex from 'safe-regex2';
import { parsePythonRegex, type PythonFlags, type RegexNode } from './python-regex.ts';
import { emit, literal, translateParsed } from './regex.ts';

/**
 * Strings the pattern should match, derived from its tree: the shortest (every repeat at its
 * minimum) and one with each repeat taken at least once. lint uses them to guess whether two
 * namespaces overlap. Only samples that the regex really matches are returned.
 *
 * @example
 * sampleStrings('@irc_.*:example\\.org'); // ['@irc_:example.org', '@irc_x:example.org']
 */
export function sampleStrings(source: string): string[] {
  const parsed = parsePythonRegex(source);
  const regex = translateParsed(parsed, source);
  const out = new Set<string>();
  for (const atLeastOnce of [false, true]) {
    const text = parsed.alts.map((seq) => sampleSeq(seq, atLeastOnce, parsed.flags)).find((s) => s !== undefined);
    if (text !== undefined && regex.test(text)) out.add(text);
  }
  return [...out];
}

function sampleSeq(seq: readonly RegexNode[], atLeastOnce: boolean, flags: PythonFlags): string | undefined {
  let text = '';
  for (const node of seq) {
    const part = sampleNode(node, atLeastOnce, flags);
    if (part === undefined) return undefined;
    text += part;
  }
  return text;
}

function sampleNode(node: RegexNode, atLeastOnce: boolean, flags: PythonFlags): string | undefined {
  switch (node.type) {
    case 'char':
      return String.fromCodePoint(node.cp);
    case 'any':
      return 'x';
    case 'class':
      return { d: '0', D: 'x', w: 'x', W: '-', s: ' ', S: 'x' }[node.name];
    case 'set': {
      const set = new RegExp(emit(node, flags), flags.i ? 'iu' : 'u');
      return [
        'x',
        'a',
        '0',
        '_',
        '-',
        '.',
        'Z',
        ...node.items.flatMap((i) => (i.type === 'range' ? [String.fromCodePoint(i.from)] : [])),
      ].find((c) => set.test(c));
    }
    case 'assert':
    case 'backref':
      return '';
    case 'group':
      if (node.kind !== 'capture' && node.kind !== 'named' && node.kind !== 'noncapture') return '';
      for (const alt of node.alts) {
        const s = sampleSeq(alt, atLeastOnce, flags);
        if (s !== undefined) return s;
      }
      return undefined;
    case 'repeat': {
      const count = atLeastOnce ? Math.min(Math.max(node.min, 1), node.max) : node.min;
      const one = sampleNode(node.node, atLeastOnce, flags);
      return one === undefined ? undefined : one.repeat(Math.min(count, 64));
    }
  }
}

/**
 * A simplified JS spelling of the pattern with the same repetition structure, for
 * backtracking analysers (safe-regex2's parser knows neither lookbehind nor `\p{…}`):
 * sets and classes become one-character atoms, lookarounds and backreferences disappear.
 *
 * @example
 * repetitionSkeleton('(?P<n>\\w+)+$'); // '(\\w{1,}){1,}'
 */
export function repetitionSkeleton(source: string): string {
  const { alts } = parsePythonRegex(source);
  const walk = (list: readonly (readonly RegexNode[])[]): string =>
    list.map((seq) => seq.map(skeleton).join('')).join('|');
  function skeleton(node: RegexNode): string {
    switch (node.type) {
      case 'char':
        return literal(node.cp);
      case 'any':
      case 'set':
      case 'class':
        return '\\w';
      case 'assert':
      case 'backref':
        return '';
      case 'group':
        return node.kind === 'capture' || node.kind === 'named' || node.kind === 'noncapture'
          ? `(${walk(node.alts)})`
          : '';
      case 'repeat': {
        const max = node.max === Infinity ? '' : String(node.max);
        return `${skeleton(node.node) || '(?:)'}{${node.min},${max}}`;
      }
    }
  }
  return walk(alts);
}

/**
 * Whether a backtracking engine could take exponential time on this pattern: a repeat inside an
 * unbounded repeat (`(\w+\.?)+`, found by safe-regex2's star-height check on the skeleton), or an
 * unbounded repeat over alternatives that can match the same text (`(\w|\d)*`: a digit goes
 * either way, so n digits can be split 2^n ways). lint and serve name such regexes: RE2 runs them
 * in linear time, a backtracking engine would not. A guess from samples, so it may miss a case;
 * nothing depends on it but the message.
 *
 * @example
 * wouldBacktrack('@irc_(\\w|\\d)*:hs'); // true
 * wouldBacktrack('@irc_[a-z]+:hs'); // false
 */
export function wouldBacktrack(source: string): boolean {
  if (!safeRegex(repetitionSkeleton(source))) return true;
  const parsed = parsePythonRegex(source);
  const overlapping = (alts: readonly (readonly RegexNode[])[]): boolean => {
    const branches = alts.map((alt) => {
      const samples = [false, true]
        .map((once) => sampleSeq(alt, once, parsed.flags))
        .filter((s): s is string => s !== undefined && s !== '');
      try {
        return { samples, regex: translateParsed({ flags: parsed.flags, alts: [alt] }, source) };
      } catch {
        return { samples, regex: undefined };
      }
    });
    return branches.some((a, i) =>
      branches.some((b, j) => i !== j && b.regex !== undefined && a.samples.some((s) => b.regex!.test(s))),
    );
  };
  const walk = (node: RegexNode, underRepeat: boolean): boolean => {
    if (node.type === 'repeat') return walk(node.node, underRepeat || node.max === Infinity);
    if (node.type !== 'group') return false;
    if (underRepeat && node.alts.length > 1 && overlapping(node.alts)) return true;
    return node.alts.some((seq) => seq.some((child) => walk(child, underRepeat)));
  };
  return parsed.alts.some((seq) => seq.some((node) => walk(node, false)));
}
