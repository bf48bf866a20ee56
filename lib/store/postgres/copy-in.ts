/**
 * `COPY … FROM STDIN` inside one simple-protocol query string, on a `pg` client.
 *
 * COPY is PostgreSQL's cheapest way in for many rows: the server parses plain text lines (no
 * array literal to escape and reparse) and inserts them in batches. Sent as one Query message
 * with the statements around it (`COPY …; SELECT pg_notify(…)`), the whole string runs as one
 * implicit transaction, or inside the caller's open one, in a single round trip.
 *
 * `pg` takes any object with `submit(connection)` as a query and hands it the server's messages;
 * this is that object, kept to the messages such a query string can produce.
 */
import type pg from 'pg';

/** The part of `pg`'s Connection a submitted query writes to. */
interface CopyConnection {
  query(text: string): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
}

/** A client that accepts submittables: `pg.Client` and pooled clients do, pools do not. */
export type CopyClient = Pick<pg.ClientBase, 'query'>;

/** A COPY data message above this is split: the server buffers each message whole. */
const CHUNK_BYTES = 256 * 1024;
const FIRST_CHUNK_BYTES = 4096;
const EMPTY = Buffer.alloc(0);

/**
 * A field for COPY's text format: backslash, tab, newline and carriage return escaped, nothing
 * else (NUL cannot be stored at all and is refused before this).
 *
 * @example
 * ```ts
 * copyField('a\tb\\c'); // 'a\\tb\\\\c'
 * ```
 */
export function copyField(value: string): string {
  if (value.includes('\\')) value = value.replace(/\\/g, '\\\\');
  if (/[\t\n\r]/.test(value)) value = value.replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
  return value;
}

/**
 * COPY data in text format, written straight into buffers of about CHUNK_BYTES: a line is a
 * prefix and a suffix shared by many lines, already encoded, around one field encoded in place.
 * Building each line as a string first costs several times more: concatenations are ropes, and
 * each is flattened into a new string, then copied again into a buffer, then collected.
 *
 * @example
 * ```ts
 * const lines = new CopyLines();
 * lines.add(Buffer.from('irc\tevent\t'), copyField(json), Buffer.from('\t1764000000000\n'));
 * await copyIn(client, 'COPY t (a, k, j, e) FROM STDIN', lines.finish());
 * ```
 */
export class CopyLines {
  readonly #chunks: Buffer[] = [];
  // Allocated on the first line and doubled per chunk up to CHUNK_BYTES: an outbox enqueue of one
  // event would otherwise pay for a quarter of a megabyte.
  #buffer = EMPTY;
  #used = 0;
  #lines = 0;

  /** How many lines were added. */
  get lines(): number {
    return this.#lines;
  }

  /** Adds `prefix`, `field` (already escaped with copyField) in UTF-8, and `suffix`. */
  add(prefix: Buffer, field: string, suffix: Buffer): void {
    // A UTF-16 code unit takes at most 3 bytes in UTF-8.
    const most = prefix.length + field.length * 3 + suffix.length;
    if (this.#used + most > this.#buffer.length) {
      const grown = Math.min(CHUNK_BYTES, Math.max(FIRST_CHUNK_BYTES, this.#buffer.length * 2));
      this.#flush();
      this.#buffer = Buffer.allocUnsafe(Math.max(most, grown));
    }
    // TypedArray#set: Buffer#copy costs twice as much for a few bytes.
    this.#buffer.set(prefix, this.#used);
    this.#used += prefix.length;
    this.#used += this.#buffer.write(field, this.#used);
    this.#buffer.set(suffix, this.#used);
    this.#used += suffix.length;
    this.#lines++;
  }

  /** The data, in chunks; the lines cannot be added to afterwards. */
  finish(): Buffer[] {
    this.#flush();
    return this.#chunks;
  }

  #flush(): void {
    if (this.#used === 0) return;
    this.#chunks.push(this.#buffer.subarray(0, this.#used));
    this.#buffer = EMPTY;
    this.#used = 0;
  }
}

/**
 * Runs `sql` (a query string holding exactly one `COPY … FROM STDIN`) on `client`, feeding the
 * COPY with `data` (lines already in COPY's text format, or chunks of them as CopyLines makes). Rejects with the server's error; the
 * statements of the string are then all undone (or the caller's transaction is aborted).
 *
 * @example
 * ```ts
 * await copyIn(client, `COPY t (a, b) FROM STDIN; SELECT pg_notify('ch', 'x')`, ['1\tone\n']);
 * ```
 */
export function copyIn(client: CopyClient, sql: string, data: readonly (string | Buffer)[]): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const submittable = new CopySubmittable(sql, data, (err) => (err ? reject(err) : resolve()));
    (client.query as unknown as (query: CopySubmittable) => void)(submittable);
  });
}

class CopySubmittable {
  /**
   * Set by pg when the client has a `query_timeout`: its wrapper clears the timeout's timer, so it
   * must be called once the query is over.
   */
  callback?: (err: Error | null) => void;
  readonly #sql: string;
  readonly #data: readonly (string | Buffer)[];
  readonly #done: (err: Error | null) => void;
  #error: Error | null = null;
  #copied = false;
  #settled = false;

  constructor(sql: string, data: readonly (string | Buffer)[], done: (err: Error | null) => void) {
    this.#sql = sql;
    this.#data = data;
    this.#done = done;
  }

  submit(connection: CopyConnection): void {
    connection.query(this.#sql);
  }

  handleCopyInResponse(connection: CopyConnection): void {
    // A second COPY in the string would get no data: end it empty rather than hang.
    if (this.#copied) return connection.endCopyFrom();
    this.#copied = true;
    let chunk = '';
    for (const part of this.#data) {
      if (typeof part !== 'string') {
        if (chunk.length > 0) connection.sendCopyFromChunk(Buffer.from(chunk, 'utf8'));
        chunk = '';
        connection.sendCopyFromChunk(part);
        continue;
      }
      chunk += part;
      if (chunk.length >= CHUNK_BYTES) {
        connection.sendCopyFromChunk(Buffer.from(chunk, 'utf8'));
        chunk = '';
      }
    }
    if (chunk.length > 0) connection.sendCopyFromChunk(Buffer.from(chunk, 'utf8'));
    connection.endCopyFrom();
  }

  handleError(err: Error): void {
    // pg stops routing messages to a query once it has its error: settle now.
    this.#error ??= err;
    this.#finish();
  }

  handleReadyForQuery(): void {
    this.#finish();
  }

  // The other statements' results (pg_notify's row) are not needed.
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleCommandComplete(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}
  handleCopyData(): void {}

  #finish(): void {
    if (this.#settled) return;
    this.#settled = true;
    this.callback?.(this.#error);
    this.#done(this.#error);
  }
}
