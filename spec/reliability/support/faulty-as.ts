/**
 * An application service that misbehaves on demand, at the level MockAppService cannot reach: a
 * raw `net.Server` owns every TCP connection and either keeps it silent (accepts, reads, never
 * writes a byte) or hands it to an `http.Server` that answers healthily or with one chosen fault.
 *
 * Healthy, it is a tiny but honest AS: it checks the hs_token, answers alias and user queries,
 * deduplicates transactions by txnId (as the spec asks an AS to) and records every event once.
 * The fault applies to every request (queries, transactions and pings alike).
 */
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo, Socket } from 'node:net';

export type Fault =
  | 'none'
  /** Nothing listens on the port: connect() is refused. */
  | 'refuse'
  /** Accepts the connection, reads the request, never writes anything. */
  | 'silent'
  /** Sends the status line and headers only after `lateHeadersMs`. */
  | 'late-headers'
  /** Sends headers at once, then a body of spaces, one byte every `dribbleMs`, without end (a transaction is taken first). */
  | 'dribble'
  /** 200 with a 10 MB body, chunked (no content-length). */
  | 'huge-chunked'
  /** 200 with a 10 MB body and an honest content-length. */
  | 'huge-declared'
  /** Handles the request, then answers 200 with a body that is not JSON. */
  | 'invalid-json'
  /** 302 to `redirectTo` (another host). */
  | 'redirect'
  | '401'
  | '403'
  /** Handles the request (a transaction is recorded), then sends half the answer and resets. */
  | 'close-mid-body';

export interface FaultyOptions {
  hsToken: string;
  /** Alias queries: may create the room on the homeserver first, as a bridge does. */
  onAlias?: (alias: string) => boolean | Promise<boolean>;
}

export const HUGE_BYTES = 10 * 1024 * 1024;

export class FaultyAppService {
  fault: Fault = 'none';
  lateHeadersMs = 30_000;
  dribbleMs = 100;
  redirectTo = 'http://127.0.0.1:9';
  /** Every event of every accepted transaction, once (transactions are deduplicated by txnId). */
  readonly events: { event_id?: string }[] = [];
  readonly transactions = new Map<string, string>();
  /** PUTs of a txnId seen before with a different body: must stay empty. */
  readonly conflicts: string[] = [];
  /** TCP connections accepted so far. */
  connections = 0;
  /** Most TCP connections open at once. */
  maxOpen = 0;
  /** Requests that reached the http layer, by kind, healthy or not. */
  readonly seen = { queries: 0, transactions: 0, pings: 0 };
  /** Bytes of huge bodies written so far (to see that the client hung up early). */
  hugeBytesWritten = 0;
  /** Huge bodies written to the end: stays 0 while clients hang up at their cap. */
  hugeCompleted = 0;
  readonly #options: FaultyOptions;
  readonly #tcp: net.Server;
  readonly #http: http.Server;
  readonly #sockets = new Set<Socket>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #port = 0;
  #listening = false;

  private constructor(options: FaultyOptions) {
    this.#options = options;
    this.#http = http.createServer((req, res) => void this.#handle(req, res));
    this.#tcp = net.createServer((socket) => {
      this.connections++;
      this.#sockets.add(socket);
      this.maxOpen = Math.max(this.maxOpen, this.#sockets.size);
      socket.once('close', () => this.#sockets.delete(socket));
      socket.on('error', () => {});
      if (this.fault === 'silent') {
        socket.resume(); // read and drop: the peer sees a connection that never answers
        return;
      }
      this.#http.emit('connection', socket);
    });
  }

  static async start(options: FaultyOptions): Promise<FaultyAppService> {
    const as = new FaultyAppService(options);
    await as.#listen(0);
    return as;
  }

  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  /** Switches the fault; 'refuse' closes the port, leaving it reopens it (same port). */
  async set(fault: Fault): Promise<void> {
    this.fault = fault;
    if (fault === 'refuse' && this.#listening) {
      this.#listening = false;
      const closed = new Promise<void>((resolve) => this.#tcp.close(() => resolve()));
      this.#dropAll();
      await closed;
    } else if (fault !== 'refuse' && !this.#listening) {
      await this.#listen(this.#port);
    }
  }

  /** Healthy again: also drops the connections a fault left hanging. */
  async heal(): Promise<void> {
    await this.set('none');
    this.#dropAll();
  }

  /** Resolves once `n` events arrived; rejects after `timeoutMs`. */
  async waitForEvents(n: number, timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.events.length < n) {
      if (Date.now() > until) throw new Error(`${this.events.length} of ${n} events after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  async close(): Promise<void> {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.#dropAll();
    if (this.#listening) {
      this.#listening = false;
      await new Promise<void>((resolve) => this.#tcp.close(() => resolve()));
    }
    this.#http.close();
  }

  #dropAll(): void {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    for (const socket of this.#sockets) socket.destroy();
  }

  #listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#tcp.once('error', reject);
      this.#tcp.listen(port, '127.0.0.1', () => {
        this.#tcp.off('error', reject);
        this.#port = (this.#tcp.address() as AddressInfo).port;
        this.#listening = true;
        resolve();
      });
    });
  }

  #later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      fn();
    }, ms);
    this.#timers.add(timer);
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    res.on('error', () => {});
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const isPing = path.endsWith('/ping');
    if (isPing) this.seen.pings++;
    else if (req.method === 'PUT') this.seen.transactions++;
    else this.seen.queries++;
    const fault = this.fault;
    if (fault === 'close-mid-body') {
      const [status, body] = await this.#healthy(req, path, text);
      const payload = JSON.stringify({ ...body, padding: 'x'.repeat(200) });
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
      res.write(payload.slice(0, 20), () => res.socket?.destroy());
      return;
    }
    switch (fault) {
      case 'silent':
        return; // a keep-alive connection opened before the fault: it goes quiet too
      case 'late-headers':
        return this.#later(this.lateHeadersMs, () => void this.#answer(req, res, path, text));
      case 'dribble': {
        // A transaction answered 2xx is taken, whatever the body that follows.
        if (req.method === 'PUT') await this.#healthy(req, path, text);
        res.writeHead(200, { 'content-type': 'application/json' });
        const drip = (): void => {
          if (res.destroyed) return;
          res.write(' ');
          this.#later(this.dribbleMs, drip);
        };
        return drip();
      }
      case 'huge-chunked':
      case 'huge-declared':
        if (req.method === 'PUT') await this.#healthy(req, path, text);
        return this.#huge(res, fault === 'huge-declared');
      case 'invalid-json':
        await this.#healthy(req, path, text); // took the transaction, then answers nonsense
        res.writeHead(200, { 'content-type': 'application/json' });
        return void res.end('{"this is": not json');
      case 'redirect':
        res.writeHead(302, { location: `${this.redirectTo}${req.url ?? '/'}` });
        return void res.end();
      case '401':
      case '403':
        res.writeHead(Number(fault), { 'content-type': 'application/json' });
        return void res.end(JSON.stringify({ errcode: 'M_FORBIDDEN', error: `mock ${fault}` }));
      default:
        return this.#answer(req, res, path, text);
    }
  }

  async #answer(req: http.IncomingMessage, res: http.ServerResponse, path: string, text: string): Promise<void> {
    if (res.destroyed) return;
    const [status, body] = await this.#healthy(req, path, text);
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  #huge(res: http.ServerResponse, declared: boolean): void {
    if (declared) res.setHeader('content-length', HUGE_BYTES);
    res.writeHead(200, { 'content-type': 'application/json' });
    const block = Buffer.alloc(64 * 1024, 0x20);
    let left = HUGE_BYTES;
    const pump = (): void => {
      while (left > 0 && !res.destroyed) {
        const n = Math.min(left, block.length);
        left -= n;
        this.hugeBytesWritten += n;
        if (!res.write(block.subarray(0, n))) return void res.once('drain', pump);
      }
      if (!res.destroyed) {
        this.hugeCompleted++;
        res.end();
      }
    };
    pump();
  }

  async #healthy(req: http.IncomingMessage, path: string, text: string): Promise<[number, Record<string, unknown>]> {
    if (req.headers.authorization !== `Bearer ${this.#options.hsToken}`)
      return [403, { errcode: 'M_FORBIDDEN', error: 'bad token' }];
    const [, , , , head, ...rest] = path.split('/'); // '', _matrix, app, v1, head, ...
    const arg = decodeURIComponent(rest.join('/'));
    if (req.method === 'PUT' && head === 'transactions') {
      const first = this.transactions.get(arg);
      if (first === undefined) {
        this.transactions.set(arg, text);
        const body = JSON.parse(text) as { events?: { event_id?: string }[] };
        this.events.push(...(body.events ?? []));
      } else if (first !== text) {
        this.conflicts.push(arg);
      }
      return [200, {}];
    }
    if (req.method === 'GET' && head === 'rooms') {
      const yes = (await this.#options.onAlias?.(arg)) ?? false;
      return yes ? [200, {}] : [404, { errcode: 'M_NOT_FOUND', error: 'no such alias' }];
    }
    if (req.method === 'GET' && head === 'users') return [404, { errcode: 'M_NOT_FOUND', error: 'no such user' }];
    if (req.method === 'POST' && head === 'ping') return [200, {}];
    return [404, { errcode: 'M_UNRECOGNIZED', error: 'unknown endpoint' }];
  }
}
