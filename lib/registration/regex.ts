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

/** The JS spelling of one node; regex-analysis.ts also uses it to test a set against candidate characters. */
export function emit(node: RegexNode, flags: PythonFlags): string {
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

/** A code point as a JS `u` pattern spells it, escaped where it would be syntax. */
export function literal(cp: number, inSet = false): string {
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
