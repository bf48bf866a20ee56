/**
 * Loading registrations: files, globs or already-parsed objects, validated one by one and then
 * against each other. A load fails as a whole (RegistrationLoadError listing every problem)
 * because a homeserver must never start with only some of its ASes.
 */
import { resolve } from 'node:path';
import { glob, isDynamicPattern } from 'tinyglobby';
import { LineCounter, parseDocument, type YAMLError } from 'yaml';
import { RegistrationError, RegistrationLoadError } from '../errors.ts';
import type { Registration } from './registration.ts';
import { pyyamlBooleans, readPlainYaml } from './fast-yaml.ts';
import { readBounded } from './read-bounded.ts';
import { toRegistration } from './schema.ts';

export interface LoadOptions {
  /** Directory that relative paths and globs are resolved against; default `process.cwd()`. */
  readonly cwd?: string;
}

/** A source string (file or glob) or an already-parsed registration object. */
export type RegistrationSource = string | Readonly<Record<string, unknown>>;

type Checked = { registration: Registration } | { errors: RegistrationError[] };

/**
 * The largest registration file read. Real ones are a few KiB; without a bound a 40 MB file took
 * 1.4 GB to parse (the YAML tree costs far more than the text).
 */
export const MAX_REGISTRATION_BYTES = 1024 * 1024;

/** Files read at once: enough to keep the thread pool busy, few enough to bound open handles. */
const FILES_AT_ONCE = 16;

/**
 * Loads, validates and cross-checks registrations. Strings are file paths or globs (a glob that
 * matches nothing and a missing file are errors); objects are parsed registrations, reported as
 * `<object #n>` with n their index in `sources`.
 *
 * @example
 * const registrations = await loadRegistrations(['./registrations/*.yaml'], { cwd: '/etc/synapse' });
 * // throws RegistrationLoadError: "registrations/irc.yaml: namespaces.users[1].regex: unterminated group in \"@irc_(.*\""
 */
export async function loadRegistrations(
  sources: ReadonlyArray<RegistrationSource>,
  options: LoadOptions = {},
): Promise<Registration[]> {
  const cwd = options.cwd ?? process.cwd();
  const errors: RegistrationError[] = [];
  const results: Checked[] = [];
  const seenFiles = new Set<string>();

  for (const [index, source] of sources.entries()) {
    if (typeof source !== 'string') {
      results.push(check(() => validateRegistration(source, `<object #${index}>`)));
      continue;
    }
    const files: string[] = [];
    for (const file of await expandSource(source, cwd, errors)) {
      const absolute = resolve(cwd, file);
      if (seenFiles.has(absolute)) continue; // listed twice (a glob and a path): one AS, not a duplicate
      seenFiles.add(absolute);
      files.push(file);
    }
    // A few files at a time, results kept in file order: one by one, a thousand registrations
    // spent their start-up waiting on the thread pool.
    for (let i = 0; i < files.length; i += FILES_AT_ONCE) {
      const batch = files.slice(i, i + FILES_AT_ONCE).map((file) => checkAsync(readRegistrationFile(file, cwd)));
      results.push(...(await Promise.all(batch)));
    }
  }

  const registrations: Registration[] = [];
  for (const result of results) {
    if ('errors' in result) errors.push(...result.errors);
    else registrations.push(result.registration);
  }
  errors.push(...crossCheckRegistrations(registrations));
  if (errors.length > 0) throw new RegistrationLoadError(errors);
  return registrations;
}

/**
 * The files a source string names: itself, or what the glob matches (sorted). A glob that
 * matches nothing adds a RegistrationError to `errors` and yields no file.
 *
 * @example
 * await expandSource('registrations/*.yaml', process.cwd(), errors); // ['registrations/irc.yaml', ...]
 */
export async function expandSource(source: string, cwd: string, errors: RegistrationError[]): Promise<string[]> {
  if (!isDynamicPattern(source)) return [source];
  const files = await glob(source, { cwd, onlyFiles: true, expandDirectories: false });
  if (files.length === 0) errors.push(new RegistrationError(source, '', 'no file matches this pattern'));
  return files.sort();
}

/**
 * Reads and validates one registration file (`file` relative to `cwd`, and named so in errors).
 * Throws RegistrationLoadError, also for a missing or unreadable file.
 *
 * @example
 * const registration = await readRegistrationFile('registrations/irc.yaml', '/etc/synapse');
 */
export async function readRegistrationFile(file: string, cwd: string = process.cwd()): Promise<Registration> {
  let bytes: Buffer;
  try {
    // One byte past the bound is enough to know the file is too large.
    bytes = await readBounded(resolve(cwd, file), MAX_REGISTRATION_BYTES + 1);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT'
        ? 'file not found'
        : code === 'EISDIR'
          ? 'is a directory, not a file'
          : `cannot read file (${code ?? 'error'})`;
    throw new RegistrationLoadError([new RegistrationError(file, '', reason, { cause: error })]);
  }
  if (bytes.length > MAX_REGISTRATION_BYTES) throw new RegistrationLoadError([tooLarge(file)]);
  return parseRegistration(bytes.toString('utf8'), file);
}

function tooLarge(file: string): RegistrationError {
  return new RegistrationError(
    file,
    '',
    `file too large: a registration file is at most ${MAX_REGISTRATION_BYTES / 1024 / 1024} MiB (${MAX_REGISTRATION_BYTES} bytes)`,
  );
}

/**
 * Why the yaml package refused the text, in words of our own: its messages quote the text (an
 * unquoted `as_token: !abc…` is read as a tag and comes back as "Unresolved tag: !abc…").
 */
const YAML_REASONS: Partial<Record<YAMLError['code'], string>> = {
  TAG_RESOLVE_FAILED: 'Unresolved tag (a value that starts with ! is a YAML tag: quote the value)',
  BAD_DQ_ESCAPE: 'invalid escape sequence in a double-quoted string',
  DUPLICATE_KEY: 'a key appears twice in one mapping',
  BAD_INDENT: 'bad indentation',
  TAB_AS_INDENT: 'a tab used as indentation',
  MISSING_CHAR: 'a closing quote or bracket is missing',
  MULTIPLE_DOCS: 'the file holds several YAML documents; a registration is one',
  BAD_ALIAS: 'an alias is not valid here',
  KEY_OVER_1024_CHARS: 'a key longer than 1024 characters',
  MULTILINE_IMPLICIT_KEY: 'a key spans several lines',
  BLOCK_AS_IMPLICIT_KEY: 'a block value used as a key',
  UNEXPECTED_TOKEN: 'unexpected text',
  RESOURCE_EXHAUSTION: 'too large or too deeply nested',
};

async function checkAsync(load: Promise<Registration>): Promise<Checked> {
  try {
    return { registration: await load };
  } catch (error) {
    if (error instanceof RegistrationLoadError) return { errors: [...error.errors] };
    throw error;
  }
}

function check(load: () => Registration): Checked {
  try {
    return { registration: load() };
  } catch (error) {
    if (error instanceof RegistrationLoadError) return { errors: [...error.errors] };
    throw error;
  }
}

/**
 * Parses one registration file's text (YAML 1.1, as PyYAML reads it for Synapse: unquoted
 * `yes`/`on` are booleans) and validates it. Throws RegistrationLoadError with every problem.
 *
 * @example
 * const registration = parseRegistration(await readFile('irc.yaml', 'utf8'), 'irc.yaml');
 */
export function parseRegistration(text: string, file: string): Registration {
  if (text.length > MAX_REGISTRATION_BYTES || Buffer.byteLength(text, 'utf8') > MAX_REGISTRATION_BYTES)
    throw new RegistrationLoadError([tooLarge(file)]);
  // Most files need nothing unusual: read those without the yaml package's document model.
  const plain = readPlainYaml(text);
  if (plain !== undefined) return validateRegistration(plain, file);
  const lineCounter = new LineCounter();
  // prettyErrors off: the pretty form quotes the offending line, which may hold a token.
  const doc = parseDocument(text, { version: '1.1', prettyErrors: false, lineCounter, customTags: pyyamlBooleans });
  // PyYAML's safe_load refuses what the yaml package only warns about (unknown tags such as
  // !!python/object), so a warning is an error here too; it is never printed.
  const problem = doc.errors[0] ?? doc.warnings[0];
  if (problem) {
    const { line, col } = lineCounter.linePos(problem.pos[0]);
    const reason = YAML_REASONS[problem.code] ?? `YAML error ${problem.code}`;
    // No cause either: its message is the yaml package's, with the file's text in it.
    throw new RegistrationLoadError([
      new RegistrationError(file, '', `invalid YAML at line ${line}, column ${col}: ${reason}`),
    ]);
  }
  let value: unknown;
  try {
    value = doc.toJS();
  } catch (error) {
    // yaml resolves aliases only here, and throws a ReferenceError for an alias without its
    // anchor or an alias bomb. Its message quotes the alias name, which is file text (it may be
    // a token), so neither it nor the error is passed on.
    const bomb = error instanceof Error && /alias count/i.test(error.message);
    const reason = bomb
      ? 'too many YAML aliases (an alias bomb?)'
      : 'a YAML alias refers to an anchor that is not defined before it';
    throw new RegistrationLoadError([new RegistrationError(file, '', `invalid YAML: ${reason}`)]);
  }
  if (value === null || value === undefined) {
    throw new RegistrationLoadError([
      new RegistrationError(file, '', 'empty file: expected a mapping of registration fields'),
    ]);
  }
  return validateRegistration(value, file);
}

/**
 * Validates an already-parsed registration. Throws RegistrationLoadError with every problem,
 * each a RegistrationError naming `file` and the field.
 *
 * @example
 * const registration = validateRegistration({ id: 'irc', url: null, ... }, '<object #0>');
 */
export function validateRegistration(value: unknown, file: string): Registration {
  const result = toRegistration(value, file);
  if ('problems' in result) {
    throw new RegistrationLoadError(result.problems.map((p) => new RegistrationError(file, p.field, p.reason)));
  }
  return result.registration;
}

/**
 * Checks that need every registration at once: duplicate `id`, duplicate `as_token`, duplicate
 * `hs_token`, an `as_token` equal to any `hs_token`. Messages name the other file, never a token.
 *
 * @example
 * const errors = crossCheckRegistrations(registrations); // [] when they can live together
 */
export function crossCheckRegistrations(registrations: readonly Registration[]): RegistrationError[] {
  const errors: RegistrationError[] = [];
  const byId = new Map<string, Registration>();
  const byAsToken = new Map<string, Registration>();
  const byHsToken = new Map<string, Registration>();
  for (const r of registrations) {
    const sameHs = byHsToken.get(r.hsToken);
    // A shared hs_token lets each of those ASes pose as the homeserver to the other.
    if (sameHs)
      errors.push(new RegistrationError(r.source, 'hs_token', `the same hs_token is already used by ${sameHs.source}`));
    else byHsToken.set(r.hsToken, r);
  }

  for (const r of registrations) {
    const sameId = byId.get(r.id);
    if (sameId)
      errors.push(
        new RegistrationError(r.source, 'id', `${JSON.stringify(r.id)} is already the id of ${sameId.source}`),
      );
    else byId.set(r.id, r);

    const sameAs = byAsToken.get(r.asToken);
    if (sameAs)
      errors.push(new RegistrationError(r.source, 'as_token', `the same as_token is already used by ${sameAs.source}`));
    else byAsToken.set(r.asToken, r);

    // An as_token equal to an hs_token would let that AS pose as the homeserver to the other one.
    const hs = byHsToken.get(r.asToken);
    if (hs) {
      const whose = hs === r ? 'its own hs_token' : `the hs_token of ${hs.source}`;
      errors.push(new RegistrationError(r.source, 'as_token', `must differ from ${whose}`));
    }
  }
  return errors;
}
