#!/usr/bin/env node
// The published package runs the compiled CLI; a checkout without a build runs the TypeScript
// source through tsx, so `npx koa-appservice` works in both.
import { existsSync } from 'node:fs';

const compiled = new URL('../dist/lib/cli.js', import.meta.url);
let cli;
if (existsSync(compiled)) {
  cli = await import(compiled.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  cli = await import(new URL('../lib/cli.ts', import.meta.url).href);
}
process.exitCode = await cli.main(process.argv.slice(2), process);
