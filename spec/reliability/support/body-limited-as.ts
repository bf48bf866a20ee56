/**
 * An application service behind a request body limit, as bridges built on matrix-appservice-node
 * (body-parser, 5 000 000 bytes), behind nginx (`client_max_body_size 1m`) or on aiohttp are: a
 * transaction whose declared length passes `limit` gets 413 without its body being read.
 * Otherwise it is an honest AS: it checks the hs_token, deduplicates transactions by txnId and
 * records every event once.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export class BodyLimitedAppService {
  /** Bytes; change it at any time (an operator raising the bridge's limit). */
  limit: number;
  readonly events: { event_id?: string }[] = [];
  /** Bodies of accepted transactions by txnId. */
  readonly accepted = new Map<string, string>();
  /** TxnIds answered 413, in order (an id may come back only with the same body). */
  readonly refused: string[] = [];
  /** TxnIds that came again with another body: must stay empty. */
  readonly conflicts: string[] = [];
  readonly #hsToken: string;
  readonly #server: http.Server;

  private constructor(hsToken: string, limit: number) {
    this.#hsToken = hsToken;
    this.limit = limit;
    this.#server = http.createServer((req, res) => void this.#handle(req, res));
  }

  static async start(hsToken: string, limit: number): Promise<BodyLimitedAppService> {
    const as = new BodyLimitedAppService(hsToken, limit);
    await new Promise<void>((resolve) => as.#server.listen(0, '127.0.0.1', resolve));
    return as;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const answer = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (req.headers.authorization !== `Bearer ${this.#hsToken}`) return answer(403, { errcode: 'M_FORBIDDEN' });
    const txn = /^\/_matrix\/app\/v1\/transactions\/([^/?]+)/.exec(req.url ?? '');
    if (req.method !== 'PUT' || !txn) {
      req.resume();
      return answer(200, {});
    }
    const txnId = decodeURIComponent(txn[1]!);
    if (Number(req.headers['content-length']) > this.limit) {
      this.refused.push(txnId);
      // The body is not read; the connection is not reused.
      res.setHeader('connection', 'close');
      return answer(413, { errcode: 'M_TOO_LARGE', error: 'request entity too large' });
    }
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const first = this.accepted.get(txnId);
    if (first !== undefined) {
      if (first !== text) this.conflicts.push(txnId);
      return answer(200, {});
    }
    this.accepted.set(txnId, text);
    this.events.push(...((JSON.parse(text) as { events?: { event_id?: string }[] }).events ?? []));
    answer(200, {});
  }
}
