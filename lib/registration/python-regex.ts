/**
 * A parser for the subset of Python `re` syntax that namespace regexes use, producing a small
 * tree that regex.ts turns into a JS RegExp (and that lint walks to derive sample strings).
 *
 * Parsing ourselves, rather than patching the source text, is what lets us honour Python's
 * rules exactly: which escapes are literals (`\-`, `\#`, `\:` from `re.escape`), when `{` is a
 * quantifier, that `]` first in a set is a literal, and which constructs have no JS equivalent.
 * Every refusal is a `PythonRegexError` whose message is the reason, ready for an operator.
 */

export type ClassName = 'd' | 'D' | 'w' | 'W' | 's' | 'S';

export type SetItem =
  | { readonly type: 'range'; readonly from: number; readonly to: number }
  | { readonly type: 'class'; readonly name: ClassName };

export type GroupKind = 'capture' | 'named' | 'noncapture' | 'ahead' | 'nahead' | 'behind' | 'nbehind';

export type RegexNode =
  | { readonly type: 'char'; readonly cp: number }
  | { readonly type: 'any' }
  | { readonly type: 'set'; readonly negated: boolean; readonly items: readonly SetItem[] }
  | { readonly type: 'class'; readonly name: ClassName }
  | { readonly type: 'assert'; readonly kind: 'start' | 'end' | 'startA' | 'endZ' | 'b' | 'B' }
  | {
      readonly type: 'group';
      readonly kind: GroupKind;
      readonly name?: string;
      readonly alts: readonly (readonly RegexNode[])[];
    }
  | { readonly type: 'backref'; readonly ref: number | string }
  | {
      readonly type: 'repeat';
      readonly node: RegexNode;
      readonly min: number;
      readonly max: number;
      readonly lazy: boolean;
    };

/** Python's global flags that we can honour: IGNORECASE, DOTALL, VERBOSE and ASCII. */
export interface PythonFlags {
  readonly i: boolean;
  readonly s: boolean;
  readonly x: boolean;
  readonly a: boolean;
}

export interface ParsedPythonRegex {
  readonly flags: PythonFlags;
  readonly alts: readonly (readonly RegexNode[])[];
}

export class PythonRegexError extends Error {}

const OCTAL = /^[0-7]$/;
const DIGIT = /^[0-9]$/;
const HEX = /^[0-9a-fA-F]$/;
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
const CLASS_LETTERS = new Set(['d', 'D', 'w', 'W', 's', 'S']);
const SIMPLE_ESCAPES: Record<string, number> = { n: 10, t: 9, r: 13, f: 12, v: 11, a: 7 };

/**
 * Parses a Python `re` pattern. Throws PythonRegexError with the reason when the pattern is not
 * valid Python or uses something JS cannot express.
 *
 * @example
 * parsePythonRegex('(?i)@irc_(?P<nick>.*)').flags.i; // true
 */
export function parsePythonRegex(source: string): ParsedPythonRegex {
  return new Parser(source).parse();
}

class Parser {
  readonly #source: string;
  readonly #chars: string[];
  #pos = 0;
  /** Groups opened so far: Python refuses a reference to a group that does not exist yet. */
  #groupCount = 0;
  readonly #groupNames = new Set<string>();
  #flags = { i: false, s: false, x: false, a: false };

  constructor(source: string) {
    this.#source = source;
    this.#chars = Array.from(source); // code points, as Python indexes str
  }

  parse(): ParsedPythonRegex {
    this.#leadingFlags();
    const alts = this.#alternation(0);
    return { flags: { ...this.#flags }, alts };
  }

  #fail(reason: string): never {
    throw new PythonRegexError(`${reason} in ${JSON.stringify(this.#source)}`);
  }

  #peek(offset = 0): string | undefined {
    return this.#chars[this.#pos + offset];
  }

  #next(): string {
    const ch = this.#chars[this.#pos++];
    if (ch === undefined) this.#fail('unexpected end of pattern');
    return ch;
  }

  #lookingAt(text: string): boolean {
    return this.#chars.slice(this.#pos, this.#pos + text.length).join('') === text;
  }

  /** Python 3.11+ accepts global flags only at the very start; several groups may follow each other. */
  #leadingFlags(): void {
    for (;;) {
      const match = /^\(\?([a-zA-Z]+)\)/.exec(this.#chars.slice(this.#pos).join(''));
      if (!match) return;
      for (const letter of match[1]!) this.#setFlag(letter);
      this.#pos += match[0].length;
    }
  }

  #setFlag(letter: string): void {
    if (letter === 'i' || letter === 's' || letter === 'x' || letter === 'a') this.#flags[letter] = true;
    else if (letter === 'u')
      return; // the default for str patterns
    else if (letter === 'm')
      this.#fail('the (?m) flag is refused: it would let ^ match after a newline, and a namespace is one line');
    else if (letter === 'L') this.#fail('the (?L) flag is not valid for str patterns');
    else this.#fail(`unknown flag (?${letter})`);
  }

  #alternation(depth: number): RegexNode[][] {
    const alts: RegexNode[][] = [[]];
    for (;;) {
      const ch = this.#peek();
      if (ch === undefined) {
        if (depth > 0) this.#fail('unterminated group');
        return alts;
      }
      const seq = alts[alts.length - 1]!;
      if (this.#flags.x && /^\s$/.test(ch)) {
        this.#pos++;
      } else if (this.#flags.x && ch === '#') {
        while (this.#peek() !== undefined && this.#peek() !== '\n') this.#pos++;
      } else if (ch === '|') {
        this.#pos++;
        alts.push([]);
      } else if (ch === ')') {
        if (depth === 0) this.#fail('unbalanced parenthesis');
        this.#pos++;
        return alts;
      } else if (ch === '*' || ch === '+' || ch === '?' || (ch === '{' && this.#quantifierBraces())) {
        this.#quantify(seq);
      } else {
        const node = this.#atom(depth);
        if (node) seq.push(node);
      }
    }
  }

  /** Returns the atom at the cursor, or undefined for a construct that matches nothing (a comment). */
  #atom(depth: number): RegexNode | undefined {
    const ch = this.#next();
    switch (ch) {
      case '(':
        return this.#group(depth);
      case '[':
        return this.#set();
      case '.':
        return { type: 'any' };
      case '^':
        return { type: 'assert', kind: 'start' };
      case '$':
        return { type: 'assert', kind: 'end' };
      case '\\':
        return this.#escape(false);
      default:
        return { type: 'char', cp: ch.codePointAt(0)! };
    }
  }

  /** `{` is a quantifier only in the shapes Python accepts; anything else is a literal brace. */
  #quantifierBraces(): { min: number; max: number; length: number } | undefined {
    const rest = this.#chars.slice(this.#pos, this.#pos + 24).join('');
    const match = /^\{(\d*)(?:(,)(\d*))?\}/.exec(rest);
    if (!match || (match[1] === '' && match[2] === undefined)) return undefined;
    const min = match[1] === '' ? 0 : Number(match[1]);
    const max = match[2] === undefined ? min : match[3] === '' ? Infinity : Number(match[3]);
    return { min, max, length: match[0].length };
  }

  #quantify(seq: RegexNode[]): void {
    const braces = this.#peek() === '{' ? this.#quantifierBraces() : undefined;
    let min: number;
    let max: number;
    if (braces) {
      ({ min, max } = braces);
      this.#pos += braces.length;
      if (min > max) this.#fail('min repeat greater than max repeat');
    } else {
      const q = this.#next();
      [min, max] = q === '*' ? [0, Infinity] : q === '+' ? [1, Infinity] : [0, 1];
    }
    const last = seq.pop();
    if (!last || last.type === 'assert') this.#fail('nothing to repeat');
    if (last.type === 'repeat') this.#fail('multiple repeat');
    let lazy = false;
    if (this.#peek() === '?') {
      lazy = true;
      this.#pos++;
    } else if (this.#peek() === '+') {
      this.#fail('possessive quantifiers (*+, ++, ?+, {m,n}+) cannot be translated to JS');
    }
    seq.push({ type: 'repeat', node: last, min, max, lazy });
  }

  #group(depth: number): RegexNode | undefined {
    if (this.#peek() !== '?') {
      this.#groupCount++;
      return { type: 'group', kind: 'capture', alts: this.#alternation(depth + 1) };
    }
    this.#pos++;
    const simple: Record<string, GroupKind> = { ':': 'noncapture', '=': 'ahead', '!': 'nahead' };
    const ch = this.#peek();
    if (ch !== undefined && simple[ch]) {
      this.#pos++;
      return { type: 'group', kind: simple[ch], alts: this.#alternation(depth + 1) };
    }
    if (this.#lookingAt('<=') || this.#lookingAt('<!')) {
      this.#pos += 2;
      const kind = this.#chars[this.#pos - 1] === '=' ? 'behind' : 'nbehind';
      return { type: 'group', kind, alts: this.#alternation(depth + 1) };
    }
    if (this.#lookingAt('P<')) {
      this.#pos += 2;
      const name = this.#name('>');
      if (this.#groupNames.has(name)) this.#fail(`redefinition of group name ${JSON.stringify(name)}`);
      this.#groupNames.add(name);
      this.#groupCount++;
      return { type: 'group', kind: 'named', name, alts: this.#alternation(depth + 1) };
    }
    if (this.#lookingAt('P=')) {
      this.#pos += 2;
      const name = this.#name(')');
      if (!this.#groupNames.has(name)) this.#fail(`unknown group name ${JSON.stringify(name)}`);
      return { type: 'backref', ref: name };
    }
    if (ch === '#') {
      while (this.#peek() !== ')') this.#next();
      this.#pos++;
      return undefined;
    }
    if (ch === '<') this.#fail('(?<name>...) is not Python syntax (write (?P<name>...))');
    if (ch === '>') this.#fail('atomic groups (?>...) cannot be translated to JS');
    if (ch === '(') this.#fail('conditional groups (?(id)yes|no) cannot be translated to JS');
    const flags = /^-?[a-zA-Z]*(-[a-zA-Z]*)?[:)]/.exec(this.#chars.slice(this.#pos, this.#pos + 16).join(''));
    if (flags?.[0].endsWith(')')) this.#fail('global flags not at the start of the expression');
    if (flags)
      this.#fail(`scoped inline flags (?${flags[0]}...) cannot be translated to JS; use a leading (?i) instead`);
    this.#fail(`unknown extension (?${ch ?? ''}`);
  }

  #name(terminator: string): string {
    let name = '';
    while (this.#peek() !== terminator) {
      if (this.#peek() === undefined) this.#fail('missing group name terminator');
      name += this.#next();
    }
    this.#pos++;
    if (!IDENT.test(name)) this.#fail(`bad group name ${JSON.stringify(name)}`);
    return name;
  }

  #set(): RegexNode {
    let negated = false;
    if (this.#peek() === '^') {
      negated = true;
      this.#pos++;
    }
    const items: SetItem[] = [];
    let first = true;
    for (;;) {
      const ch = this.#peek();
      if (ch === undefined) this.#fail('unterminated character set');
      if (ch === ']' && !first) {
        this.#pos++;
        return { type: 'set', negated, items };
      }
      first = false;
      const lo = this.#setAtom();
      if (this.#peek() === '-' && this.#peek(1) !== ']' && this.#peek(1) !== undefined) {
        this.#pos++;
        const hi = this.#setAtom();
        if (lo.type !== 'range' || hi.type !== 'range' || lo.from > hi.from) this.#fail('bad character range');
        items.push({ type: 'range', from: lo.from, to: hi.from });
      } else {
        items.push(lo);
      }
    }
  }

  #setAtom(): SetItem {
    const ch = this.#next();
    if (ch !== '\\') return single(ch.codePointAt(0)!);
    const node = this.#escape(true);
    if (node.type === 'char') return single(node.cp);
    if (node.type === 'class') return { type: 'class', name: node.name };
    this.#fail('bad escape in character set');
  }

  /** After a backslash. Python refuses unknown ASCII-letter escapes and treats the rest as literals. */
  #escape(inSet: boolean): RegexNode {
    const ch = this.#peek();
    if (ch === undefined) this.#fail('bad escape (end of pattern)');
    this.#pos++;
    if (CLASS_LETTERS.has(ch)) return { type: 'class', name: ch as ClassName };
    const simple = SIMPLE_ESCAPES[ch];
    if (simple !== undefined) return { type: 'char', cp: simple };
    if (ch === 'b') return inSet ? { type: 'char', cp: 8 } : { type: 'assert', kind: 'b' };
    if (!inSet && (ch === 'B' || ch === 'A' || ch === 'Z'))
      return { type: 'assert', kind: ch === 'A' ? 'startA' : ch === 'Z' ? 'endZ' : 'B' };
    if (ch === 'x' || ch === 'u' || ch === 'U')
      return { type: 'char', cp: this.#hex(ch === 'x' ? 2 : ch === 'u' ? 4 : 8, ch) };
    if (ch === 'N') this.#fail('named Unicode escapes \\N{...} are not supported');
    if (DIGIT.test(ch)) return this.#numericEscape(ch, inSet);
    if (/^[A-Za-z]$/.test(ch)) this.#fail(`bad escape \\${ch}`);
    return { type: 'char', cp: ch.codePointAt(0)! };
  }

  #hex(length: number, letter: string): number {
    let digits = '';
    for (let n = 0; n < length; n++) {
      const d = this.#peek();
      if (d === undefined || !HEX.test(d)) this.#fail(`incomplete escape \\${letter}${digits}`);
      digits += this.#next();
    }
    const cp = Number.parseInt(digits, 16);
    if (cp > 0x10ffff) this.#fail(`bad escape \\${letter}${digits}`);
    return cp;
  }

  /** `\0`, `\012` and three-digit octals are characters; other digits are group references (not in sets). */
  #numericEscape(first: string, inSet: boolean): RegexNode {
    let digits = first;
    const octal = () => {
      while (digits.length < 3 && OCTAL.test(this.#peek() ?? '')) digits += this.#next();
      const cp = Number.parseInt(digits, 8);
      if (cp > 0o377) this.#fail(`octal escape value \\${digits} outside of range 0-0o377`);
      return { type: 'char', cp } as const;
    };
    if (first === '0') return octal();
    if (OCTAL.test(first) && OCTAL.test(this.#peek() ?? '') && OCTAL.test(this.#peek(1) ?? '')) return octal();
    if (inSet) {
      if (OCTAL.test(first)) return octal();
      this.#fail(`bad escape \\${first}`);
    }
    if (DIGIT.test(this.#peek() ?? '')) digits += this.#next();
    if (Number(digits) > this.#groupCount) this.#fail(`invalid group reference ${digits}`);
    return { type: 'backref', ref: Number(digits) };
  }
}

function single(cp: number): SetItem {
  return { type: 'range', from: cp, to: cp };
}
