/**
 * A real application service on a loopback port, for tests of anything that talks to an AS.
 *
 * It checks the hs_token the way an AS must, records every request in order, answers user and
 * alias queries from sets or from async handlers (which may call back into the homeserver under
 * test, as a real bridge does while the homeserver's client request waits), keeps transactions
 * deduplicated by txnId, and answers ping and third-party lookups. Switches make it misbehave:
 * down, slow, a fixed status, flaky, garbage or oversized bodies, or knowing only the draft paths.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { notFound, parseBody, send, statusSwitch, unrecognized } from './mock-http.ts';
import type { Answer, StatusSwitch } from './mock-http.ts';
import { keysAnswer, mockRoute, thirdpartyAnswer } from './mock-routes.ts';
import type { MockAppServiceOptions, RecordedRequest, TransactionBody } from './mock-types.ts';

export type { MockAppServiceOptions, RecordedRequest, TransactionBody } from './mock-types.ts';

/**
 * @example
 * const as = await MockAppService.start({ hsToken: 'hs-secret', aliases: ['#irc_#a:hs'] });
 * // point a registration's url at as.url, exercise the homeserver, then:
 * expect(as.requests.map((r) => r.path)).to.include('/_matrix/app/v1/rooms/%23irc_%23a%3Ahs');
 * await as.close();
 */
export class MockAppService {
  readonly users: Set<string>;
  readonly aliases: Set<string>;
  readonly requests: RecordedRequest[] = [];
  readonly transactions = new Map<string, TransactionBody>();
  readonly events: unknown[] = [];
  readonly ephemeral: unknown[] = [];
  readonly toDevice: unknown[] = [];
  /** TxnIds that arrived again with a different body than the first time. */
  readonly conflicts: string[] = [];
  /** The `transaction_id` of every ping, in order. */
  readonly pings: (string | undefined)[] = [];

  readonly #options: MockAppServiceOptions;
  readonly #server: http.Server;
  readonly #sockets = new Set<Socket>();
  readonly #rawBodies = new Map<string, string>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #waiters: (() => void)[] = [];
  #port = 0;
  #listening = false;
  #slowMs = 0;
  #status: StatusSwitch | null = null;
  #flaky = 0;
  #garbage = false;
  #oversized: { bytes: number; chunked: boolean } | null = null;
  #legacyOnly: false | 'unrecognized' | 'bare' = false;
  #connections = 0;

  private constructor(options: MockAppServiceOptions) {
    this.#options = options;
    this.users = new Set(options.users ?? []);
    this.aliases = new Set(options.aliases ?? []);
    this.#server = http.createServer((req, res) => void this.#handle(req, res));
    this.#server.on('connection', (socket: Socket) => {
      this.#connections++;
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
  }

  /**
   * Starts a mock AS on 127.0.0.1 and an ephemeral port.
   *
   * @example
   * const as = await MockAppService.start({ hsToken: 'hs', onUserQuery: async (id) => createUser(id) });
   */
  static async start(options: MockAppServiceOptions): Promise<MockAppService> {
    const mock = new MockAppService(options);
    await mock.#listen(0);
    return mock;
  }

  /** TCP connections accepted so far (to see keep-alive at work). */
  get connections(): number {
    return this.#connections;
  }

  /** Base URL for a registration's `url`. */
  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  /** Resolves with the events once at least `n` have arrived; rejects after `timeoutMs`. */
  waitForEvents(n: number, timeoutMs = 5_000): Promise<unknown[]> {
    if (this.events.length >= n) return Promise.resolve(this.events.slice());
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (this.events.length < n) return;
        clearTimeout(timer);
        this.#waiters = this.#waiters.filter((w) => w !== check);
        resolve(this.events.slice());
      };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== check);
        reject(new Error(`MockAppService: ${this.events.length} of ${n} events after ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.push(check);
    });
  }

  /** Stops accepting: closes the listener and every open connection (the AS "crashed"). */
  async down(): Promise<void> {
    if (!this.#listening) return;
    this.#listening = false;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const socket of this.#sockets) socket.destroy();
    await closed;
  }

  /** Listens again on the same port after {@link down}. */
  async up(): Promise<void> {
    if (!this.#listening) await this.#listen(this.#port);
  }

  /** Waits `ms` before answering each request (0 turns it off). */
  slow(ms: number): void {
    this.#slowMs = ms;
  }

  /**
   * Answers every authorised request with `code` (a Matrix error body unless `body` is given),
   * for the next `times` requests or until `status(null)`.
   */
  status(
    code: number | null,
    options: { times?: number; headers?: Record<string, string>; body?: unknown } = {},
  ): void {
    this.#status = code === null ? null : statusSwitch(code, options);
  }

  /** With probability `p`, answers 500 instead of the real answer. */
  flaky(p: number): void {
    this.#flaky = p;
  }

  /** Answers 200 with a body that is not JSON. */
  garbage(on: boolean): void {
    this.#garbage = on;
  }

  /** Answers 200 with a body of `bytes` bytes (chunked: no content-length), or stops with null. */
  oversized(bytes: number | null, options: { chunked?: boolean } = {}): void {
    this.#oversized = bytes === null ? null : { bytes, chunked: options.chunked ?? true };
  }

  /**
   * Knows only the original draft's paths; v1 paths get 404 `M_UNRECOGNIZED`, or with
   * `'bare'` a 404 without a Matrix body. While off, the draft paths are the unknown ones.
   */
  legacyOnly(on: boolean, style: 'unrecognized' | 'bare' = 'unrecognized'): void {
    this.#legacyOnly = on ? style : false;
  }

  /** Forgets every request, transaction and event, and turns every switch off. */
  reset(): void {
    this.requests.length = 0;
    this.transactions.clear();
    this.#rawBodies.clear();
    this.events.length = 0;
    this.ephemeral.length = 0;
    this.toDevice.length = 0;
    this.conflicts.length = 0;
    this.pings.length = 0;
    this.#slowMs = 0;
    this.#status = null;
    this.#flaky = 0;
    this.#garbage = false;
    this.#oversized = null;
    this.#legacyOnly = false;
  }

  /** Closes the server and every connection. */
  async close(): Promise<void> {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    await this.down();
    for (const wake of this.#waiters.slice()) wake();
  }

  #listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, '127.0.0.1', () => {
        this.#server.off('error', reject);
        this.#port = (this.#server.address() as AddressInfo).port;
        this.#listening = true;
        resolve();
      });
    });
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://mock');
    const query = Object.fromEntries(url.searchParams);
    const header = req.headers.authorization;
    const token = header?.startsWith('Bearer ') ? header.slice(7) : (query.access_token ?? undefined);
    const tokenOk = token === this.#options.hsToken;
    this.requests.push({ method: req.method ?? 'GET', path: url.pathname, query, body: parseBody(text), tokenOk });
    if (this.#slowMs > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.#timers.delete(timer);
          resolve();
        }, this.#slowMs);
        this.#timers.add(timer);
      });
    }
    if (res.destroyed) return;
    let answer: Answer;
    try {
      answer = await this.#answer(req.method ?? 'GET', url.pathname, query, text, token, tokenOk);
    } catch (error) {
      answer = { status: 500, body: { errcode: 'M_UNKNOWN', error: String(error) } };
    }
    send(res, answer, this.#oversized);
  }

  async #answer(
    method: string,
    path: string,
    query: Record<string, string>,
    text: string,
    token: string | undefined,
    tokenOk: boolean,
  ): Promise<Answer> {
    if (token === undefined) return { status: 401, body: { errcode: 'M_UNAUTHORIZED', error: 'no hs_token given' } };
    if (!tokenOk) return { status: 403, body: { errcode: 'M_FORBIDDEN', error: 'wrong hs_token' } };
    // Routing comes first, as in a real AS: a path it does not know is 404 M_UNRECOGNIZED whatever
    // its handlers would do, so a homeserver's legacy-path fallback sees what it would see in the wild.
    const route = mockRoute(method, path, this.#legacyOnly);
    if (route.kind === 'bare-404') return { status: 404, raw: 'Not Found' };
    if (route.kind === 'unrecognized') return unrecognized();

    const forced = this.#status;
    if (forced !== null) {
      if (--forced.remaining <= 0) this.#status = null;
      return { status: forced.code, body: forced.body, headers: forced.headers };
    }
    if (this.#flaky > 0 && Math.random() < this.#flaky) {
      return { status: 500, body: { errcode: 'M_UNKNOWN', error: 'flaky' } };
    }
    if (this.#garbage) return { status: 200, raw: '<html>this is not JSON' };
    if (this.#oversized) return { status: 200 };

    switch (route.kind) {
      case 'user': {
        const yes = this.#options.onUserQuery ? await this.#options.onUserQuery(route.arg) : this.users.has(route.arg);
        return yes ? { status: 200, body: {} } : notFound();
      }
      case 'alias': {
        const { onAliasQuery } = this.#options;
        const yes = onAliasQuery ? await onAliasQuery(route.arg) : this.aliases.has(route.arg);
        return yes ? { status: 200, body: {} } : notFound();
      }
      case 'transaction':
        return this.#transaction(route.arg, text);
      case 'ping': {
        const body = parseBody(text) as { transaction_id?: string } | undefined;
        this.pings.push(body?.transaction_id);
        return { status: 200, body: {} };
      }
      case 'thirdparty':
        return thirdpartyAnswer(route.tail, query, this.#options);
      case 'keys':
        return keysAnswer(route.which, parseBody(text), this.#options);
    }
  }

  #transaction(txnId: string, text: string): Answer {
    const parsed = parseBody(text);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      return { status: 400, body: { errcode: 'M_NOT_JSON', error: 'transaction body is not a JSON object' } };
    }
    const first = this.#rawBodies.get(txnId);
    if (first !== undefined) {
      if (first !== text && !this.conflicts.includes(txnId)) this.conflicts.push(txnId);
      return { status: 200, body: {} };
    }
    const body = parsed as TransactionBody;
    this.#rawBodies.set(txnId, text);
    this.transactions.set(txnId, body);
    this.events.push(...(body.events ?? []));
    this.ephemeral.push(...(body.ephemeral ?? body['de.sorunome.msc2409.ephemeral'] ?? []));
    this.toDevice.push(...(body['de.sorunome.msc2409.to_device'] ?? []));
    for (const wake of this.#waiters.slice()) wake();
    return { status: 200, body: {} };
  }
}
