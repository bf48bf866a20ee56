/**
 * What literal text every match of a regex must hold: its literal prefix (the longest string every
 * match starts with), under which the namespace index files the rule, and one required run further
 * in (`:example.org`), checked with `includes` before the regex is run.
 *
 * The parse is deliberately conservative: a shorter prefix or run only costs a few extra regex
 * tests, a wrong one silently drops a match. Whenever the source holds something this parser does
 * not fully understand, the answer is shorter (down to the empty prefix, which makes the rule a
 * candidate for every lookup).
 */
export interface LiteralPrefix {
  /** Every match starts with this (after ASCII-lowercasing the string when `folded`). */
  readonly text: string;
  /**
   * True for a case-insensitive regex: `text` is ASCII-lowercase and must be compared against the
   * string folded by {@link foldCode}. Under the `i` flag JS matches an ASCII character only with
   * its ASCII case variants, plus (with `u`) KELVIN SIGN for `k` and LONG S for `s`, which the fold
   * covers, so the comparison is exact for an ASCII prefix.
   */
  readonly folded: boolean;
}

const NONE: LiteralPrefix = Object.freeze({ text: '', folded: false });

/** Characters that are never a plain literal outside a class (`]` `}` are in Annex B; we do not rely on it). */
const META = new Set(['^', '$', '\\', '.', '*', '+', '?', '(', ')', '[', ']', '{', '}', '|']);

/** Escapes known to be exactly two characters long that match one character, but not a fixed one. */
const CLASS_ESCAPES = new Set(['d', 'D', 'w', 'W', 's', 'S', 'n', 'r', 't', 'f', 'v']);

/** Thrown inside the parser when the source is not understood; caught by {@link regexLiterals}. */
class Unsure extends Error {}

/** What literal text every match of a regex must contain. */
export interface RegexLiterals {
  readonly prefix: LiteralPrefix;
  /**
   * Beyond the prefix, the longest run of characters every match contains somewhere, or `''`. A
   * cheap `includes` check then spares running a regex that cannot match (`:example.org` in
   * `@_discord_[0-9]+:example\.org`). Always `''` for a case-insensitive regex.
   */
  readonly required: string;
}

const NOTHING: RegexLiterals = Object.freeze({ prefix: NONE, required: '' });

/**
 * Extract the literal prefix and a required literal run of a compiled regex.
 *
 * Only regexes anchored at the start (a leading `^` without the `m` flag, or the `y` flag) get a
 * prefix: an unanchored regex may match anywhere, so it has none.
 *
 * @example
 * regexLiterals(/^(?:@_discord_[0-9]+:example\.org)/);
 * // { prefix: { text: '@_discord_', folded: false }, required: ':example.org' }
 */
export function regexLiterals(regex: RegExp): RegexLiterals {
  const src = regex.source;
  // `v` has nested classes our class skipper does not follow.
  if (regex.flags.includes('v')) return NOTHING;
  // `m` lets `^` match after any newline, so it anchors nothing.
  const anchored = (src.startsWith('^') || regex.sticky) && !regex.multiline;
  let tokens: Token[];
  try {
    const start = src.startsWith('^') ? 1 : 0;
    const end = scanGroup(src, start, false);
    tokens = walkSequence(src, start, end.close, end.alternation).tokens;
  } catch (err) {
    if (err instanceof Unsure) return NOTHING;
    throw err;
  }
  const runs = splitRuns(tokens);
  let prefix = NONE;
  if (anchored && tokens[0] !== null && tokens.length > 0) {
    const text = runs.shift()!;
    prefix = regex.ignoreCase ? foldPrefix(text) : { text, folded: false };
  }
  if (regex.ignoreCase) return { prefix, required: '' };
  const required = runs.reduce((longest, run) => (run.length > longest.length ? run : longest), '');
  return { prefix, required };
}

/**
 * The literal prefix alone: see {@link regexLiterals}.
 *
 * @example
 * literalPrefix(/^(?:@irc\.example\.net\/.*)/);   // { text: '@irc.example.net/', folded: false }
 * literalPrefix(/^(?:@_discord_[0-9]+)/);          // { text: '@_discord_', folded: false }
 * literalPrefix(/^(?:@Slack_.*)/i);                // { text: '@slack_', folded: true }
 */
export function literalPrefix(regex: RegExp): LiteralPrefix {
  return regexLiterals(regex).prefix;
}

/** The runs of consecutive characters between breaks, the first one included even when empty. */
function splitRuns(tokens: readonly Token[]): string[] {
  const runs = [''];
  for (const token of tokens) {
    if (token === null) runs.push('');
    else runs[runs.length - 1] += token;
  }
  return runs;
}

/**
 * Does `value` start with `prefix`, comparing as the index does?
 *
 * @example
 * startsWithPrefix('@SLACK_bob', { text: '@slack_', folded: true }); // true
 */
export function startsWithPrefix(value: string, prefix: LiteralPrefix): boolean {
  if (!prefix.folded) return value.startsWith(prefix.text);
  const { text } = prefix;
  if (value.length < text.length) return false;
  for (let i = 0; i < text.length; i++) if (foldCode(value.charCodeAt(i)) !== text.charCodeAt(i)) return false;
  return true;
}

/**
 * The code unit a folded prefix is compared with: ASCII letters lowercased, and the two non-ASCII
 * characters Unicode case folding (the `iu` flags) maps onto ASCII, KELVIN SIGN to `k` and LONG S
 * to `s`. Without `u` these two match nothing ASCII, so folding them only adds a candidate that the
 * regex then rejects.
 *
 * @example
 * foldCode(0x4b); // 0x6b ('K' -> 'k')
 * foldCode(0x212a); // 0x6b (KELVIN SIGN -> 'k')
 */
export function foldCode(c: number): number {
  if (c >= 65 && c <= 90) return c + 32;
  if (c === 0x212a) return 0x6b;
  if (c === 0x17f) return 0x73;
  return c;
}

/**
 * Keep the part of a case-insensitive prefix that {@link foldCode} describes exactly: its ASCII
 * start. (Non-ASCII letters have case variants of their own, which we do not model.)
 */
function foldPrefix(text: string): LiteralPrefix {
  let kept = '';
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 128) break;
    kept += String.fromCharCode(foldCode(c));
  }
  return kept === '' ? NONE : { text: kept, folded: true };
}

interface GroupExtent {
  /** Index of the closing `)`, or the source length at top level. */
  readonly close: number;
  /** Whether a `|` appears at this group's own level. */
  readonly alternation: boolean;
}

/** Find where the group whose content starts at `from` ends, skipping escapes, classes and subgroups. */
function scanGroup(src: string, from: number, nested: boolean): GroupExtent {
  let depth = 0;
  let alternation = false;
  for (let i = from; i < src.length; i++) {
    const ch = src[i];
    if (ch === '\\') {
      i++;
    } else if (ch === '[') {
      i = skipClass(src, i);
    } else if (ch === '(') {
      depth++;
    } else if (ch === ')') {
      if (depth === 0) {
        if (!nested) throw new Unsure();
        return { close: i, alternation };
      }
      depth--;
    } else if (ch === '|' && depth === 0) {
      alternation = true;
    }
  }
  if (nested || depth !== 0) throw new Unsure();
  return { close: src.length, alternation };
}

/** Index of the `]` closing the class opened at `open` (JS: `]` right after `[` or `[^` closes it). */
function skipClass(src: string, open: number): number {
  for (let i = open + 1; i < src.length; i++) {
    if (src[i] === '\\') i++;
    else if (src[i] === ']') return i;
  }
  throw new Unsure();
}

/** One literal character, or a break: something that is not a known literal sits there. */
type Token = string | null;

/** The walk gave up here (an escape or brace it does not fully read): nothing after it is known. */
interface Walk {
  readonly tokens: Token[];
  readonly stopped: boolean;
}

/**
 * Tokens of the sequence src[from, end): literal characters that every match contains in this order
 * and, between two characters with no break, contiguously; a break wherever something else may sit.
 */
function walkSequence(src: string, from: number, end: number, alternation: boolean): Walk {
  // With `a|b` at this level no character is common to every match (we do not compute common parts).
  if (alternation) return { tokens: [null], stopped: false };
  const tokens: Token[] = [];
  let i = from;
  while (i < end) {
    const atom = walkAtom(src, i, end);
    if (atom === null) return { tokens: [...tokens, null], stopped: true };
    if (atom.stopped) return { tokens: [...tokens, ...atom.tokens, null], stopped: true };
    const q = quantifier(src, atom.next, end);
    if (q === null) {
      tokens.push(...atom.tokens);
      i = atom.next;
      continue;
    }
    if (q.min < 0) return { tokens: [...tokens, null], stopped: true };
    // A repeated atom: its first occurrence is required when min >= 1; what follows varies.
    if (q.min >= 1) tokens.push(...atom.tokens);
    tokens.push(null);
    i = q.next;
  }
  return { tokens, stopped: false };
}

interface Atom extends Walk {
  /** Index just after the atom. */
  readonly next: number;
}

/** The atom at `i`, or null when even its extent is unknown (then the walk stops). */
function walkAtom(src: string, i: number, end: number): Atom | null {
  const ch = src[i]!;
  const code = src.charCodeAt(i);
  if (ch === '\\') {
    if (i + 1 >= end) return null;
    const next = src.charCodeAt(i + 1);
    // `\.` `\/` `\_` and the like are the character itself. Letter and digit escapes (`\d`, `\x41`,
    // `\u{1F600}`, `\k<n>`, `\12`) have lengths of their own: stop rather than misread their tail.
    if (next < 128 && !isAsciiAlnum(next)) return { tokens: [src[i + 1]!], stopped: false, next: i + 2 };
    if (CLASS_ESCAPES.has(src[i + 1]!)) return { tokens: [null], stopped: false, next: i + 2 };
    // Word boundaries consume nothing: the characters on either side stay adjacent in the match.
    if (src[i + 1] === 'b' || src[i + 1] === 'B') return { tokens: [], stopped: false, next: i + 2 };
    return null;
  }
  if (ch === '(') return walkGroup(src, i);
  if (ch === '[') return { tokens: [null], stopped: false, next: skipClass(src, i) + 1 };
  // Assertions consume nothing (the translator turns `\A` into a `^` inside the group).
  if (ch === '^' || ch === '$') return { tokens: [], stopped: false, next: i + 1 };
  if (ch === '.' || ch === ']' || ch === '}') return { tokens: [null], stopped: false, next: i + 1 };
  if (META.has(ch)) return null;
  // Surrogates: a quantifier after a pair binds to the pair with `u` but to the low half without.
  if (code >= 0xd800 && code <= 0xdfff) return { tokens: [null], stopped: false, next: i + 1 };
  return { tokens: [ch], stopped: false, next: i + 1 };
}

function walkGroup(src: string, open: number): Atom {
  let contentStart: number;
  let kind: 'plain' | 'lookaround' | 'other' = 'plain';
  if (src[open + 1] !== '?') contentStart = open + 1;
  else if (src[open + 2] === ':') contentStart = open + 3;
  else if (src[open + 2] === '<' && src[open + 3] !== '=' && src[open + 3] !== '!') {
    const close = src.indexOf('>', open + 3);
    if (close < 0) throw new Unsure();
    contentStart = close + 1;
  } else {
    // Lookarounds consume nothing; inline modifiers and anything newer consume we know not what.
    const lookaround =
      src[open + 2] === '=' ||
      src[open + 2] === '!' ||
      src.startsWith('<=', open + 2) ||
      src.startsWith('<!', open + 2);
    kind = lookaround ? 'lookaround' : 'other';
    contentStart = open + 2;
  }
  const extent = scanGroup(src, contentStart, true);
  if (kind === 'lookaround') return { tokens: [], stopped: false, next: extent.close + 1 };
  if (kind === 'other') return { tokens: [null], stopped: false, next: extent.close + 1 };
  return { ...walkSequence(src, contentStart, extent.close, extent.alternation), next: extent.close + 1 };
}

/**
 * The quantifier at `i`, if any: its minimum count and where it ends (after a lazy `?`). A `{` that
 * is not a well-formed quantifier (a literal brace in Annex B) reports min -1: stop there.
 */
function quantifier(src: string, i: number, end: number): { readonly min: number; readonly next: number } | null {
  if (i >= end) return null;
  const ch = src[i];
  let min: number;
  let next = i + 1;
  if (ch === '*' || ch === '?') min = 0;
  else if (ch === '+') min = 1;
  else if (ch === '{') {
    const m = /^\{(\d+)(?:,\d*)?\}/.exec(src.slice(i, end));
    if (m === null) return { min: -1, next };
    min = Number(m[1]);
    next = i + m[0].length;
  } else return null;
  if (src[next] === '?' && next < end) next++;
  return { min, next };
}

function isAsciiAlnum(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}
