/**
 * An application service on loopback that behaves, for transactions, like a bridge built on
 * matrix-appservice (node): a JSON body over 5,000,000 bytes gets 413 (matrix-appservice's
 * body-parser limit), and transactions are deduplicated by txnId. Unlike matrix-appservice, which
 * remembers only the last txnId, it remembers every txnId it has accepted, so that an id that comes
 * back with other content (a new store reusing old ids) is caught: those events are counted as
 * dropped by the dedupe, which is exactly what a real bridge would silently do.
 *
 * It keeps only what the soak counts (the `n` of each event, a digest per txnId), never the
 * events themselves: the burst events are ~900 KB each.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** matrix-appservice's `MAX_SIZE_BYTES` (its body-parser `limit`). */
export const BRIDGE_BODY_LIMIT = 5_000_000;

interface SoakEvent {
  content?: { n?: unknown; p?: unknown; seq?: unknown };
}

export interface DeliveredEvent {
  readonly n: number;
  readonly p: number;
  readonly seq: number;
}

export class BodyLimitedBridge {
  /** Every event accepted, in arrival order (one entry per event, duplicates included). */
  readonly events: DeliveredEvent[] = [];
  /** TxnIds that came back with a different body: their events were dropped by the dedupe. */
  readonly conflicts: string[] = [];
  /** Events inside those conflicting bodies: what the dedupe dropped. */
  droppedByDedupe = 0;
  /** Bodies answered 413, and the size of the largest one. */
  refused = 0;
  largestRefused = 0;
  /** Bodies accepted, and the size of the largest one. */
  largestAccepted = 0;
  /** The `<birth>` part of every txnId accepted: one per store the bridge heard from. */
  readonly births = new Set<string>();

  readonly #hsToken: string;
  readonly #digests = new Map<string, string>();
  readonly #server: http.Server;

  private constructor(hsToken: string) {
    this.#hsToken = hsToken;
    this.#server = http.createServer((req, res) => void this.#handle(req, res));
  }

  /**
   * @example
   * const bridge = await BodyLimitedBridge.start('hs-token');
   * // registration url: bridge.url; after the soak: bridge.events, bridge.refused, bridge.droppedByDedupe
   */
  static async start(hsToken: string): Promise<BodyLimitedBridge> {
    const bridge = new BodyLimitedBridge(hsToken);
    await new Promise<void>((resolve, reject) => {
      bridge.#server.once('error', reject);
      bridge.#server.listen(0, '127.0.0.1', () => resolve());
    });
    return bridge;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  /** Transactions accepted (distinct txnIds). */
  get transactions(): number {
    return this.#digests.size;
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    // Read the whole body as body-parser does before express answers (so the client sees the
    // answer, not a reset), but stop keeping it once it is over the limit.
    const chunks: Buffer[] = [];
    let bytes = 0;
    for await (const chunk of req) {
      bytes += (chunk as Buffer).length;
      if (bytes <= BRIDGE_BODY_LIMIT) chunks.push(chunk as Buffer);
    }
    const answer = (status: number, body: object): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (req.headers.authorization !== `Bearer ${this.#hsToken}`) return answer(403, { errcode: 'M_FORBIDDEN' });
    const match = /^\/_matrix\/app\/v1\/transactions\/([^/]+)$/.exec(req.url ?? '');
    if (req.method === 'POST' && req.url === '/_matrix/app/v1/ping') return answer(200, {});
    if (req.method !== 'PUT' || match === null) return answer(404, { errcode: 'M_UNRECOGNIZED' });
    if (bytes > BRIDGE_BODY_LIMIT) {
      this.refused++;
      this.largestRefused = Math.max(this.largestRefused, bytes);
      return answer(413, { errcode: 'M_TOO_LARGE', error: 'request entity too large' });
    }
    const text = Buffer.concat(chunks).toString('utf8');
    let body: { events?: SoakEvent[] };
    try {
      body = JSON.parse(text) as { events?: SoakEvent[] };
    } catch {
      return answer(400, { errcode: 'M_NOT_JSON' });
    }
    const txnId = decodeURIComponent(match[1]!);
    const digest = createHash('sha256').update(text).digest('hex');
    const seen = this.#digests.get(txnId);
    if (seen !== undefined) {
      // A retry of a transaction already processed: answered 200 and ignored, as the spec says.
      if (seen !== digest) {
        if (!this.conflicts.includes(txnId)) this.conflicts.push(txnId);
        this.droppedByDedupe += body.events?.length ?? 0;
      }
      return answer(200, {});
    }
    this.#digests.set(txnId, digest);
    this.largestAccepted = Math.max(this.largestAccepted, bytes);
    const dot = txnId.indexOf('.');
    this.births.add(dot === -1 ? '(none)' : txnId.slice(0, dot));
    for (const event of body.events ?? []) {
      const { n, p, seq } = event.content ?? {};
      if (typeof n === 'number' && typeof p === 'number' && typeof seq === 'number') this.events.push({ n, p, seq });
    }
    return answer(200, {});
  }
}
