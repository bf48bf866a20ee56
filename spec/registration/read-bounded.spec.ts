import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readBounded } from '../../lib/registration/read-bounded.ts';

describe('readBounded', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'read-bounded-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Bytes that differ from one position to the next, so a chunk read twice or out of order shows. */
  function pattern(length: number): Buffer {
    return Buffer.from(Array.from({ length }, (_, i) => (i * 7 + (i >> 8)) % 251));
  }

  it('reads a file spanning several chunks byte for byte', async () => {
    const bytes = pattern(50_000);
    await writeFile(join(dir, 'long'), bytes);
    expect((await readBounded(join(dir, 'long'), 1_000_000)).equals(bytes)).to.equal(true);
  });

  it('stops at the limit, whatever the file size', async () => {
    const bytes = pattern(40_000);
    await writeFile(join(dir, 'over'), bytes);
    for (const limit of [1, 16_384, 16_385, 39_999, 40_000, 40_001]) {
      const read = await readBounded(join(dir, 'over'), limit);
      expect(read.equals(bytes.subarray(0, limit)), `limit ${limit}`).to.equal(true);
    }
  });

  it('reads an empty file as no bytes', async () => {
    await writeFile(join(dir, 'empty'), '');
    expect(await readBounded(join(dir, 'empty'), 10)).to.have.length(0);
  });

  it('rejects with the file system error for a missing file', async () => {
    const error = await readBounded(join(dir, 'missing'), 10).then(
      () => undefined,
      (e: unknown) => e as NodeJS.ErrnoException,
    );
    expect(error?.code).to.equal('ENOENT');
  });
});
