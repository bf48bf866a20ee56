/**
 * A cursor over a pattern's code points (Python indexes str by code point, so `\u{1F600}` is one
 * character to it), shared by the parser and the escape reader. `fail` names the whole pattern, so
 * every refusal reads the same wherever it is raised.
 */
import { PythonRegexError } from './python-regex-tree.ts';

export class PatternReader {
  readonly #source: string;
  readonly #chars: string[];
  /** Index of the next code point; the parser skips and backs over text by moving it. */
  pos = 0;

  constructor(source: string) {
    this.#source = source;
    this.#chars = Array.from(source);
  }

  fail(reason: string): never {
    throw new PythonRegexError(`${reason} in ${JSON.stringify(this.#source)}`);
  }

  peek(offset = 0): string | undefined {
    return this.#chars[this.pos + offset];
  }

  next(): string {
    const ch = this.#chars[this.pos++];
    if (ch === undefined) this.fail('unexpected end of pattern');
    return ch;
  }

  lookingAt(text: string): boolean {
    return this.ahead(text.length) === text;
  }

  /** Up to `length` code points from the cursor (the rest without it), for matching a construct's shape. */
  ahead(length = Infinity): string {
    return this.#chars.slice(this.pos, this.pos + length).join('');
  }
}
