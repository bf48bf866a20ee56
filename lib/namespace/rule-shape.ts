/**
 * Reads the simple shapes most namespace regexes have (`@_discord_[0-9]+:example\.org`,
 * `@irc_.*`, `@slack_[a-z]+_[^:]*:example\.org`) from a compiled RegExp's source, as a sequence of
 * literal runs and repeated ASCII sets, so that the namespace index can check them without running
 * the regex engine: at ten thousand registrations each compiled regex is cold in the CPU caches,
 * and a regex run costs several times what the index's own walk does.
 *
 * Like literal-walk.ts it reads only syntax it is sure of and answers null for anything else (the
 * rule then keeps its regex): groups, alternation, assertions, class escapes, non-ASCII literals,
 * flags other than `u`. What it reads is checked by rule-program.ts, which proves the check exact.
 */

/** A literal run: every match holds exactly these characters here. */
export interface LiteralItem {
  readonly kind: 'literal';
  readonly text: string;
}

/**
 * A set of characters repeated `min` to `max` times. The set is ASCII-only: `mask` has bit c set
 * for each ASCII code c it holds; a negated set (`[^:]`) also holds every non-ASCII character.
 */
export interface SetItem {
  readonly kind: 'set';
  /** 4 words of 32 bits. */
  readonly mask: readonly number[];
  readonly negated: boolean;
  readonly min: number;
  /** Infinity for `*`, `+` and `{n,}`. */
  readonly max: number;
}

export type ShapeItem = LiteralItem | SetItem;

/** The escapes of one control character each (`\n` in `[^\n]`, which the translator emits for `.`). */
const CONTROL_ESCAPES: Readonly<Record<string, number>> = { n: 10, r: 13, t: 9, f: 12, v: 11 };

class Unsure extends Error {}

/**
 * The items of a regex of the translator's shape `^(?:<body>)` with flag `u` (or no flag), or null
 * when the body holds anything but literals, ASCII sets and quantifiers.
 *
 * @example
 * ruleShape(/^(?:@d_[0-9]+:x\.org)/u);
 * // [literal '@d_', set [0-9] {1,Infinity}, literal ':x.org']
 */
export function ruleShape(regex: RegExp): ShapeItem[] | null {
  const unicode = regex.flags === 'u';
  if (!unicode && regex.flags !== '') return null;
  const src = regex.source;
  if (!src.startsWith('^(?:') || !src.endsWith(')')) return null;
  try {
    return new ShapeReader(src.slice(4, -1), unicode).items();
  } catch (err) {
    if (err instanceof Unsure) return null;
    throw err;
  }
}

class ShapeReader {
  readonly #body: string;
  readonly #unicode: boolean;
  #i = 0;

  constructor(body: string, unicode: boolean) {
    this.#body = body;
    this.#unicode = unicode;
  }

  items(): ShapeItem[] {
    const out: ShapeItem[] = [];
    const body = this.#body;
    // The characters of the literal run being read: joined once, as one flat string, when it ends.
    const run: number[] = [];
    while (this.#i < body.length) {
      let set: { mask: number[]; negated: boolean } | undefined;
      let char = -1;
      if (body[this.#i] === '[') set = this.#set();
      else char = this.#char(false);
      const quantified = this.#quantifier();
      if (quantified === null && set === undefined) {
        run.push(char);
        continue;
      }
      if (run.length > 0) out.push({ kind: 'literal', text: String.fromCharCode(...run) });
      run.length = 0;
      const { mask, negated } = set ?? { mask: maskOf(char), negated: false };
      const { min, max } = quantified ?? { min: 1, max: 1 };
      // Without `u` a negated set matches UTF-16 code units, with it code points: the count differs
      // on astral characters, so a bounded negated set is only read under `u`, where it is exact.
      if (negated && !this.#unicode && (min > 1 || max !== Infinity)) throw new Unsure();
      out.push({ kind: 'set', mask, negated, min, max });
    }
    if (run.length > 0) out.push({ kind: 'literal', text: String.fromCharCode(...run) });
    return out;
  }

  /** One literal character outside or inside a set: ASCII only, escapes that stand for one character. */
  #char(inSet: boolean): number {
    const body = this.#body;
    const ch = body[this.#i];
    if (ch === undefined) throw new Unsure();
    const code = body.charCodeAt(this.#i);
    if (ch === '\\') {
      const next = body.charCodeAt(this.#i + 1);
      if (Number.isNaN(next)) throw new Unsure();
      const escaped = body[this.#i + 1]!;
      if (next < 128 && !isAsciiAlnum(next)) {
        this.#i += 2;
        return next;
      }
      if (escaped in CONTROL_ESCAPES) {
        this.#i += 2;
        return CONTROL_ESCAPES[escaped]!;
      }
      const hex = /^x([0-9a-fA-F]{2})/.exec(body.slice(this.#i + 1, this.#i + 4));
      if (hex !== null && parseInt(hex[1]!, 16) < 128) {
        this.#i += 4;
        return parseInt(hex[1]!, 16);
      }
      throw new Unsure();
    }
    if (code >= 128) throw new Unsure();
    // Outside a set these are syntax; inside one `[`, `]` and `-` are read by #set.
    if (!inSet && '^$.*+?()[]{}|/'.includes(ch)) throw new Unsure();
    if (inSet && (ch === '[' || ch === ']')) throw new Unsure();
    this.#i++;
    return code;
  }

  /** `[...]` or `[^...]` of ASCII characters and ranges. */
  #set(): { mask: number[]; negated: boolean } {
    const body = this.#body;
    const mask = [0, 0, 0, 0];
    this.#i++;
    const negated = body[this.#i] === '^';
    if (negated) this.#i++;
    // `[]` and `[^]` mean nothing and anything; rare enough to leave to the regex.
    if (body[this.#i] === ']') throw new Unsure();
    while (body[this.#i] !== ']') {
      // An unescaped `-` is a literal only first or last; elsewhere leave the question to the regex.
      const first = body[this.#i] === '-' ? this.#dash() : this.#char(true);
      let last = first;
      if (body[this.#i] === '-' && body[this.#i + 1] !== ']') {
        this.#i++;
        last = body[this.#i] === '-' ? this.#dash() : this.#char(true);
        if (last < first) throw new Unsure();
      }
      for (let c = first; c <= last; c++) mask[c >> 5]! |= 1 << (c & 31);
    }
    this.#i++;
    return { mask, negated };
  }

  #dash(): number {
    const body = this.#body;
    const atStart = body[this.#i - 1] === '[' || (body[this.#i - 1] === '^' && body[this.#i - 2] === '[');
    if (!atStart && body[this.#i + 1] !== ']') throw new Unsure();
    this.#i++;
    return 45;
  }

  /** `*` `+` `?` `{n}` `{n,}` `{n,m}`, greedy or lazy (a test's answer does not depend on which), or null. */
  #quantifier(): { min: number; max: number } | null {
    const body = this.#body;
    const ch = body[this.#i];
    let q: { min: number; max: number };
    if (ch === '*') q = { min: 0, max: Infinity };
    else if (ch === '+') q = { min: 1, max: Infinity };
    else if (ch === '?') q = { min: 0, max: 1 };
    else if (ch === '{') {
      const m = /^\{(\d{1,4})(,(\d{0,4}))?\}/.exec(body.slice(this.#i, this.#i + 12));
      if (m === null) throw new Unsure();
      const min = Number(m[1]);
      const max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]);
      if (max < min) throw new Unsure();
      this.#i += m[0].length - 1;
      q = { min, max };
    } else return null;
    this.#i++;
    if (body[this.#i] === '?') this.#i++;
    // A quantifier straight after another is a syntax error the regex would have refused.
    const after = body[this.#i];
    if (after !== undefined && '*+?{'.includes(after)) throw new Unsure();
    return q;
  }
}

function maskOf(c: number): number[] {
  const mask = [0, 0, 0, 0];
  mask[c >> 5] = 1 << (c & 31);
  return mask;
}

function isAsciiAlnum(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}
