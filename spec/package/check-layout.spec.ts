import { expect } from 'chai';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkLayout, MAX_LINES } from '../../scripts/check-layout.ts';

describe('scripts/check-layout', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'check-layout-'));
    mkdirSync(join(dir, 'push'));
  });

  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const write = (file: string, text: string): void => writeFileSync(join(dir, file), text);

  it('passes a tree of short files that import each other one way', () => {
    write('a.ts', "import { b } from './push/b.ts';\nexport const a = b;\n");
    write('push/b.ts', 'export const b = 1;\n');
    expect(checkLayout(dir)).to.deep.equal({ long: [], cycles: [] });
  });

  it(`reports a file over ${MAX_LINES} lines, and not one of exactly ${MAX_LINES}`, () => {
    write('long.ts', 'export {};\n'.repeat(MAX_LINES + 1));
    write('full.ts', 'export {};\n'.repeat(MAX_LINES));
    expect(checkLayout(dir).long).to.deep.equal([{ file: 'long.ts', lines: MAX_LINES + 1 }]);
  });

  it('reports a cycle through type-only and dynamic imports, naming each file once', () => {
    write('push/sender.ts', "import type { Senders } from './senders.ts';\nexport type S = Senders;\n");
    write('push/senders.ts', "export async function f() { return import('./relay.ts'); }\nexport type Senders = 1;\n");
    write('push/relay.ts', "import { type S } from './sender.ts';\nexport type R = S;\n");
    write('apart.ts', "import type { R } from './push/relay.ts';\nexport type A = R;\n");
    expect(checkLayout(dir).cycles).to.deep.equal([['push/relay.ts', 'push/sender.ts', 'push/senders.ts']]);
  });

  it('reports a file that imports itself', () => {
    write('self.ts', "export * from './self.ts';\n");
    expect(checkLayout(dir).cycles).to.deep.equal([['self.ts']]);
  });
});
