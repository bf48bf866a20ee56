/**
 * What follows a backslash in a Python `re` pattern. Python's rules differ from JS's here more than
 * anywhere: unknown ASCII-letter escapes are errors, other escaped characters are literals (`\-`,
 * `\#`, `\:` from `re.escape`), `\b` is a backspace inside a set, and digits are octal or a group
 * reference depending on how many follow and where.
 */
import type { PatternReader } from './python-regex-reader.ts';
import type { ClassName, RegexNode } from './python-regex-tree.ts';

const OCTAL = /^[0-7]$/;
const DIGIT = /^[0-9]$/;
const HEX = /^[0-9a-fA-F]$/;
const CLASS_LETTERS = new Set(['d', 'D', 'w', 'W', 's', 'S']);
const SIMPLE_ESCAPES: Record<string, number> = { n: 10, t: 9, r: 13, f: 12, v: 11, a: 7 };

/** After a backslash. Python refuses unknown ASCII-letter escapes and treats the rest as literals. */
export function readEscape(input: PatternReader, inSet: boolean, groupCount: number): RegexNode {
  const ch = input.peek();
  if (ch === undefined) input.fail('bad escape (end of pattern)');
  input.pos++;
  if (CLASS_LETTERS.has(ch)) return { type: 'class', name: ch as ClassName };
  const simple = SIMPLE_ESCAPES[ch];
  if (simple !== undefined) return { type: 'char', cp: simple };
  if (ch === 'b') return inSet ? { type: 'char', cp: 8 } : { type: 'assert', kind: 'b' };
  if (!inSet && (ch === 'B' || ch === 'A' || ch === 'Z'))
    return { type: 'assert', kind: ch === 'A' ? 'startA' : ch === 'Z' ? 'endZ' : 'B' };
  if (ch === 'x' || ch === 'u' || ch === 'U')
    return { type: 'char', cp: hex(input, ch === 'x' ? 2 : ch === 'u' ? 4 : 8, ch) };
  if (ch === 'N') input.fail('named Unicode escapes \\N{...} are not supported');
  if (DIGIT.test(ch)) return numericEscape(input, ch, inSet, groupCount);
  if (/^[A-Za-z]$/.test(ch)) input.fail(`bad escape \\${ch}`);
  return { type: 'char', cp: ch.codePointAt(0)! };
}

function hex(input: PatternReader, length: number, letter: string): number {
  let digits = '';
  for (let n = 0; n < length; n++) {
    const d = input.peek();
    if (d === undefined || !HEX.test(d)) input.fail(`incomplete escape \\${letter}${digits}`);
    digits += input.next();
  }
  const cp = Number.parseInt(digits, 16);
  if (cp > 0x10ffff) input.fail(`bad escape \\${letter}${digits}`);
  return cp;
}

/** `\0`, `\012` and three-digit octals are characters; other digits are group references (not in sets). */
function numericEscape(input: PatternReader, first: string, inSet: boolean, groupCount: number): RegexNode {
  let digits = first;
  const octal = () => {
    while (digits.length < 3 && OCTAL.test(input.peek() ?? '')) digits += input.next();
    const cp = Number.parseInt(digits, 8);
    if (cp > 0o377) input.fail(`octal escape value \\${digits} outside of range 0-0o377`);
    return { type: 'char', cp } as const;
  };
  if (first === '0') return octal();
  if (OCTAL.test(first) && OCTAL.test(input.peek() ?? '') && OCTAL.test(input.peek(1) ?? '')) return octal();
  if (inSet) {
    if (OCTAL.test(first)) return octal();
    input.fail(`bad escape \\${first}`);
  }
  if (DIGIT.test(input.peek() ?? '')) digits += input.next();
  if (Number(digits) > groupCount) input.fail(`invalid group reference ${digits}`);
  return { type: 'backref', ref: Number(digits) };
}
