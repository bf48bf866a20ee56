import { expect } from 'chai';
import { rejection } from '../support/rejection.ts';
import { createServer, Socket, type Server } from 'node:net';
import pg from 'pg';
import { StoreError } from '../../lib/errors.ts';
import { PostgresStore } from '../../lib/store/postgres/postgres-store.ts';
import { freshSchema } from '../support/postgres-server.ts';

const event = (n: number) => ({ kind: 'event' as const, json: JSON.stringify({ n }), asIds: ['irc', 'slack'] });

describe('PostgresStore outbox: enqueue inside the homeserver transaction', () => {
  let store: PostgresStore;
  let homeserver: pg.Pool;
  let drop: () => Promise<void>;

  beforeEach(async () => {
    const fresh = await freshSchema();
    drop = fresh.drop;
    store = new PostgresStore({ connectionString: fresh.url, schema: fresh.schema });
    await store.open();
    homeserver = new pg.Pool({ connectionString: fresh.url, max: 2 });
    await homeserver.query(`CREATE TABLE "${fresh.schema}".events (n integer)`);
  });

  afterEach(async () => {
    await store?.close();
    await homeserver?.end();
    await drop?.();
  });

  it('queues nothing when the homeserver rolls back', async () => {
    const client = await homeserver.connect();
    try {
      await client.query('BEGIN');
      await store.enqueue([event(1)], { client });
      // Inside the transaction the rows are there; outside they are not yet.
      expect((await store.backlog('irc')).size).to.equal(0);
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
    expect(await store.backlog('irc')).to.deep.equal({ size: 0, oldestEnqueuedAt: null });
    expect(await store.backlog('slack')).to.deep.equal({ size: 0, oldestEnqueuedAt: null });
  });

  it('queues the items when the homeserver commits, with its own write', async () => {
    const client = await homeserver.connect();
    try {
      await client.query('BEGIN');
      await store.enqueue([event(1), event(2)], { client });
      expect((await store.backlog('irc')).size).to.equal(0);
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    expect((await store.backlog('irc')).size).to.equal(2);
    const txn = await store.createTransaction(
      'slack',
      { event: 10, ephemeral: 10, toDevice: 10 },
      (items) => `[${items.map((i) => i.json).join(',')}]`,
    );
    expect(JSON.parse(txn!.body)).to.deep.equal([{ n: 1 }, { n: 2 }]);
  });

  it('queues through a client that only has query() (no COPY), in its transaction', async () => {
    const client = await homeserver.connect();
    try {
      await client.query('BEGIN');
      // Like pg-native or a homeserver's own wrapper: text and values only, no submittables.
      const wrapper = { query: ({ text, values }: pg.QueryConfig) => client.query({ text, values }) };
      await store.enqueue([event(1), { kind: 'event', json: '"a\tb\\c"', asIds: ['irc'] }], { client: wrapper });
      expect((await store.backlog('irc')).size).to.equal(0);
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    const txn = await store.createTransaction(
      'irc',
      { event: 10, ephemeral: 10, toDevice: 10 },
      (items) => `[${items.map((i) => i.json).join(',')}]`,
    );
    expect(txn!.body).to.equal('[{"n":1},"a\tb\\c"]');
    expect((await store.backlog('slack')).size).to.equal(1);
  });

  it('rejects a client that is no pg client with a TypeError', async () => {
    const err = await rejection(store.enqueue([event(1)], { client: {} as never }));
    expect(err).to.be.instanceOf(TypeError);
  });

  it('rejects with a StoreError when the homeserver transaction is already aborted', async () => {
    const client = await homeserver.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT 1/0').catch(() => {});
      const err = await rejection(store.enqueue([event(1)], { client }));
      expect(err).to.be.instanceOf(StoreError);
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
  });
});

/** A TCP relay to PostgreSQL that a test can cut and restore, to play a server going down. */
class Relay {
  #server: Server | null = null;
  readonly #sockets = new Set<Socket>();
  port = 0;
  constructor(readonly target: { host: string; port: number }) {}

  async up(): Promise<void> {
    const server = createServer((inbound) => {
      const outbound = new Socket();
      this.#sockets.add(inbound).add(outbound);
      outbound.connect(this.target.port, this.target.host);
      inbound.pipe(outbound).pipe(inbound);
      const close = () => {
        inbound.destroy();
        outbound.destroy();
      };
      inbound.on('error', close).on('close', close);
      outbound.on('error', close).on('close', close);
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as { port: number }).port;
    this.#server = server;
  }

  async down(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
    const server = this.#server;
    this.#server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

describe('PostgresStore when the database goes down', () => {
  let relay: Relay;
  let store: PostgresStore;
  let drop: () => Promise<void>;

  beforeEach(async () => {
    const fresh = await freshSchema();
    drop = fresh.drop;
    const target = new URL(fresh.url);
    relay = new Relay({ host: target.hostname, port: Number(target.port) });
    await relay.up();
    const via = new URL(fresh.url);
    via.port = String(relay.port);
    store = new PostgresStore({ connectionString: via.href, schema: fresh.schema, connectTimeoutMs: 1000 });
    await store.open();
  });

  afterEach(async () => {
    await store?.close();
    await relay?.down();
    await drop?.();
  });

  it('rejects enqueue with a StoreError while down, and works again when it is back', async () => {
    await store.enqueue([event(1)]);
    await relay.down();
    const err = await rejection(store.enqueue([event(2)]));
    expect(err).to.be.instanceOf(StoreError);
    expect(err.message).to.include(`127.0.0.1:${relay.port}`);
    await rejection(store.backlog('irc'));
    await relay.up();
    // The pool may still hand out a client that died with the relay: allow a few attempts.
    let backlog = null;
    for (let attempt = 0; attempt < 5 && !backlog; attempt++) backlog = await store.backlog('irc').catch(() => null);
    expect(backlog?.size, 'only the enqueue that resolved is queued').to.equal(1);
    await store.enqueue([event(3)]);
    expect((await store.backlog('irc')).size).to.equal(2);
  });
});

describe("PostgresStore on a pool of the homeserver's own options", () => {
  let url: string;
  let schema: string;
  let drop: () => Promise<void>;
  let pool: pg.Pool | undefined;
  let store: PostgresStore | undefined;

  beforeEach(async () => {
    ({ url, schema, drop } = await freshSchema());
  });

  afterEach(async () => {
    await store?.close();
    await pool?.end();
    await drop?.();
  });

  async function openOn(options: pg.PoolConfig): Promise<PostgresStore> {
    pool = new pg.Pool({ connectionString: url, max: 2, ...options });
    store = new PostgresStore({ pool, schema });
    await store.open();
    return store;
  }

  const timeouts = (): number => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;

  it("leaves no query_timeout timer behind an enqueue (pg's read-timeout timer is cleared when the COPY ends)", async () => {
    const s = await openOn({ query_timeout: 60_000 });
    await s.enqueue([event(0)]);
    const before = timeouts();
    for (let n = 1; n <= 20; n++) await s.enqueue([event(n)]);
    expect(timeouts() - before).to.be.below(5);
    expect((await s.backlog('irc')).size).to.equal(21);
  });

  it('enqueues through a pool in pipeline mode, whose clients refuse the COPY', async () => {
    const s = await openOn({ pipeline: true } as pg.PoolConfig);
    await s.enqueue([event(1), event(2)]);
    expect((await s.backlog('slack')).size).to.equal(2);
  });
});
