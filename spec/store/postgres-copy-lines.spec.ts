/**
 * PostgresStore's enqueue writes its COPY data straight into buffers (CopyLines): the bytes are
 * those of COPY's text format line by line, whatever the field holds (escapes, multi-byte
 * characters, a field larger than a chunk), and a real server stores exactly the items given.
 */
import { expect } from 'chai';
import pg from 'pg';
import { copyField, CopyLines } from '../../lib/store/postgres/copy-in.ts';
import { enqueueCopy } from '../../lib/store/postgres/enqueue.ts';
import { PostgresStore } from '../../lib/store/postgres/postgres-store.ts';
import { freshSchema } from '../support/postgres-server.ts';

describe('PostgresStore: COPY data written into buffers', function () {
  this.timeout(30_000);

  it('writes prefix, field and suffix of each line in UTF-8, in chunks, a field larger than a chunk included', () => {
    const lines = new CopyLines();
    const fields = ['plain', 'é ☃ 😀', 'x'.repeat(600_000), copyField('tab\there\\back\nline'), ''];
    for (const field of fields) lines.add(Buffer.from('a\tevent\t'), field, Buffer.from('\t7\n'));
    const chunks = lines.finish();
    expect(lines.lines).to.equal(fields.length);
    expect(chunks.length).to.be.greaterThan(1);
    expect(Buffer.concat(chunks).toString('utf8')).to.equal(fields.map((f) => `a\tevent\t${f}\t7\n`).join(''));
  });

  it('holds memory in proportion to what it was given (one small line is no quarter megabyte)', () => {
    const empty = new CopyLines();
    expect(empty.finish()).to.deep.equal([]);
    const one = new CopyLines();
    one.add(Buffer.from('a\tevent\t'), '{"n":1}', Buffer.from('\t7\n'));
    const [chunk] = one.finish();
    expect(chunk!.toString('utf8')).to.equal('a\tevent\t{"n":1}\t7\n');
    // A small allocation may be a slice of Node's shared pool (8 KiB on Node 20, larger on later ones).
    expect(chunk!.buffer.byteLength).to.be.at.most(Math.max(8192, Buffer.poolSize));
  });

  it('makes one line per AS of each item, the body escaped once', () => {
    const copy = enqueueCopy(
      '"s".queue',
      [{ items: [{ kind: 'event', json: '{"a":"\\t"}', asIds: ['x', 'y\tz', 'x'] }], enqueuedAt: 5 }],
      'ch',
    );
    expect(copy!.data.every((chunk) => Buffer.isBuffer(chunk))).to.equal(true);
    expect(Buffer.concat(copy!.data).toString('utf8')).to.equal(
      'x\tevent\t{"a":"\\\\t"}\t5\ny\\tz\tevent\t{"a":"\\\\t"}\t5\n',
    );
  });

  it('stores exactly the items given, across chunks', async () => {
    const { url, schema, drop } = await freshSchema();
    const store = new PostgresStore({ connectionString: url, schema });
    const admin = new pg.Client({ connectionString: url });
    try {
      await store.open();
      await admin.connect();
      const jsons = Array.from({ length: 3000 }, (_, n) =>
        JSON.stringify({ n, body: `line\n${n}\ttab \\ back é ☃ 😀 ${'p'.repeat(n % 200)}` }),
      );
      await store.enqueue(jsons.map((json, n) => ({ kind: n % 2 ? 'event' : 'ephemeral', json, asIds: ['a', 'b'] })));
      const { rows } = await admin.query<{ as_id: string; kind: string; json: string }>(
        `SELECT as_id, kind, json FROM "${schema}".queue ORDER BY seq`,
      );
      expect(rows).to.have.length(6000);
      expect(rows.filter((row) => row.as_id === 'a').map((row) => row.json)).to.deep.equal(jsons);
      expect(rows.slice(0, 4).map((row) => [row.as_id, row.kind])).to.deep.equal([
        ['a', 'ephemeral'],
        ['b', 'ephemeral'],
        ['a', 'event'],
        ['b', 'event'],
      ]);
    } finally {
      await store.close();
      await admin.end().catch(() => {});
      await drop();
    }
  });
});
