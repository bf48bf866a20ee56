/**
 * Namespace regexes are written for Synapse, which compiles them with Python's `re` and tests
 * them with `re.match`: anchored at the start, not at the end. This file turns such a pattern
 * into a JS RegExp that accepts exactly the same strings, or refuses it with the reason. The
 * RegExp is a LinearRegExp: it matches with RE2 (the same tree spelled by re2-syntax.ts), so that
 * no pattern can make a lookup backtrack.
 *
 * The output always has the shape `^(?:<body>)` with flags `u` (plus `i` for a leading `(?i)`).
 * `u` because Python str patterns work on code points; the parser already rewrote the
 * Python-only identity escapes (`\-`, `\#`, `\:` that `re.escape` produces) into forms that
 * are legal under `u`. Python's Unicode-aware `\w`, `\d`, `\s` and `\b` are spelled out with
 * Unicode properties, because JS's are ASCII-only.
 */
import {
  parsePythonRegex,
  PythonRegexError,
  type ClassName,
  type ParsedPythonRegex,
  type PythonFlags,
  type RegexNode,
  type SetItem,
} from './python-regex.ts';

import safeRegex from 'safe-regex2';
import { LinearRegExp } from './linear-regex.ts';
import { toRe2Syntax } from './re2-syntax.ts';

export { PythonRegexError } from './python-regex.ts';
export { LinearRegExp } from './linear-regex.ts';

/** Characters that must be escaped to stand for themselves in a JS `u` pattern. */
const SYNTAX = new Set([...'^$\\.*+?()[]{}|/']);
/** Python's str.isspace() set, which is what `\s` means in a str pattern. */
const PY_SPACE = '\\t-\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const PY_WORD = '\\p{L}\\p{N}_';

/**
 * Translates a Python `re` namespace regex to a RegExp anchored at the start only, that matches in
 * linear time (a {@link LinearRegExp}). Throws a PythonRegexError whose message is the reason when
 * the pattern cannot be translated, or needs backtracking (backreferences, lookarounds).
 *
 * @example
 * const re = translateNamespaceRegex('@irc_.*');
 * re.test('@irc_bob:example.org'); // true: anchored at the start, not at the end
 * re.test('x@irc_bob:example.org'); // false
 * translateNamespaceRegex('(?i)@IRC_(?P<nick>[a-z]+)').test('@irc_bob'); // true
 */
export function translateNamespaceRegex(source: string): LinearRegExp {
  return translateParsed(parsePythonRegex(source), source);
}

/** Same as translateNamespaceRegex, for callers that also want the tree (lint's samples). */
export function translateParsed(parsed: ParsedPythonRegex, source: string): LinearRegExp {
  let body: string;
  try {
    body = emitAlts(parsed.alts, parsed.flags);
  } catch (error) {
    throw new PythonRegexError(`${(error as Error).message} in ${JSON.stringify(source)}`);
  }
  const re2Source = toRe2Syntax(parsed, source);
  try {
    return new LinearRegExp(`^(?:${body})`, parsed.flags.i ? 'iu' : 'u', re2Source);
  } catch (error) {
    // V8 says "Invalid regular expression: /<pattern>/u: <reason>", RE2 just the reason.
    const message = (error as Error).message;
    const reason = message.startsWith('Invalid regular expression')
      ? message.replace(/^.*:\s*/s, '').toLowerCase()
      : `${message} (RE2)`;
    throw new PythonRegexError(`${reason} in ${JSON.stringify(source)}`, { cause: error });
  }
}

function emitAlts(alts: readonly (readonly RegexNode[])[], flags: PythonFlags): string {
  return alts.map((seq) => seq.map((node) => emit(node, flags)).join('')).join('|');
}

function emit(node: RegexNode, flags: PythonFlags): string {
  switch (node.type) {
    case 'char':
      return literal(node.cp);
    case 'any':
      // Python's `.` excludes only \n; JS's also excludes \r, U+2028 and U+2029.
      return flags.s ? '[\\s\\S]' : '[^\\n]';
    case 'class':
      return classOutside(node.name, flags);
    case 'set':
      return `[${node.negated ? '^' : ''}${node.items.map((item) => setItem(item, flags)).join('')}]`;
    case 'assert':
      return assertion(node.kind, flags);
    case 'group': {
      const open = {
        capture: '(',
        named: `(?<${node.name ?? ''}>`,
        noncapture: '(?:',
        ahead: '(?=',
        nahead: '(?!',
        behind: '(?<=',
        nbehind: '(?<!',
      }[node.kind];
      return `${open}${emitAlts(node.alts, flags)})`;
    }
    case 'backref':
      // Wrapped so that a literal digit after it cannot extend the group number.
      return typeof node.ref === 'number' ? `(?:\\${node.ref})` : `\\k<${node.ref}>`;
    case 'repeat': {
      const { min, max } = node;
      const q =
        min === 0 && max === Infinity
          ? '*'
          : min === 1 && max === Infinity
            ? '+'
            : min === 0 && max === 1
              ? '?'
              : max === Infinity
                ? `{${min},}`
                : min === max
                  ? `{${min}}`
                  : `{${min},${max}}`;
      return `${emit(node.node, flags)}${q}${node.lazy ? '?' : ''}`;
    }
  }
}

function literal(cp: number, inSet = false): string {
  const ch = String.fromCodePoint(cp);
  if (SYNTAX.has(ch) || (inSet && ch === '-')) return `\\${ch}`;
  if (cp < 0x20 || cp === 0x7f) return `\\x${cp.toString(16).padStart(2, '0')}`;
  return ch;
}

function classOutside(name: ClassName, flags: PythonFlags): string {
  if (flags.a) return name === 's' ? '[\\t-\\r ]' : name === 'S' ? '[^\\t-\\r ]' : `\\${name}`;
  const map: Record<ClassName, string> = {
    d: '\\p{Nd}',
    D: '\\P{Nd}',
    w: `[${PY_WORD}]`,
    W: `[^${PY_WORD}]`,
    s: `[${PY_SPACE}]`,
    S: `[^${PY_SPACE}]`,
  };
  return map[name];
}

function setItem(item: SetItem, flags: PythonFlags): string {
  if (item.type === 'range')
    return item.from === item.to ? literal(item.from, true) : `${literal(item.from, true)}-${literal(item.to, true)}`;
  const inside: Partial<Record<ClassName, string>> = flags.a
    ? { d: '0-9', D: '\\D', w: '\\w', W: '\\W', s: '\\t-\\r ' }
    : { d: '\\p{Nd}', D: '\\P{Nd}', w: PY_WORD, s: PY_SPACE };
  const text = inside[item.name];
  if (text === undefined)
    throw new PythonRegexError(`\\${item.name} inside a character set cannot be translated to JS`);
  return text;
}

function assertion(kind: 'start' | 'end' | 'startA' | 'endZ' | 'b' | 'B', flags: PythonFlags): string {
  const word = flags.a ? '\\w' : `[${PY_WORD}]`;
  switch (kind) {
    case 'start':
    case 'startA':
      return '^';
    case 'end':
      return '(?=\\n?$)'; // Python's `$` also matches before a final newline
    case 'endZ':
      return '$';
    case 'b':
      return flags.a ? '\\b' : `(?:(?<=${word})(?!${word})|(?<!${word})(?=${word}))`;
    case 'B':
      return flags.a ? '\\B' : `(?:(?<=${word})(?=${word})|(?<!${word})(?!${word}))`;
  }
}

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
