/**
 * The tree python-regex.ts parses a Python `re` pattern into: what regex.ts spells as a JS
 * RegExp, re2-syntax.ts as RE2, and lint walks for sample strings. Apart from the parser so that
 * those readers depend on the shape, not on how it is parsed.
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

/** A pattern that is not valid Python, or that JS cannot express; the message is the reason, for an operator. */
export class PythonRegexError extends Error {}
