/**
 * A namespace regex that runs in linear time on any input.
 *
 * Namespace regexes run on ids that anonymous clients choose. V8's engine backtracks: a pattern
 * as ordinary as `@irc_(\w|\d)*:hs` takes tens of seconds on a 47-character id that almost
 * matches, and blocks the event loop all that time. RE2 (Google's engine, through the `re2`
 * native addon) matches in time linear in the input whatever the pattern: it never backtracks.
 *
 * The object is still a RegExp, built from the JS translation: its `source` and `flags` are what
 * the namespace index reads literal prefixes from, and what code written for RegExp inspects. Only
 * the matching goes to RE2: `test` and `exec` (which `match`, `replace` and `search` use) are
 * overridden. Derived regexes (`split`, `matchAll`) are plain RegExps (see `Symbol.species`).
 */
import RE2 from 're2';

export class LinearRegExp extends RegExp {
  /** Derived objects cannot carry the RE2 program: they are plain RegExps. */
  static override get [Symbol.species](): RegExpConstructor {
    return RegExp;
  }

  readonly #program: RE2;
  /** The pattern in RE2 syntax, as the linear engine runs it. */
  readonly linearSource: string;

  /**
   * `jsSource` and `re2Source` must accept the same strings (regex.ts and re2-syntax.ts emit both
   * from one parse). Throws the engine's error when RE2 refuses the pattern.
   *
   * @example
   * const re = new LinearRegExp('^(?:@irc_(?:\\w|\\d)*:hs)', 'u', '^(?:@irc_(?:\\w|\\d)*:hs)');
   * re.test(`@irc_${'a'.repeat(47)}!:hs`); // false, at once
   */
  constructor(jsSource: string, flags: string, re2Source: string) {
    super(jsSource, flags);
    if (this.global || this.sticky) throw new TypeError('LinearRegExp: the g and y flags are not supported');
    this.#program = new RE2(re2Source, 'u');
    this.linearSource = re2Source;
  }

  /** A Buffer, because the addon converts a string to UTF-8 several times slower than Buffer.from. */
  override test(value: string): boolean {
    return this.#program.test(Buffer.from(String(value), 'utf8'));
  }

  override exec(value: string): RegExpExecArray | null {
    return this.#program.exec(String(value));
  }
}
