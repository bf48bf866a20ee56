/**
 * Finds the types that the package's public signatures name but no entry point exports: a
 * consumer can receive such a value but cannot write its type down.
 *
 * It reads what consumers read: the declarations `tsc` emits for lib/ (private members and
 * bodies gone, inferred types written out). From every export of every entry point in
 * package.json it follows each type reference that resolves to a declaration in lib/.
 *
 * @example
 * const missing = await unexportedPublicTypes();
 * // [{ name: 'EnqueueOptions', file: 'lib/store/store.d.ts', via: 'Appservices' }]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import ts from 'typescript';

const ROOT = resolve(import.meta.dirname, '../../..');

export interface UnexportedType {
  /** The type's name. */
  readonly name: string;
  /** Its declaration file, relative to the emitted tree (lib/...d.ts). */
  readonly file: string;
  /** The exported name through which it was reached first. */
  readonly via: string;
}

/** lib/ source files of the package.json entry points (`./dist/lib/x.js` → `lib/x.ts`). */
export function entrySources(): string[] {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    exports: Record<string, string | { default?: string }>;
  };
  const out: string[] = [];
  for (const target of Object.values(pkg.exports)) {
    const file = typeof target === 'string' ? target : target.default;
    if (file === undefined || !file.startsWith('./dist/lib/') || !file.endsWith('.js')) continue;
    out.push(file.slice('./dist/'.length, -'.js'.length) + '.ts');
  }
  return out;
}

function emitDeclarations(outDir: string): void {
  const config = ts.getParsedCommandLineOfConfigFile(
    join(ROOT, 'tsconfig.build.json'),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
      },
    },
  );
  if (!config) throw new Error('tsconfig.build.json: unreadable');
  const options: ts.CompilerOptions = {
    ...config.options,
    outDir,
    rootDir: ROOT,
    declaration: true,
    emitDeclarationOnly: true,
    sourceMap: false,
    declarationMap: false,
    noEmit: false,
  };
  const program = ts.createProgram(config.fileNames, options);
  const result = program.emit();
  const errors = result.diagnostics.filter((d) => d.category === ts.DiagnosticCategory.Error);
  if (errors.length > 0) throw new Error(ts.formatDiagnostics(errors, ts.createCompilerHost(options)));
}

/** Every type declared in lib/ that an exported signature reaches and no entry point exports. */
export function unexportedPublicTypes(): UnexportedType[] {
  // Inside the project so that the emitted files resolve koa, pg, undici… from its node_modules.
  const outDir = mkdtempSync(join(ROOT, 'node_modules', '.public-types-'));
  try {
    emitDeclarations(outDir);
    const entries = entrySources().map((f) => join(outDir, f.replace(/\.ts$/, '.d.ts')));
    const program = ts.createProgram(entries, {
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      strict: true,
      noEmit: true,
      skipLibCheck: true,
    });
    const checker = program.getTypeChecker();
    const inLib = (d: ts.Declaration): boolean => !relative(outDir, d.getSourceFile().fileName).startsWith('..');
    const resolveAlias = (s: ts.Symbol): ts.Symbol =>
      s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s;

    const exported = new Set<ts.Symbol>();
    const queue: { symbol: ts.Symbol; via: string }[] = [];
    for (const entry of entries) {
      const source = program.getSourceFile(entry);
      const moduleSymbol = source && checker.getSymbolAtLocation(source);
      if (!moduleSymbol) throw new Error(`${entry}: not emitted`);
      for (const s of checker.getExportsOfModule(moduleSymbol)) {
        const target = resolveAlias(s);
        exported.add(target);
        queue.push({ symbol: target, via: s.name });
      }
    }

    const seen = new Set<ts.Symbol>();
    const missing = new Map<ts.Symbol, UnexportedType>();
    const reach = (node: ts.Node, via: string): void => {
      let symbol: ts.Symbol | undefined;
      if (ts.isTypeReferenceNode(node)) symbol = checker.getSymbolAtLocation(node.typeName);
      else if (ts.isExpressionWithTypeArguments(node)) symbol = checker.getSymbolAtLocation(node.expression);
      else if (ts.isTypeQueryNode(node)) symbol = checker.getSymbolAtLocation(node.exprName);
      else if (ts.isImportTypeNode(node) && node.qualifier) symbol = checker.getSymbolAtLocation(node.qualifier);
      if (symbol) queue.push({ symbol: resolveAlias(symbol), via });
      ts.forEachChild(node, (child) => reach(child, via));
    };
    while (queue.length > 0) {
      const { symbol, via } = queue.shift()!;
      if (seen.has(symbol)) continue;
      seen.add(symbol);
      const declarations = (symbol.declarations ?? []).filter(inLib);
      if (declarations.length === 0) continue;
      const isType = symbol.flags & (ts.SymbolFlags.Type | ts.SymbolFlags.Class | ts.SymbolFlags.Enum);
      if (isType && !exported.has(symbol)) {
        const file = relative(outDir, declarations[0]!.getSourceFile().fileName);
        missing.set(symbol, { name: symbol.name, file, via });
      }
      for (const d of declarations) reach(d, via);
    }
    return [...missing.values()].sort((a, b) => a.name.localeCompare(b.name));
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
}
