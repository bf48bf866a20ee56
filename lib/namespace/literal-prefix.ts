/**
 * The literal prefix of a regex: the longest string that every string the regex matches must start
 * with. The namespace index files each rule under it so a lookup tests only the rules whose prefix
 * the string starts with.
 *
 * The parse is deliberately conservative: a shorter prefix only costs a few extra regex tests, a
 * wrong one silently drops a match. Whenever the source holds something this parser does not fully
 * understand, the answer is shorter (down to the empty prefix, which makes the rule a candidate for
 * every lookup).
 */
export interface LiteralPrefix {
  /** Every match starts with this (after ASCII-lowercasing the string when `folded`). */
  readonly text: string;
  /**
   * True for a case-insensitive regex: `text` is ASCII-lowercase and must be compared against the
   * string with only its ASCII letters lowercased (see {@link foldAscii}).
   */
  readonly folded: boolean;
}

const NONE: LiteralPrefix = Object.freeze({ text: '', folded: false });

/** Characters that are never a plain literal outside a class (some are literal in Annex B; we stop). */
const META = new Set(['^', '$', '\\', '.', '*', '+', '?', '(', ')', '[', ']', '{', '}', '|']);

/** Thrown inside the parser when the source is not understood; caught by {@link literalPrefix}. */
class Unsure extends Error {}

/**
 * Extract the literal prefix of a compiled regex.
 *
 * Only regexes anchored at the start (a leading `^` without the `m` flag, or the `y` flag) get a
 * prefix: an unanchored regex may match anywhere, so it has none.
 *
 * @example
 * literalPrefix(/^(?:@irc\.example\.net\/.*)/);   // { text: '@irc.example.net/', folded: false }
 * literalPrefix(/^(?:@_discord_[0-9]+)/);          // { text: '@_discord_', folded: false }
 * literalPrefix(/^(?:@Slack_.*)/i);                // { text: '@slack_', folded: true }
 */
export function literalPrefix(regex: RegExp): LiteralPrefix {
  const src = regex.source;
  // `m` lets `^` match after any newline; `v` has nested classes our class skipper does not follow.
  if (regex.multiline || regex.flags.includes('v')) return NONE;
  let start: number;
  if (src.startsWith('^')) start = 1;
  else if (regex.sticky) start = 0;
  else return NONE;

  let text: string;
  try {
    const end = scanGroup(src, start, false);
    text = parseSequence(src, start, end.close, end.alternation).literal;
  } catch (err) {
    if (err instanceof Unsure) return NONE;
    throw err;
  }
  if (!regex.ignoreCase) return text === '' ? NONE : { text, folded: false };
  return foldPrefix(text, regex.unicode);
}

/**
 * Lowercase the ASCII letters of `value` and nothing else. Under the `i` flag without `u`, JS
 * compares ASCII characters case-insensitively among ASCII only (a non-ASCII character never
 * canonicalizes to ASCII), so this fold is exact for an ASCII prefix.
 *
 * @example
 * foldAscii('@Slack_É'); // '@slack_É'
 */
export function foldAscii(value: string): string {
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    out += c >= 65 && c <= 90 ? String.fromCharCode(c + 32) : value[i];
  }
  return out;
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
  for (let i = 0; i < text.length; i++) {
    let c = value.charCodeAt(i);
    if (c >= 65 && c <= 90) c += 32;
    if (c !== text.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * Keep the part of a case-insensitive prefix that ASCII folding describes exactly: ASCII only, and
 * with `u` not `k` or `s`, because Unicode case folding maps KELVIN SIGN to `k` and LONG S to `s`.
 */
function foldPrefix(text: string, unicode: boolean): LiteralPrefix {
  let kept = '';
  for (const ch of text) {
    const c = ch.charCodeAt(0);
    if (c >= 128) break;
    const lower = c >= 65 && c <= 90 ? String.fromCharCode(c + 32) : ch;
    if (unicode && (lower === 'k' || lower === 's')) break;
    kept += lower;
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

interface SequencePrefix {
  readonly literal: string;
  /** The whole sequence is that literal, so whatever follows it extends the prefix. */
  readonly complete: boolean;
}

/** Prefix of the sequence src[from, end). */
function parseSequence(src: string, from: number, end: number, alternation: boolean): SequencePrefix {
  // With `a|b` at this level, no character is common to every match (we do not compute common prefixes).
  if (alternation) return { literal: '', complete: false };
  let literal = '';
  let i = from;
  while (i < end) {
    const atom = parseAtom(src, i, end);
    if (atom === null) return { literal, complete: false };
    const min = quantifierMin(src, atom.next, end);
    if (min !== null) {
      // A repeated atom: its own prefix holds if it must occur at least once; what follows does not.
      if (min >= 1) literal += atom.literal;
      return { literal, complete: false };
    }
    literal += atom.literal;
    if (!atom.complete) return { literal, complete: false };
    i = atom.next;
  }
  return { literal, complete: true };
}

interface Atom extends SequencePrefix {
  /** Index just after the atom. */
  readonly next: number;
}

/** One atom at `i`, or null when it is not something whose prefix we know. */
function parseAtom(src: string, i: number, end: number): Atom | null {
  const ch = src[i]!;
  const code = src.charCodeAt(i);
  if (ch === '\\') {
    const next = src.charCodeAt(i + 1);
    // `\.` `\/` `\_` and the like are the character itself; `\d` `\b` `\1` `\x41` `\n` are not literals.
    if (i + 1 < end && next < 128 && !isAsciiAlnum(next)) return { literal: src[i + 1]!, complete: true, next: i + 2 };
    return null;
  }
  if (ch === '(') return parseGroup(src, i);
  if (META.has(ch)) return null;
  // Surrogates: a quantifier after a pair binds to the pair with `u` but to the low half without.
  if (code >= 0xd800 && code <= 0xdfff) return null;
  return { literal: ch, complete: true, next: i + 1 };
}

function parseGroup(src: string, open: number): Atom | null {
  let contentStart: number;
  if (src[open + 1] !== '?') contentStart = open + 1;
  else if (src[open + 2] === ':') contentStart = open + 3;
  else if (src[open + 2] === '<' && src[open + 3] !== '=' && src[open + 3] !== '!') {
    const close = src.indexOf('>', open + 3);
    if (close < 0) throw new Unsure();
    contentStart = close + 1;
  } else {
    // Lookarounds, inline modifiers and anything newer: not a plain group.
    return null;
  }
  const extent = scanGroup(src, contentStart, true);
  const inner = parseSequence(src, contentStart, extent.close, extent.alternation);
  return { ...inner, next: extent.close + 1 };
}

/**
 * The minimum count of the quantifier at `i`, or null if none. A `{` that is not a well-formed
 * quantifier (a literal brace in Annex B) reports 0, which only shortens the prefix.
 */
function quantifierMin(src: string, i: number, end: number): number | null {
  if (i >= end) return null;
  const ch = src[i];
  if (ch === '*' || ch === '?') return 0;
  if (ch === '+') return 1;
  if (ch !== '{') return null;
  const m = /^\{(\d+)(?:,\d*)?\}/.exec(src.slice(i, end));
  return m ? Number(m[1]) : 0;
}

function isAsciiAlnum(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}
