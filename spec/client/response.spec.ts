import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { Pool } from 'undici';
import { parseJson, readCapped, ResponseTooLargeError, retryAfterFromBody } from '../../lib/client/response.ts';

describe('response', () => {
  let server: http.Server;
  let pool: Pool;
  let body: Buffer;

  before(async () => {
    server = http.createServer((_req, res) => {
      res.writeHead(200);
      res.end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    pool = new Pool(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  });
  after(async () => {
    await pool.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('reads a body whole, multi-byte characters across chunks included', async () => {
    body = Buffer.from('é'.repeat(100_000));
    expect(await readCapped(await pool.request({ path: '/', method: 'GET' }), 1_000_000, 5_000)).to.equal(
      'é'.repeat(100_000),
    );
  });

  it('refuses a body past the cap', async () => {
    body = Buffer.alloc(10_001, 0x61);
    const error = await readCapped(await pool.request({ path: '/', method: 'GET' }), 10_000, 5_000).catch(
      (e: unknown) => e,
    );
    expect(error).to.be.instanceOf(ResponseTooLargeError);
  });

  it('parses JSON or gives undefined', () => {
    expect(parseJson('{"a":1}')).to.deep.equal({ a: 1 });
    expect(parseJson('')).to.equal(undefined);
    expect(parseJson('<html>')).to.equal(undefined);
  });

  it('reads retry_after_ms only when it is a sane number', () => {
    expect(retryAfterFromBody({ retry_after_ms: 1500 })).to.equal(1500);
    for (const bad of [{ retry_after_ms: -1 }, { retry_after_ms: '5' }, { retry_after_ms: Infinity }, null, 'x', {}]) {
      expect(retryAfterFromBody(bad)).to.equal(undefined);
    }
  });
});
