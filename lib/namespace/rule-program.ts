/**
 * The check the namespace index runs for one rule once the id's literal prefix matched: a few ops
 * in an Int32Array that either decide the rule exactly without the regex engine, or fall back to
 * the required-literal check and the rule's regex.
 *
 * The exact check is linear by construction: every op moves forward over the id and never comes
 * back. It is taken only where it provably accepts exactly the strings the regex accepts (anchored
 * at the start, not at the end, as `test` on the translator's `^(?:...)` is):
 *  - a literal run must be there (`startsWith`);
 *  - a repeated set followed by items whose first character cannot be in the set takes the longest
 *    run it can (up to `max`): any shorter take leaves a character of the set where what follows
 *    needs one outside it, or what follows matches the empty string and so matches after the
 *    longest run too;
 *  - a repeated set followed only by a final literal (`.*:example\.org`) needs the first occurrence
 *    of the literal at least `min` characters on such that everything before it is in the set: a
 *    later occurrence only has more characters to be in the set.
 * Anything else (a set before something that may start inside it) keeps the regex. The strings and
 * sets the ops name are interned in {@link ProgramTables}, shared by every rule of an index: ten
 * thousand bridges spelling `:example.org` read one string, which stays in the caches.
 */
import { regexLiterals, type LiteralPrefix } from './literal-prefix.ts';
import { ruleShape, type SetItem, type ShapeItem } from './rule-shape.ts';

const OP_LITERAL = 1;
const OP_REPEAT = 2;
const OP_FIND = 3;
const OP_REGEX = 4;
/** `max` of a repeat without an upper bound. */
const UNBOUNDED = -1;

/** Strings, sets and regexes the programs of one index refer to by number. */
export class ProgramTables {
  readonly strings: string[] = [];
  /** 5 numbers per set: the 4 words of its ASCII mask, then 1 when negated. */
  sets = new Uint32Array(0);
  readonly regexes: RegExp[] = [];
  readonly #stringIds = new Map<string, number>();
  readonly #setIds = new Map<string, number>();
  #setWords: number[] = [];

  string(text: string): number {
    let id = this.#stringIds.get(text);
    if (id === undefined) {
      id = this.strings.push(text) - 1;
      this.#stringIds.set(text, id);
    }
    return id;
  }

  set(item: SetItem): number {
    const [a, b, c, d] = item.mask;
    const key = `${a},${b},${c},${d},${item.negated}`;
    let id = this.#setIds.get(key);
    if (id === undefined) {
      id = this.#setWords.length / 5;
      this.#setWords.push(a!, b!, c!, d!, item.negated ? 1 : 0);
      this.#setIds.set(key, id);
    }
    return id;
  }

  regex(regex: RegExp): number {
    return this.regexes.push(regex) - 1;
  }

  /** Call once every program is compiled, before the first lookup. */
  seal(): void {
    this.sets = Uint32Array.from(this.#setWords);
  }
}

/** What the index files for one rule: under which prefix, and the ops it runs past the prefix. */
export interface CompiledRule {
  readonly prefix: LiteralPrefix;
  /** A literal every match holds after the prefix, or '': checked before the regex. */
  readonly required: string;
  readonly ops: number[];
}

/**
 * The prefix and ops of one rule: exact ops when the regex has a shape {@link ruleShape} reads and
 * they can be proven equal to it, else the fallback (the required literal, then the regex), with
 * the prefix and required literal of {@link regexLiterals}.
 *
 * @example
 * compileRule(translateNamespaceRegex('@d_[0-9]+:x\\.org'), tables);
 * // { prefix: { text: '@d_', folded: false }, required: ':x.org', ops: [2, 0, 1, -1, 1, 0] }
 */
export function compileRule(regex: RegExp, tables: ProgramTables): CompiledRule {
  const shape = ruleShape(regex);
  if (shape !== null) {
    // Every match starts with the leading literal and holds each later one.
    const lead = shape[0]?.kind === 'literal' ? shape[0].text : '';
    let required = '';
    for (let i = lead === '' ? 0 : 1; i < shape.length; i++) {
      const item = shape[i]!;
      if (item.kind === 'literal' && item.text.length > required.length) required = item.text;
    }
    const prefix = lead === '' ? NO_PREFIX : { text: lead, folded: false };
    const ops = exactOps(lead === '' ? shape : shape.slice(1), tables);
    return { prefix, required, ops: ops ?? fallback(regex, required, tables) };
  }
  const { prefix, required } = regexLiterals(regex);
  return { prefix, required, ops: fallback(regex, required, tables) };
}

const NO_PREFIX: LiteralPrefix = Object.freeze({ text: '', folded: false });

function fallback(regex: RegExp, required: string, tables: ProgramTables): number[] {
  return [OP_REGEX, tables.regex(regex), required === '' ? -1 : tables.string(required)];
}

/**
 * Whether `ops` decide the rule without its regex.
 *
 * @example
 * isExact(compileRule(/^(?:@irc_.*)/u, tables).ops); // true
 */
export function isExact(ops: readonly number[]): boolean {
  return ops[0] !== OP_REGEX;
}

/** Ops for the items after the prefix, or null when the exact check cannot be proven equal to the regex. */
function exactOps(items: readonly ShapeItem[], tables: ProgramTables): number[] | null {
  const ops: number[] = [];
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!;
    if (item.kind === 'literal') {
      ops.push(OP_LITERAL, tables.string(item.text));
      continue;
    }
    const max = item.max === Infinity ? UNBOUNDED : item.max;
    if (disjoint(item, firstSets(items, i + 1))) {
      ops.push(OP_REPEAT, tables.set(item), item.min, max);
      continue;
    }
    const last = items[i + 1];
    // A negated set's `min` counts code points, find's counts code units: equal only up to 1.
    const countable = !item.negated || item.min <= 1;
    if (i + 2 === items.length && last?.kind === 'literal' && max === UNBOUNDED && countable) {
      ops.push(OP_FIND, tables.set(item), item.min, tables.string(last.text));
      return ops;
    }
    return null;
  }
  return ops;
}

/** The sets a match of items[from..] may start with (an empty match adds nothing). */
function firstSets(items: readonly ShapeItem[], from: number): { mask: number[]; nonAscii: boolean } {
  const mask = [0, 0, 0, 0];
  let nonAscii = false;
  for (let i = from; i < items.length; i++) {
    const item = items[i]!;
    if (item.kind === 'literal') {
      const c = item.text.charCodeAt(0);
      mask[c >> 5]! |= 1 << (c & 31);
      break;
    }
    for (let w = 0; w < 4; w++) mask[w]! |= item.negated ? ~item.mask[w]! : item.mask[w]!;
    nonAscii ||= item.negated;
    if (item.min > 0) break;
  }
  return { mask, nonAscii };
}

function disjoint(item: SetItem, next: { mask: readonly number[]; nonAscii: boolean }): boolean {
  if (item.negated && next.nonAscii) return false;
  for (let w = 0; w < 4; w++) {
    const own = item.negated ? ~item.mask[w]! : item.mask[w]!;
    if ((own & next.mask[w]!) !== 0) return false;
  }
  return true;
}

/**
 * Runs the ops `code[at, end)` on `value` from `pos` (where the rule's prefix ended).
 *
 * @example
 * runRule(code, at, end, '@d_12:x.org', 3, tables); // true
 */
export function runRule(
  code: Int32Array,
  at: number,
  end: number,
  value: string,
  pos: number,
  tables: ProgramTables,
): boolean {
  while (at < end) {
    const op = code[at]!;
    if (op === OP_LITERAL) {
      const text = tables.strings[code[at + 1]!]!;
      if (!value.startsWith(text, pos)) return false;
      pos += text.length;
      at += 2;
    } else if (op === OP_REPEAT) {
      pos = repeat(value, pos, code[at + 1]!, code[at + 2]!, code[at + 3]!, tables.sets);
      if (pos < 0) return false;
      at += 4;
    } else if (op === OP_FIND) {
      return find(value, pos, code[at + 1]!, code[at + 2]!, tables.strings[code[at + 3]!]!, tables.sets);
    } else {
      const required = code[at + 2]!;
      if (required >= 0 && !value.includes(tables.strings[required]!, pos)) return false;
      const regex = tables.regexes[code[at + 1]!]!;
      // A `g` or `y` flag's leftover lastIndex must not move where the regex starts.
      if (regex.global || regex.sticky) regex.lastIndex = 0;
      return regex.test(value);
    }
  }
  return true;
}

/**
 * The longest run (at most `max` characters, -1 for no bound) of set `set` from `pos`; where it
 * ends, or -1 when it is shorter than `min`. A negated set counts code points, as `u` does: a
 * surrogate pair is one character (a lone surrogate is one too, for V8 and for RE2 alike).
 */
function repeat(value: string, pos: number, set: number, min: number, max: number, sets: Uint32Array): number {
  const base = set * 5;
  const negated = sets[base + 4] === 1;
  let count = 0;
  while (pos < value.length && count !== max) {
    const c = value.charCodeAt(pos);
    if (c < 128) {
      if (((sets[base + (c >> 5)]! >>> (c & 31)) & 1) === (negated ? 1 : 0)) break;
      pos++;
    } else {
      if (!negated) break;
      const pair = c >= 0xd800 && c <= 0xdbff && (value.charCodeAt(pos + 1) & 0xfc00) === 0xdc00;
      pos += pair ? 2 : 1;
    }
    count++;
  }
  return count >= min ? pos : -1;
}

/** Is the first `text` at least `min` characters after `pos` preceded only by characters of `set`? */
function find(value: string, pos: number, set: number, min: number, text: string, sets: Uint32Array): boolean {
  // `min` counts characters; for a negated set (code points) it is at most 1, where one code unit
  // is one character.
  const at = value.indexOf(text, pos + min);
  if (at < 0) return false;
  const base = set * 5;
  const negated = sets[base + 4] === 1;
  for (let i = pos; i < at; i++) {
    const c = value.charCodeAt(i);
    const inSet = c < 128 ? (((sets[base + (c >> 5)]! >>> (c & 31)) & 1) === 1) !== negated : negated;
    if (!inSet) return false;
  }
  return true;
}
