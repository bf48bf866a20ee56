/**
 * The parsed Python pattern spelled in RE2 syntax, for the linear-time engine that namespace
 * regexes run on (linear-regex.ts). It accepts exactly the strings Python's `re.match` accepts, or
 * the pattern is refused with the reason.
 *
 * RE2 has no backtracking, so it has no backreferences and no lookarounds. What Python expresses
 * with them has no linear-time equivalent and is refused: `(?=`, `(?!`, `(?<=`, `(?<!`, `\1`,
 * `(?P=name)`, a Unicode `\b`/`\B` (RE2's are ASCII: `(?a)` makes Python's ASCII too) and a `$`
 * that more pattern follows (Python's `$` also matches before a final newline, which RE2 can spell
 * only at the end: `\n?\z`).
 */
import {
  PythonRegexError,
  type ClassName,
  type ParsedPythonRegex,
  type PythonFlags,
  type RegexNode,
  type SetItem,
} from './python-regex-tree.ts';

/** RE2 refuses larger counts in `{m,n}`. */
export const RE2_MAX_REPEAT = 1000;

const ANY = '\\x{0}-\\x{10FFFF}';
const PY_WORD = '\\p{L}\\p{N}_';
/** Python's str.isspace() set, which is what `\s` means in a str pattern. */
const PY_SPACE =
  '\\x{9}-\\x{D}\\x{1C}-\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}';
const ASCII_CLASSES: Record<ClassName, string> = {
  d: '0-9',
  D: '\\x{0}-/:-\\x{10FFFF}',
  w: '0-9A-Za-z_',
  W: '\\x{0}-/:-@\\[-\\^`\\{-\\x{10FFFF}',
  s: '\\x{9}-\\x{D} ',
  S: '\\x{0}-\\x{8}\\x{E}-\\x{1F}!-\\x{10FFFF}',
};

const LOOKAROUND = {
  ahead: 'lookahead (?=...)',
  nahead: 'negative lookahead (?!...)',
  behind: 'lookbehind (?<=...)',
  nbehind: 'negative lookbehind (?<!...)',
} as const;

/**
 * `^(?:<body>)`, with a leading `(?i)` for a case-insensitive pattern. Throws PythonRegexError.
 *
 * @example
 * toRe2Syntax(parsePythonRegex('@irc_\\d+:hs$'), '@irc_\\d+:hs$'); // '^(?:@irc_\\p{Nd}+:hs(?:\\n?\\z))'
 */
export function toRe2Syntax(parsed: ParsedPythonRegex, source: string): string {
  try {
    return `${parsed.flags.i ? '(?i)' : ''}^(?:${alternation(parsed.alts, parsed.flags, true)})`;
  } catch (error) {
    if (!(error instanceof Refusal)) throw error;
    throw new PythonRegexError(`${error.message} in ${JSON.stringify(source)}${error.why}`);
  }
}

/** A construct RE2 cannot run (`message`) and why (`why`); toRe2Syntax puts the pattern between them. */
class Refusal extends Error {
  readonly why: string;
  constructor(what: string, why: string) {
    super(what);
    this.why = why;
  }
}

function refuse(what: string, hint = ''): never {
  throw new Refusal(what, ` cannot run in linear time: namespace regexes run on RE2, which has no backtracking${hint}`);
}

/** `tail`: nothing that consumes input can follow this part, so a `$` in it may be spelled `\n?\z`. */
function alternation(alts: readonly (readonly RegexNode[])[], flags: PythonFlags, tail: boolean): string {
  return alts.map((seq) => seq.map((node, k) => emit(node, flags, tail && k === seq.length - 1)).join('')).join('|');
}

function emit(node: RegexNode, flags: PythonFlags, tail: boolean): string {
  switch (node.type) {
    case 'char':
      return literal(node.cp);
    case 'any':
      return flags.s ? `[${ANY}]` : '[^\\n]';
    case 'class':
      return classOutside(node.name, flags);
    case 'set':
      return set(node.negated, node.items, flags);
    case 'assert':
      return assertion(node.kind, flags, tail);
    case 'group': {
      if (node.kind !== 'capture' && node.kind !== 'named' && node.kind !== 'noncapture')
        refuse(`a ${LOOKAROUND[node.kind]}`);
      const open = node.kind === 'capture' ? '(' : node.kind === 'named' ? `(?P<${node.name ?? ''}>` : '(?:';
      return `${open}${alternation(node.alts, flags, tail)})`;
    }
    case 'backref':
      return refuse(`a backreference (${typeof node.ref === 'number' ? `\\${node.ref}` : `(?P=${node.ref})`})`);
    case 'repeat': {
      const { min, max } = node;
      if (min > RE2_MAX_REPEAT || (max !== Infinity && max > RE2_MAX_REPEAT))
        throw new Refusal(`a repeat count above ${RE2_MAX_REPEAT}`, ' is more than RE2 supports');
      const q =
        max === Infinity
          ? min === 0
            ? '*'
            : min === 1
              ? '+'
              : `{${min},}`
          : min === 0 && max === 1
            ? '?'
            : min === max
              ? `{${min}}`
              : `{${min},${max}}`;
      // A repeat that can run more than once may be followed by itself.
      return `(?:${emit(node.node, flags, tail && max <= 1)})${q}${node.lazy ? '?' : ''}`;
    }
  }
}

/** Letters and digits stand for themselves; everything else is written as a code point. */
function literal(cp: number): string {
  if (cp >= 0xd800 && cp <= 0xdfff)
    throw new Refusal(`the lone surrogate \\u${cp.toString(16)}`, ' cannot occur in a well-formed id');
  const ch = String.fromCodePoint(cp);
  return /^[A-Za-z0-9_@#:/]$/.test(ch) ? ch : `\\x{${cp.toString(16).toUpperCase()}}`;
}

function classOutside(name: ClassName, flags: PythonFlags): string {
  if (flags.a) return `[${ASCII_CLASSES[name]}]`;
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

function set(negated: boolean, items: readonly SetItem[], flags: PythonFlags): string {
  const parts: string[] = [];
  for (const item of items) {
    if (item.type === 'class') {
      parts.push(setClass(item.name, flags));
      continue;
    }
    // Surrogates never occur in a well-formed id; RE2 ranges skip them.
    if (item.from <= 0xd7ff) parts.push(range(item.from, Math.min(item.to, 0xd7ff)));
    if (item.to >= 0xe000) parts.push(range(Math.max(item.from, 0xe000), item.to));
  }
  if (parts.length === 0) return negated ? `[${ANY}]` : `[^${ANY}]`;
  return `[${negated ? '^' : ''}${parts.join('')}]`;
}

function range(from: number, to: number): string {
  const code = (cp: number) => `\\x{${cp.toString(16).toUpperCase()}}`;
  return from === to ? code(from) : `${code(from)}-${code(to)}`;
}

function setClass(name: ClassName, flags: PythonFlags): string {
  if (flags.a) return ASCII_CLASSES[name];
  const inside: Partial<Record<ClassName, string>> = { d: '\\p{Nd}', D: '\\P{Nd}', w: PY_WORD, s: PY_SPACE };
  const text = inside[name];
  if (text === undefined) throw new Refusal(`\\${name} inside a character set`, ' cannot be translated');
  return text;
}

function assertion(kind: 'start' | 'end' | 'startA' | 'endZ' | 'b' | 'B', flags: PythonFlags, tail: boolean): string {
  switch (kind) {
    case 'start':
    case 'startA':
      return '\\A';
    case 'end':
      // Python's `$` is the end or before a final newline. Last in the pattern, consuming that
      // newline is the same test; anywhere else it would take a lookahead.
      if (!tail) refuse('a $ followed by more of the pattern', ' (a $ last in the pattern is supported)');
      return '(?:\\n?\\z)';
    case 'endZ':
      return '\\z';
    case 'b':
    case 'B':
      if (!flags.a)
        refuse(`a Unicode word boundary \\${kind}`, ` (a leading (?a) makes \\${kind} ASCII-only, which RE2 supports)`);
      return `\\${kind}`;
  }
}
