import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { Pool } from 'undici';
import { Deadline } from '../../lib/client/deadline.ts';
import { exchange, type ExchangeOptions } from '../../lib/client/exchange.ts';
import { AppserviceRequestError } from '../../lib/errors.ts';

describe('exchange', () => {
  let server: http.Server;
  let pool: Pool;
  let answer: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  let connections = 0;

  before(async () => {
    server = http.createServer((req, res) => answer(req, res));
    server.on('connection', () => connections++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    pool = new Pool(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, { connections: 1 });
  });
  after(async () => {
    await pool.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const options = (extra: Partial<ExchangeOptions> = {}): ExchangeOptions => ({
    asId: 'irc',
    method: 'GET',
    shownPath: '/x',
    signal: undefined,
    maxBytes: 1_000_000,
    bodyWithinMs: 5_000,
    onTooLarge: undefined,
    discardSuccessBody: false,
    ...extra,
  });
  const get = (extra: Partial<ExchangeOptions> = {}) => exchange(pool, { path: '/x', method: 'GET' }, options(extra));
  const failure = (work: Promise<unknown>) =>
    work.then(
      () => expect.fail('resolved'),
      (error: unknown) => error as AppserviceRequestError,
    );

  it('reads a body whole, multi-byte characters across chunks included, with its status, JSON and Retry-After', async () => {
    answer = (_req, res) => {
      res.writeHead(200);
      res.end(Buffer.from('é'.repeat(100_000)));
    };
    expect((await get()).text).to.equal('é'.repeat(100_000));
    answer = (_req, res) => {
      res.writeHead(429, { 'retry-after': '3' });
      res.end('{"errcode":"M_LIMIT_EXCEEDED","retry_after_ms":500}');
    };
    const res = await get();
    expect(res).to.deep.include({ status: 429, retryAfterMs: 3_000, path: '/x' });
    expect(res.json).to.deep.equal({ errcode: 'M_LIMIT_EXCEEDED', retry_after_ms: 500 });
    answer = (_req, res) => {
      res.writeHead(429);
      res.end('{"errcode":"M_LIMIT_EXCEEDED","retry_after_ms":500}');
    };
    expect((await get()).retryAfterMs).to.equal(500);
  });

  it('refuses a body past the cap, declared or streamed, as a body error counted by onTooLarge', async () => {
    let tooLarge = 0;
    const onTooLarge = () => tooLarge++;
    answer = (_req, res) => {
      res.writeHead(200, { 'content-length': '10001' });
      res.end(Buffer.alloc(10_001, 0x61));
    };
    const declared = await failure(get({ maxBytes: 10_000, onTooLarge }));
    expect(declared).to.be.instanceOf(AppserviceRequestError);
    expect(declared.kind).to.equal('body');
    expect(declared.message).to.include('10001 bytes exceeds');
    answer = (_req, res) => {
      res.writeHead(200, { 'transfer-encoding': 'chunked' });
      res.write(Buffer.alloc(6_000, 0x61));
      setTimeout(() => res.end(Buffer.alloc(6_000, 0x61)), 10);
    };
    const streamed = await failure(get({ maxBytes: 10_000, onTooLarge }));
    expect(streamed.kind).to.equal('body');
    expect(tooLarge).to.equal(2);
  });

  it('the caller is told at its deadline even while the request waits for a connection', async () => {
    let release = (): void => {};
    answer = (_req, res) => {
      release = () => res.end('{}');
    };
    // The only connection is taken by a request the server holds.
    const holding = get();
    const deadline = new Deadline(50);
    const started = performance.now();
    const error = await failure(get({ signal: deadline }));
    expect(error.kind).to.equal('timeout');
    expect(performance.now() - started).to.be.below(1_000);
    deadline.dispose();
    release();
    expect((await holding).status).to.equal(200);
  });

  it('a discarded 2xx settles on its status; its small body is drained so the connection is reused', async () => {
    answer = (_req, res) => {
      res.writeHead(200);
      res.end('{"debug":"' + 'x'.repeat(1_000) + '"}');
    };
    await get(); // a connection is open
    const before = connections;
    const res = await get({ discardSuccessBody: true });
    expect(res).to.deep.include({ status: 200, text: '', json: undefined });
    await get();
    expect(connections).to.equal(before);
  });

  it('a discarded 2xx whose body never ends is dropped with its connection; a non-2xx is read as usual', async () => {
    answer = (_req, res) => {
      res.writeHead(200, { 'transfer-encoding': 'chunked' });
      res.write('{');
    };
    const res = await get({ discardSuccessBody: true });
    expect(res.status).to.equal(200);
    const before = connections;
    answer = (_req, res) => {
      res.writeHead(500);
      res.end('{"errcode":"M_UNKNOWN"}');
    };
    // The hung body holds the one connection until it is dropped (1 s); the next request gets a new one.
    const next = await get({ discardSuccessBody: true });
    expect(next.status).to.equal(500);
    expect(next.json).to.deep.equal({ errcode: 'M_UNKNOWN' });
    expect(connections).to.equal(before + 1);
  });
});
