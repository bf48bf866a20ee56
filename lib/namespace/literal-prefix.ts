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
import { literalTokens, type Token } from './literal-walk.ts';

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
  const tokens = literalTokens(src, src.startsWith('^') ? 1 : 0);
  if (tokens === null) return NOTHING;
  let prefix = NONE;
  // The runs of consecutive characters between breaks: the first one is the prefix (when there is
  // one), the longest of the others the required run.
  let rest = 0;
  if (anchored && tokens[0] !== null && tokens.length > 0) {
    const end = tokens.indexOf(null);
    const text = tokens.slice(0, end < 0 ? tokens.length : end).join('');
    prefix = regex.ignoreCase ? foldPrefix(text) : { text, folded: false };
    rest = end < 0 ? tokens.length : end + 1;
  }
  if (regex.ignoreCase) return { prefix, required: '' };
  return { prefix, required: longestRun(tokens, rest) };
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

/**
 * The longest run of characters between breaks in tokens[from..] (the first of equal ones), or ''.
 * Joined once at the end: building every run character by character was most of what a build of
 * the index over thousands of registrations allocated.
 */
function longestRun(tokens: readonly Token[], from: number): string {
  let best = from;
  let bestLength = 0;
  let start = from;
  for (let i = from; i <= tokens.length; i++) {
    if (i < tokens.length && tokens[i] !== null) continue;
    if (i - start > bestLength) {
      best = start;
      bestLength = i - start;
    }
    start = i + 1;
  }
  return bestLength === 0 ? '' : tokens.slice(best, best + bestLength).join('');
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
