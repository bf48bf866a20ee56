/**
 * The walk over a JS regex's source that literal-prefix.ts reads literals from: which characters
 * every match holds, in order, and where something else may sit. It reads only the syntax it is
 * sure of and gives up (null) on anything else, since a misread literal would drop matches.
 */

/** One literal character, or a break: something that is not a known literal sits there. */
export type Token = string | null;

/** Characters that are never a plain literal outside a class (`]` `}` are in Annex B; we do not rely on it). */
const META = new Set(['^', '$', '\\', '.', '*', '+', '?', '(', ')', '[', ']', '{', '}', '|']);

/** Escapes known to be exactly two characters long that match one character, but not a fixed one. */
const CLASS_ESCAPES = new Set(['d', 'D', 'w', 'W', 's', 'S', 'n', 'r', 't', 'f', 'v']);

/** Thrown inside the walk when the source is not understood; caught by {@link literalTokens}. */
class Unsure extends Error {}

/**
 * The tokens of the top-level sequence of `src` from `start` (after a leading `^`), or null when
 * the source holds something this walk does not fully understand.
 *
 * @example
 * literalTokens('^(?:@_d[0-9]+:x)', 1); // ['@', '_', 'd', null, null, ':', 'x']
 */
export function literalTokens(src: string, start: number): Token[] | null {
  try {
    const end = scanGroup(src, start, false);
    const walk = new Walk(src);
    walk.sequence(start, end.close, end.alternation);
    return walk.tokens;
  } catch (err) {
    if (err instanceof Unsure) return null;
    throw err;
  }
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

/**
 * One walk over a source, appending to one token list: literal characters that every match contains
 * in this order and, between two characters with no break, contiguously; a break wherever something
 * else may sit. One list rather than a list per atom and group, concatenated on the way up: a build
 * of the index over thousands of registrations spent most of its time allocating those.
 */
class Walk {
  readonly tokens: Token[] = [];
  /** Whether the atom just walked gave up inside (an escape or brace it does not fully read). */
  #atomStopped = false;
  readonly #src: string;

  constructor(src: string) {
    this.#src = src;
  }

  /** Walks src[from, end); returns whether it gave up (nothing after that point is known). */
  sequence(from: number, end: number, alternation: boolean): boolean {
    const tokens = this.tokens;
    // With `a|b` at this level no character is common to every match (we do not compute common parts).
    if (alternation) {
      tokens.push(null);
      return false;
    }
    let i = from;
    while (i < end) {
      const mark = tokens.length;
      const next = this.#atom(i, end);
      if (next < 0 || this.#atomStopped) {
        tokens.push(null);
        return true;
      }
      const q = quantifier(this.#src, next, end);
      if (q === null) {
        i = next;
        continue;
      }
      // A repeated atom: its first occurrence is required when min >= 1; what follows varies.
      if (q.min < 1) tokens.length = mark;
      tokens.push(null);
      if (q.min < 0) return true;
      i = q.next;
    }
    return false;
  }

  /** Appends the atom at `i`; returns the index just after it, or -1 when even its extent is unknown. */
  #atom(i: number, end: number): number {
    this.#atomStopped = false;
    const src = this.#src;
    const ch = src[i]!;
    const code = src.charCodeAt(i);
    if (ch === '\\') {
      if (i + 1 >= end) return -1;
      const next = src.charCodeAt(i + 1);
      // `\.` `\/` `\_` and the like are the character itself. Letter and digit escapes (`\d`, `\x41`,
      // `\u{1F600}`, `\k<n>`, `\12`) have lengths of their own: stop rather than misread their tail.
      if (next < 128 && !isAsciiAlnum(next)) {
        this.tokens.push(src[i + 1]!);
        return i + 2;
      }
      if (CLASS_ESCAPES.has(src[i + 1]!)) {
        this.tokens.push(null);
        return i + 2;
      }
      // Word boundaries consume nothing: the characters on either side stay adjacent in the match.
      if (src[i + 1] === 'b' || src[i + 1] === 'B') return i + 2;
      return -1;
    }
    if (ch === '(') return this.#group(i);
    if (ch === '[') {
      this.tokens.push(null);
      return skipClass(src, i) + 1;
    }
    // Assertions consume nothing (the translator turns `\A` into a `^` inside the group).
    if (ch === '^' || ch === '$') return i + 1;
    if (ch === '.' || ch === ']' || ch === '}') {
      this.tokens.push(null);
      return i + 1;
    }
    if (META.has(ch)) return -1;
    // Surrogates: a quantifier after a pair binds to the pair with `u` but to the low half without.
    this.tokens.push(code >= 0xd800 && code <= 0xdfff ? null : ch);
    return i + 1;
  }

  #group(open: number): number {
    const src = this.#src;
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
    if (kind === 'other') this.tokens.push(null);
    if (kind === 'plain') this.#atomStopped = this.sequence(contentStart, extent.close, extent.alternation);
    return extent.close + 1;
  }
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
