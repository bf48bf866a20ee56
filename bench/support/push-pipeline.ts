/**
 * What the push benchmarks share (bench/push.ts, bench/stores.ts): a sink AS on a worker thread,
 * registrations, events, the publisher + senders wired as the plugin wires them, and small
 * statistics helpers. Not a bench itself (bench/index.ts only runs the files directly in bench/).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Worker } from 'node:worker_threads';
import { Pool } from 'undici';
import { AppserviceClient } from '../../lib/client/appservice-client.ts';
import type { MatrixEvent } from '../../lib/events.ts';
import type { Host } from '../../lib/host.ts';
import { Interest } from '../../lib/interest.ts';
import { NamespaceIndex } from '../../lib/namespace/namespace-index.ts';
import { Publisher } from '../../lib/push/publisher.ts';
import type { SenderOptions } from '../../lib/push/sender.ts';
import { Senders } from '../../lib/push/senders.ts';
import type { Registration } from '../../lib/registration/registration.ts';
import type { Store } from '../../lib/store/store.ts';
import { testRegistration } from '../../lib/testing/registration.ts';

/**
 * A minimal AS on its own thread (the other core): it parses each transaction, as a real AS must,
 * counts events once per txnId and answers `{}`. MockAppService records everything in the bench's
 * own thread, which would measure the mock more than the push path; ours and the baselines all
 * talk to this same sink.
 */
const SINK_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const http = require('node:http');
const servers = workerData.map(({ slowMs }) => {
  const state = { events: 0, requests: 0, seen: new Set() };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      state.requests++;
      const id = req.url.slice(req.url.lastIndexOf('/') + 1);
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      if (!state.seen.has(id)) { state.seen.add(id); state.events += body.events.length; }
      const answer = () => { res.writeHead(200, { 'content-type': 'application/json', 'content-length': '2' }); res.end('{}'); };
      if (slowMs > 0) setTimeout(answer, slowMs); else answer();
    });
  });
  return { server, state };
});
Promise.all(servers.map(({ server }) => new Promise((r) => server.listen(0, '127.0.0.1', r)))).then(() =>
  parentPort.postMessage({ ports: servers.map(({ server }) => server.address().port) }));
parentPort.on('message', (m) => {
  if (m === 'stats') parentPort.postMessage({ stats: servers.map(({ state }) => ({ events: state.events, requests: state.requests })) });
  if (m === 'close') Promise.all(servers.map(({ server }) => new Promise((r) => { server.closeAllConnections(); server.close(r); }))).then(() => process.exit(0));
});
`;

export interface Sink {
  readonly urls: readonly string[];
  stats(): Promise<readonly { events: number; requests: number }[]>;
  close(): Promise<void>;
}

/**
 * Starts one sink AS per entry (each may answer after `slowMs`), all on one worker thread.
 *
 * @example
 * const sink = await startSinks([{ slowMs: 0 }]);
 * const [{ events }] = await sink.stats();
 * await sink.close();
 */
export async function startSinks(options: readonly { slowMs: number }[]): Promise<Sink> {
  const worker = new Worker(SINK_SOURCE, { eval: true, workerData: options });
  const next = <T>(key: string): Promise<T> =>
    new Promise((resolve) => {
      const on = (m: Record<string, unknown>): void => {
        if (!(key in m)) return;
        worker.off('message', on);
        resolve(m[key] as T);
      };
      worker.on('message', on);
    });
  const ports = await next<number[]>('ports');
  return {
    urls: ports.map((p) => `http://127.0.0.1:${p}`),
    stats: () => {
      const answer = next<{ events: number; requests: number }[]>('stats');
      worker.postMessage('stats');
      return answer;
    },
    close: async () => {
      const exited = new Promise((r) => worker.once('exit', r));
      worker.postMessage('close');
      await exited;
    },
  };
}

/** A url nothing listens on: the AS is down (connection refused). */
export async function deadUrl(): Promise<string> {
  const server = http.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return `http://127.0.0.1:${port}`;
}

const SERVER = 'bench.test';
export const BURST = 1000;

const host: Host = {
  serverName: SERVER,
  userExists: async () => true,
  resolveAlias: async () => null,
  roomAliases: async () => [],
  joinedMembers: async () => [],
  authenticate: async () => null,
};

/** An AS interested in every bench room; its hs_token is `hs-<id>`. */
export function registrationFor(id: string, url: string): Registration {
  return testRegistration({ id, url, rooms: ['!bench.*'], exclusive: false, rateLimited: false, source: '<bench>' });
}

/** A realistic small message event (about 300 bytes of JSON). */
export function event(i: number): MatrixEvent {
  return {
    event_id: `$bench${i}-aGVsbG8gd29ybGQ`,
    room_id: '!bench:bench.test',
    type: 'm.room.message',
    sender: '@alice:bench.test',
    origin_server_ts: 1_764_000_000_000 + i,
    unsigned: { age: 12 },
    content: { msgtype: 'm.text', body: `bench message number ${i}, with some text to make it realistic` },
  };
}

/**
 * Publisher, senders and clients over one store, as the plugin wires them.
 *
 * @example
 * const p = pipeline(store, [registrationFor('a', sink.urls[0]!)], { onSent });
 * p.senders.start(); await p.publisher.publish(event(0)); await p.close();
 */
export function pipeline(store: Store, regs: Registration[], options: SenderOptions = {}) {
  const clients = new Map(regs.map((r) => [r.id, new AppserviceClient(r)]));
  const senders = new Senders(
    { registrations: regs, store, send: (r, id, body, signal) => clients.get(r.id)!.sendTransaction(id, body, signal) },
    options,
  );
  const interest = new Interest({ host, registrations: regs, index: new NamespaceIndex(regs) });
  const publisher = new Publisher({ store, interest, registrations: regs, onEnqueued: (ids) => senders.notify(ids) });
  // Stores shared by several processes tell their senders through onEnqueued, as the plugin wires it.
  const off = store.onEnqueued?.((ids) => senders.notify(ids ?? regs.map((r) => r.id)));
  const close = async (): Promise<void> => {
    off?.();
    await senders.stop();
    for (const c of clients.values()) await c.close();
  };
  return { senders, publisher, close };
}

/** Publishes events [from, from + n) in bursts of BURST concurrent publishes. */
export async function publishAll(publisher: Publisher, from: number, n: number): Promise<void> {
  for (let i = from; i < from + n; i += BURST) {
    const burst: Promise<readonly string[]>[] = [];
    for (let j = i; j < Math.min(from + n, i + BURST); j++) burst.push(publisher.publish(event(j)));
    await Promise.all(burst);
  }
}

/** PUTs one transaction body with undici, as the baselines do. */
export async function put(pool: Pool, txnId: string, body: string, token: string): Promise<void> {
  const res = await pool.request({
    path: `/_matrix/app/v1/transactions/${txnId}`,
    method: 'PUT',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body,
  });
  await res.body.text();
  if (res.statusCode !== 200) throw new Error(`bench: PUT answered ${res.statusCode}`);
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** The f-quantile (0..1) of already sorted values. */
export function quantile(sorted: readonly number[], f: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(f * sorted.length))]!;
}

export const fmt = (n: number, digits = 0): string =>
  n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function until(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`bench: timed out waiting for ${what}`);
    await sleep(2);
  }
}

/** Wall time, and the CPU time of this whole process (every thread), which other load does not inflate. */
export interface Timing {
  readonly ms: number;
  readonly cpuMs: number;
}

/**
 * Times `work` in wall and process CPU time.
 *
 * @example
 * const { ms, cpuMs } = await timed(() => publishAll(publisher, 0, 10_000));
 */
export async function timed(work: () => Promise<void>): Promise<Timing> {
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  await work();
  const cpu = process.cpuUsage(cpu0);
  return { ms: performance.now() - t0, cpuMs: (cpu.user + cpu.system) / 1000 };
}
