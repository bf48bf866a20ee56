/**
 * A parser for the subset of Python `re` syntax that namespace regexes use, producing a small
 * tree that regex.ts turns into a JS RegExp (and that lint walks to derive sample strings).
 *
 * Parsing ourselves, rather than patching the source text, is what lets us honour Python's
 * rules exactly: which escapes are literals (`\-`, `\#`, `\:` from `re.escape`), when `{` is a
 * quantifier, that `]` first in a set is a literal, and which constructs have no JS equivalent.
 * Every refusal is a `PythonRegexError` whose message is the reason, ready for an operator.
 */

import { readEscape } from './python-regex-escape.ts';
import { PatternReader } from './python-regex-reader.ts';
import type { GroupKind, ParsedPythonRegex, RegexNode, SetItem } from './python-regex-tree.ts';

export { PythonRegexError } from './python-regex-tree.ts';
export type { ClassName, GroupKind, ParsedPythonRegex, PythonFlags, RegexNode, SetItem } from './python-regex-tree.ts';

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

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
  readonly #in: PatternReader;
  /** Groups opened so far: Python refuses a reference to a group that does not exist yet. */
  #groupCount = 0;
  readonly #groupNames = new Set<string>();
  #flags = { i: false, s: false, x: false, a: false };

  constructor(source: string) {
    this.#in = new PatternReader(source);
  }

  parse(): ParsedPythonRegex {
    this.#leadingFlags();
    const alts = this.#alternation(0);
    return { flags: { ...this.#flags }, alts };
  }

  /** Python 3.11+ accepts global flags only at the very start; several groups may follow each other. */
  #leadingFlags(): void {
    for (;;) {
      const match = /^\(\?([a-zA-Z]+)\)/.exec(this.#in.ahead());
      if (!match) return;
      for (const letter of match[1]!) this.#setFlag(letter);
      this.#in.pos += match[0].length;
    }
  }

  #setFlag(letter: string): void {
    if (letter === 'i' || letter === 's' || letter === 'x' || letter === 'a') this.#flags[letter] = true;
    else if (letter === 'u')
      return; // the default for str patterns
    else if (letter === 'm')
      this.#in.fail('the (?m) flag is refused: it would let ^ match after a newline, and a namespace is one line');
    else if (letter === 'L') this.#in.fail('the (?L) flag is not valid for str patterns');
    else this.#in.fail(`unknown flag (?${letter})`);
  }

  #alternation(depth: number): RegexNode[][] {
    const alts: RegexNode[][] = [[]];
    for (;;) {
      const ch = this.#in.peek();
      if (ch === undefined) {
        if (depth > 0) this.#in.fail('unterminated group');
        return alts;
      }
      const seq = alts[alts.length - 1]!;
      if (this.#flags.x && /^\s$/.test(ch)) {
        this.#in.pos++;
      } else if (this.#flags.x && ch === '#') {
        while (this.#in.peek() !== undefined && this.#in.peek() !== '\n') this.#in.pos++;
      } else if (ch === '|') {
        this.#in.pos++;
        alts.push([]);
      } else if (ch === ')') {
        if (depth === 0) this.#in.fail('unbalanced parenthesis');
        this.#in.pos++;
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
    const ch = this.#in.next();
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
        return readEscape(this.#in, false, this.#groupCount);
      default:
        return { type: 'char', cp: ch.codePointAt(0)! };
    }
  }

  /** `{` is a quantifier only in the shapes Python accepts; anything else is a literal brace. */
  #quantifierBraces(): { min: number; max: number; length: number } | undefined {
    const rest = this.#in.ahead(24);
    const match = /^\{(\d*)(?:(,)(\d*))?\}/.exec(rest);
    if (!match || (match[1] === '' && match[2] === undefined)) return undefined;
    const min = match[1] === '' ? 0 : Number(match[1]);
    const max = match[2] === undefined ? min : match[3] === '' ? Infinity : Number(match[3]);
    return { min, max, length: match[0].length };
  }

  #quantify(seq: RegexNode[]): void {
    const braces = this.#in.peek() === '{' ? this.#quantifierBraces() : undefined;
    let min: number;
    let max: number;
    if (braces) {
      ({ min, max } = braces);
      this.#in.pos += braces.length;
      if (min > max) this.#in.fail('min repeat greater than max repeat');
    } else {
      const q = this.#in.next();
      [min, max] = q === '*' ? [0, Infinity] : q === '+' ? [1, Infinity] : [0, 1];
    }
    const last = seq.pop();
    if (!last || last.type === 'assert') this.#in.fail('nothing to repeat');
    if (last.type === 'repeat') this.#in.fail('multiple repeat');
    let lazy = false;
    if (this.#in.peek() === '?') {
      lazy = true;
      this.#in.pos++;
    } else if (this.#in.peek() === '+') {
      this.#in.fail('possessive quantifiers (*+, ++, ?+, {m,n}+) cannot be translated to JS');
    }
    seq.push({ type: 'repeat', node: last, min, max, lazy });
  }

  #group(depth: number): RegexNode | undefined {
    if (this.#in.peek() !== '?') {
      this.#groupCount++;
      return { type: 'group', kind: 'capture', alts: this.#alternation(depth + 1) };
    }
    this.#in.pos++;
    const simple: Record<string, GroupKind> = { ':': 'noncapture', '=': 'ahead', '!': 'nahead' };
    const ch = this.#in.peek();
    if (ch !== undefined && simple[ch]) {
      this.#in.pos++;
      return { type: 'group', kind: simple[ch], alts: this.#alternation(depth + 1) };
    }
    if (this.#in.lookingAt('<=') || this.#in.lookingAt('<!')) {
      this.#in.pos += 2;
      const kind = this.#in.peek(-1) === '=' ? 'behind' : 'nbehind';
      return { type: 'group', kind, alts: this.#alternation(depth + 1) };
    }
    if (this.#in.lookingAt('P<')) {
      this.#in.pos += 2;
      const name = this.#name('>');
      if (this.#groupNames.has(name)) this.#in.fail(`redefinition of group name ${JSON.stringify(name)}`);
      this.#groupNames.add(name);
      this.#groupCount++;
      return { type: 'group', kind: 'named', name, alts: this.#alternation(depth + 1) };
    }
    if (this.#in.lookingAt('P=')) {
      this.#in.pos += 2;
      const name = this.#name(')');
      if (!this.#groupNames.has(name)) this.#in.fail(`unknown group name ${JSON.stringify(name)}`);
      return { type: 'backref', ref: name };
    }
    if (ch === '#') {
      while (this.#in.peek() !== ')') this.#in.next();
      this.#in.pos++;
      return undefined;
    }
    if (ch === '<') this.#in.fail('(?<name>...) is not Python syntax (write (?P<name>...))');
    if (ch === '>') this.#in.fail('atomic groups (?>...) cannot be translated to JS');
    if (ch === '(') this.#in.fail('conditional groups (?(id)yes|no) cannot be translated to JS');
    const flags = /^-?[a-zA-Z]*(-[a-zA-Z]*)?[:)]/.exec(this.#in.ahead(16));
    if (flags?.[0].endsWith(')')) this.#in.fail('global flags not at the start of the expression');
    if (flags)
      this.#in.fail(`scoped inline flags (?${flags[0]}...) cannot be translated to JS; use a leading (?i) instead`);
    this.#in.fail(`unknown extension (?${ch ?? ''}`);
  }

  #name(terminator: string): string {
    let name = '';
    while (this.#in.peek() !== terminator) {
      if (this.#in.peek() === undefined) this.#in.fail('missing group name terminator');
      name += this.#in.next();
    }
    this.#in.pos++;
    if (!IDENT.test(name)) this.#in.fail(`bad group name ${JSON.stringify(name)}`);
    return name;
  }

  #set(): RegexNode {
    let negated = false;
    if (this.#in.peek() === '^') {
      negated = true;
      this.#in.pos++;
    }
    const items: SetItem[] = [];
    let first = true;
    for (;;) {
      const ch = this.#in.peek();
      if (ch === undefined) this.#in.fail('unterminated character set');
      if (ch === ']' && !first) {
        this.#in.pos++;
        return { type: 'set', negated, items };
      }
      first = false;
      const lo = this.#setAtom();
      if (this.#in.peek() === '-' && this.#in.peek(1) !== ']' && this.#in.peek(1) !== undefined) {
        this.#in.pos++;
        const hi = this.#setAtom();
        if (lo.type !== 'range' || hi.type !== 'range' || lo.from > hi.from) this.#in.fail('bad character range');
        items.push({ type: 'range', from: lo.from, to: hi.from });
      } else {
        items.push(lo);
      }
    }
  }

  #setAtom(): SetItem {
    const ch = this.#in.next();
    if (ch !== '\\') return single(ch.codePointAt(0)!);
    const node = readEscape(this.#in, true, this.#groupCount);
    if (node.type === 'char') return single(node.cp);
    if (node.type === 'class') return { type: 'class', name: node.name };
    this.#in.fail('bad escape in character set');
  }
}

function single(cp: number): SetItem {
  return { type: 'range', from: cp, to: cp };
}
