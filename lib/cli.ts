/**
 * The `koa-appservice` command. `lint` checks registration files the way `appservices()` loads
 * them and prints one report per file; `serve` runs the reference homeserver of examples/ (a
 * checkout only: examples/ is not in the published package).
 *
 * Exit codes: 0 all files valid (warnings do not fail), 1 some file invalid, 2 usage error.
 */
import { pathToFileURL } from 'node:url';
import { RegistrationLoadError, type RegistrationError } from './errors.ts';
import { crossCheckRegistrations, expandSource, readRegistrationFile } from './registration/load.ts';
import type { Registration } from './registration/registration.ts';
import { registrationWarnings } from './registration/warnings.ts';
import { flagNotes } from './registration/flag-notes.ts';

/** Where main() writes; `process` fits, and so does a pair of string collectors in tests. */
export interface CliIo {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
}

const USAGE = `Usage: koa-appservice <command> [options]

Commands:
  lint <files...>   Check application service registration files (paths or globs) the way
                    the homeserver loads them: schema, regexes, and clashes between files.
                    Exit 0 when all are valid (warnings do not fail), 1 otherwise.
  serve             Run the reference homeserver with your registrations, for trying a
                    bridge (from a checkout): serve --registration <file>... [--port] [--db]
                    [--log-level]. Logs through pino (pino-pretty on a terminal).
                    See koa-appservice serve --help.

Options:
  -h, --help        Show this help.
`;

/**
 * Runs the CLI and resolves to the exit code; never calls process.exit, so it can be tested
 * in-process. Relative paths and globs are resolved against `options.cwd` (default the process's).
 *
 * @example
 * process.exitCode = await main(['lint', 'registrations/irc.yaml'], process);
 */
export async function main(
  argv: readonly string[],
  io: CliIo,
  options: { readonly cwd?: string } = {},
): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined) {
    io.stderr.write(USAGE);
    return 2;
  }
  if (command === '-h' || command === '--help' || command === 'help') {
    io.stdout.write(USAGE);
    return 0;
  }
  switch (command) {
    case 'lint':
      return lint(rest, io, options.cwd ?? process.cwd());
    case 'serve':
      return serve(rest, io, options.cwd);
    default:
      io.stderr.write(`koa-appservice: unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
      return 2;
  }
}

interface ServeModule {
  serve(argv: readonly string[], io: CliIo, options: { cwd?: string }): Promise<number>;
}

/**
 * The reference homeserver lives in examples/, which only a checkout has. Loaded lazily (lint never
 * pays for Koa and SQLite) and by a computed URL, so the build does not pull examples/ into dist.
 * From dist/lib/cli.js the TypeScript source is two levels up and needs tsx (a dev dependency).
 */
async function serve(args: readonly string[], io: CliIo, cwd: string | undefined): Promise<number> {
  const fromSource = import.meta.url.endsWith('.ts');
  const target = new URL(fromSource ? '../examples/serve.ts' : '../../examples/serve.ts', import.meta.url);
  let module: ServeModule;
  try {
    if (!fromSource) {
      const { register } = await import('tsx/esm/api');
      register();
    }
    module = (await import(target.href)) as ServeModule;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ERR_MODULE_NOT_FOUND') throw error;
    io.stderr.write('koa-appservice serve: the reference homeserver is in examples/, which only a git checkout has\n');
    return 2;
  }
  return module.serve(args, io, cwd === undefined ? {} : { cwd });
}

interface FileReport {
  readonly file: string;
  registration?: Registration;
  readonly errors: RegistrationError[];
}

async function lint(args: readonly string[], io: CliIo, cwd: string): Promise<number> {
  if (args.includes('-h') || args.includes('--help')) {
    io.stdout.write(USAGE);
    return 0;
  }
  const unknown = args.find((a) => a.startsWith('-'));
  if (unknown !== undefined) {
    io.stderr.write(`koa-appservice lint: unknown option ${JSON.stringify(unknown)}\n\n${USAGE}`);
    return 2;
  }
  if (args.length === 0) {
    io.stderr.write(`koa-appservice lint: no files given\n\n${USAGE}`);
    return 2;
  }

  const reports: FileReport[] = [];
  const byFile = new Map<string, FileReport>();
  for (const arg of args) {
    const globErrors: RegistrationError[] = [];
    const files = await expandSource(arg, cwd, globErrors);
    for (const error of globErrors) reports.push({ file: arg, errors: [error] });
    for (const file of files) {
      if (byFile.has(file)) continue;
      const report: FileReport = { file, errors: [] };
      try {
        report.registration = await readRegistrationFile(file, cwd);
      } catch (error) {
        if (!(error instanceof RegistrationLoadError)) throw error;
        report.errors.push(...error.errors);
      }
      reports.push(report);
      byFile.set(file, report);
    }
  }

  const valid = reports.flatMap((r) => (r.registration ? [r.registration] : []));
  for (const error of crossCheckRegistrations(valid)) {
    const report = byFile.get(error.file);
    if (report) {
      report.errors.push(error);
      delete report.registration;
    }
  }

  for (const report of reports) io.stdout.write(formatReport(report));
  const stillValid = reports.flatMap((r) => (r.registration ? [r.registration] : []));
  const warnings = registrationWarnings(stillValid);
  for (const w of warnings) io.stdout.write(`⚠ ${w.source}: ${w.field}: ${w.message}\n`);
  for (const n of flagNotes(stillValid)) io.stdout.write(`ℹ ${n.source}: ${n.field}: ${n.message}\n`);

  const invalid = reports.filter((r) => r.errors.length > 0).length;
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  io.stdout.write(
    `\n${plural(reports.length, 'file')}: ${stillValid.length} valid, ${invalid} invalid, ${plural(warnings.length, 'warning')}\n`,
  );
  return invalid === 0 ? 0 : 1;
}

function formatReport(report: FileReport): string {
  const r = report.registration;
  if (r && report.errors.length === 0) {
    const n = r.namespaces;
    return `✓ ${report.file}: ${r.id} (${n.users.length} user, ${n.aliases.length} alias, ${n.rooms.length} room namespaces)\n`;
  }
  const lines = report.errors.map((e) => `    ${e.field ? `${e.field}: ` : ''}${e.reason}\n`);
  return `✗ ${report.file}\n${lines.join('')}`;
}

// `node --import tsx lib/cli.ts lint …` (the package's lint:registrations script) runs it directly.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2), process);
}
