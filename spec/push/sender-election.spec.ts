import { expect } from 'chai';
import { Sender } from '../../lib/push/sender.ts';
import { MemoryStore } from '../../lib/store/memory-store.ts';
import type { SenderLock, Store } from '../../lib/store/store.ts';
import { registration } from './registrations.ts';

/** A MemoryStore that, like a store shared by several processes, hands out one sender lock per AS. */
class LockingStore extends MemoryStore {
  /** While false, another process holds the lock. */
  available = false;
  attempts = 0;
  held: { lose(): void; released: boolean } | null = null;

  async acquireSenderLock(): Promise<SenderLock | null> {
    this.attempts++;
    if (!this.available || this.held !== null) return null;
    let lose!: () => void;
    const lost = new Promise<void>((r) => (lose = r));
    const held = { lose, released: false };
    this.held = held;
    return {
      lost,
      release: async () => {
        held.released = true;
        if (this.held === held) this.held = null;
      },
    };
  }
}

async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('Sender election (stores shared by several processes)', () => {
  const reg = registration('a', { users: ['@a_.*'] });
  let store: LockingStore;
  let sender: Sender | null;
  const sent: string[] = [];
  let hang = false;
  const send = (txnId: string, _body: string, signal: AbortSignal): Promise<void> => {
    sent.push(txnId);
    if (!hang) return Promise.resolve();
    return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
  };

  beforeEach(async () => {
    store = new LockingStore();
    await store.open();
    sent.length = 0;
    hang = false;
    sender = null;
  });

  afterEach(async () => {
    await sender?.stop();
    await store.close();
  });

  async function enqueue(n: number): Promise<void> {
    await (store as Store).enqueue(
      Array.from({ length: n }, (_, i) => ({ kind: 'event' as const, json: `{"i":${i}}`, asIds: ['a'] })),
    );
  }

  it('stays in standby, sending nothing, until it holds the AS sender lock', async () => {
    await enqueue(3);
    sender = new Sender({ registration: reg, store, send }, { electIntervalMs: 10 });
    sender.start();
    await until(() => store.attempts >= 3, 1_000, 'several attempts');
    expect(sender.state).to.equal('standby');
    expect(sent).to.deep.equal([]);
    store.available = true;
    await until(() => sent.length === 1 && sender!.state === 'idle', 1_000, 'delivery');
    expect((await store.backlog('a')).size).to.equal(0);
  });

  it('stops sending when the lock is lost, aborting the send in flight, and resends it once elected again', async () => {
    store.available = true;
    hang = true;
    await enqueue(1);
    sender = new Sender({ registration: reg, store, send }, { electIntervalMs: 10 });
    sender.start();
    await until(() => sent.length === 1, 1_000, 'the first attempt');
    store.available = false;
    const first = store.held!;
    first.lose();
    await until(() => first.released && sender!.state === 'standby', 1_000, 'standby after the loss');
    hang = false;
    store.available = true;
    await until(() => sent.length === 2 && sender!.state === 'idle', 1_000, 'resend after re-election');
    expect(sent).to.have.length(2);
    expect(sent[1], 'the same transaction, resent').to.equal(sent[0]);
  });

  it('stop() ends a standby sender without waiting for the lock', async () => {
    sender = new Sender({ registration: reg, store, send }, { electIntervalMs: 60_000 });
    sender.start();
    await until(() => store.attempts === 1, 1_000, 'one attempt');
    const started = Date.now();
    await sender.stop();
    expect(Date.now() - started).to.be.below(1_000);
    expect(sender.state).to.equal('stopped');
  });
});
