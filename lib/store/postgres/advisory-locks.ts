/**
 * PostgresStore's sender locks: session-level advisory locks (`pg_try_advisory_lock`) held on one
 * dedicated connection, outside the pool. A lock lives exactly as long as that session, so when
 * the holder dies, even by SIGKILL, the server sees the socket close, ends the session and frees
 * the lock; the next `electSender` poll elsewhere wins it.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import { StoreError } from '../../errors.ts';
import type { SenderLock } from '../store.ts';

/**
 * A stable signed 64-bit advisory-lock key for a name (the first 8 bytes of its SHA-256), as the
 * decimal text PostgreSQL casts to `bigint`. Stable across processes, versions and platforms.
 *
 * @example
 * ```ts
 * await client.query('SELECT pg_try_advisory_lock($1::bigint)', [advisoryLockKey('koa-appservice:sender:irc')]);
 * ```
 */
export function advisoryLockKey(name: string): string {
  return createHash('sha256').update(name, 'utf8').digest().readBigInt64BE(0).toString();
}

interface Held {
  readonly key: string;
  readonly markLost: () => void;
}

/**
 * Advisory locks on one dedicated connection, for PostgresStore. Every lock of a store shares the
 * connection: when it dies, all of them are lost together, and the next attempt reconnects. A
 * heartbeat query notices a connection that died silently (a half-open TCP link) while locks are held.
 *
 * @example
 * ```ts
 * const locks = new AdvisoryLocks(() => new pg.Client({ connectionString }), 'postgres://db/hs', 5000);
 * const lock = await locks.tryAcquire('koa-appservice:sender:public:irc');
 * ```
 */
export class AdvisoryLocks {
  readonly #newClient: () => pg.Client;
  readonly #where: string;
  readonly #heartbeatMs: number;
  #client: pg.Client | null = null;
  #connecting: Promise<pg.Client> | null = null;
  readonly #held = new Map<string, Held>();
  #heartbeat: NodeJS.Timeout | null = null;
  #ending: Promise<void> = Promise.resolve();
  #closed = false;
  readonly #channels = new Map<string, (payload: string | null) => void>();
  /** Whether a session has existed before: a new one may have missed notifications. */
  #reconnecting = false;

  /**
   * Locks on a connection of their own to the server `config` names (PostgresStore's pool config).
   *
   * @example
   * ```ts
   * const locks = AdvisoryLocks.forConfig({ connectionString }, 5000, 'postgres://db/hs', 5000);
   * ```
   */
  static forConfig(config: pg.ClientConfig, connectTimeoutMs: number, where: string, heartbeatMs: number) {
    const newClient = () =>
      new pg.Client({
        ...config,
        keepAlive: true,
        connectionTimeoutMillis: connectTimeoutMs,
        application_name: 'koa-appservice sender lock',
        // Its queries never wait on a lock, so a slow one means a dead link: drop it, reconnect.
        query_timeout: Math.max(connectTimeoutMs, 5000),
      });
    return new AdvisoryLocks(newClient, where, heartbeatMs);
  }

  constructor(newClient: () => pg.Client, where: string, heartbeatMs: number) {
    this.#newClient = newClient;
    this.#where = where;
    this.#heartbeatMs = heartbeatMs;
  }

  /** The lock named `name`, or null when another session, or another caller here, holds it. */
  async tryAcquire(name: string): Promise<SenderLock | null> {
    if (this.#closed) throw new StoreError(`PostgreSQL ${this.#where}: the store is closed`);
    if (this.#held.has(name)) return null;
    const key = advisoryLockKey(name);
    const client = await this.#connect();
    let ok: boolean;
    try {
      const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS ok', [key]);
      ok = rows[0]?.ok === true;
    } catch (err) {
      this.#drop(client);
      throw new StoreError(`PostgreSQL ${this.#where}: sender lock: ${(err as Error).message}`, { cause: err });
    }
    if (!ok) return null;
    if (client !== this.#client || this.#closed) return null; // the session ended meanwhile
    if (this.#held.has(name)) {
      // Advisory locks are re-entrant within a session: a concurrent caller here already won.
      await client.query('SELECT pg_advisory_unlock($1::bigint)', [key]).catch(() => this.#drop(client));
      return null;
    }
    let markLost!: () => void;
    const lost = new Promise<void>((resolve) => (markLost = resolve));
    const held: Held = { key, markLost };
    this.#held.set(name, held);
    this.#startHeartbeat();
    let released = false;
    return {
      lost,
      release: async () => {
        if (released) return;
        released = true;
        if (this.#held.get(name) !== held) return; // already lost: nothing to release
        this.#held.delete(name);
        if (this.#held.size === 0) this.#stopHeartbeat();
        const current = this.#client;
        if (current === client) {
          await client.query('SELECT pg_advisory_unlock($1::bigint)', [key]).catch(() => this.#drop(client));
        }
      },
    };
  }

  /**
   * LISTENs on `channel` on the same connection, now and after every reconnect; `handler` gets
   * each payload, and null after a reconnect (notifications sent meanwhile were missed).
   * Connection failures are not thrown: the next `tryAcquire` reconnects and LISTENs again.
   */
  listen(channel: string, handler: (payload: string | null) => void): void {
    this.#channels.set(channel, handler);
    const client = this.#client;
    if (client) client.query(`LISTEN ${quoteChannel(channel)}`).catch(() => this.#drop(client));
    else this.#connect().catch(() => {});
  }

  /** Ends the connection, which frees every lock; their `lost` promises resolve. */
  async close(): Promise<void> {
    this.#closed = true;
    const client = this.#client ?? (await this.#connecting?.catch(() => null)) ?? null;
    if (client) this.#drop(client);
    await this.#ending;
  }

  async #connect(): Promise<pg.Client> {
    if (this.#client) return this.#client;
    this.#connecting ??= (async () => {
      const client = this.#newClient();
      // Until end(), any error or end of this session means its locks are gone.
      client.on('error', () => this.#drop(client));
      client.on('end', () => this.#drop(client));
      client.on('notification', (message) => this.#channels.get(message.channel)?.(message.payload ?? null));
      try {
        await client.connect();
        for (const channel of this.#channels.keys()) await client.query(`LISTEN ${quoteChannel(channel)}`);
      } catch (err) {
        client.end().catch(() => {});
        throw new StoreError(`PostgreSQL ${this.#where}: sender lock: cannot connect: ${(err as Error).message}`, {
          cause: err,
        });
      }
      if (this.#closed) {
        await client.end().catch(() => {});
        throw new StoreError(`PostgreSQL ${this.#where}: the store is closed`);
      }
      this.#client = client;
      if (this.#reconnecting) for (const handler of this.#channels.values()) handler(null);
      this.#reconnecting = true;
      return client;
    })().finally(() => (this.#connecting = null));
    return this.#connecting;
  }

  /** Forgets a dead (or closing) session: every lock it held is lost. */
  #drop(client: pg.Client): void {
    if (this.#client !== client) return;
    this.#client = null;
    this.#stopHeartbeat();
    const held = [...this.#held.values()];
    this.#held.clear();
    for (const lock of held) lock.markLost();
    this.#ending = client.end().catch(() => {});
  }

  #startHeartbeat(): void {
    if (this.#heartbeat || this.#heartbeatMs <= 0) return;
    this.#heartbeat = setInterval(() => {
      const client = this.#client;
      if (!client) return;
      const timer = setTimeout(() => this.#drop(client), this.#heartbeatMs);
      client.query('SELECT 1').then(
        () => clearTimeout(timer),
        () => {
          clearTimeout(timer);
          this.#drop(client);
        },
      );
    }, this.#heartbeatMs);
    this.#heartbeat.unref();
  }

  #stopHeartbeat(): void {
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#heartbeat = null;
  }
}

function quoteChannel(channel: string): string {
  return `"${channel.replaceAll('"', '""')}"`;
}
