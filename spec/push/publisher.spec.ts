import { expect } from 'chai';
import { InvalidEventError, StoreError } from '../../lib/errors.ts';
import type { MatrixEvent } from '../../lib/events.ts';
import type { Host } from '../../lib/host.ts';
import { Interest } from '../../lib/interest.ts';
import { NamespaceIndex } from '../../lib/namespace/namespace-index.ts';
import { Publisher } from '../../lib/push/publisher.ts';
import type { Registration } from '../../lib/registration/registration.ts';
import type { EnqueueItem, Store } from '../../lib/store/store.ts';
import { registration } from './registrations.ts';

/**
 * Records enqueue calls; `gate` holds a commit open so a test can see that publish waits for it.
 * Only `enqueue` matters to the publisher: the rest is never called.
 */
class RecordingStore implements Store {
  readonly commits: EnqueueItem[][] = [];
  gate: Promise<void> | null = null;
  failNext = false;
  async open(): Promise<void> {}
  async enqueue(items: readonly EnqueueItem[]): Promise<void> {
    if (this.gate) await this.gate;
    if (this.failNext) {
      this.failNext = false;
      throw new StoreError('disk full');
    }
    this.commits.push([...items]);
  }
  inFlight(): never {
    throw new Error('unused');
  }
  createTransaction(): never {
    throw new Error('unused');
  }
  acknowledge(): never {
    throw new Error('unused');
  }
  backlog(): never {
    throw new Error('unused');
  }
  async close(): Promise<void> {}
}

const host: Host = {
  serverName: 'hs.test',
  userExists: async () => false,
  resolveAlias: async () => null,
  roomAliases: async () => [],
  authenticate: async () => null,
  // Rooms named !slowN answer after N ms, so that interest resolves out of call order.
  joinedMembers: async (roomId) => {
    const ms = Number(/^!slow(\d+)/.exec(roomId)?.[1] ?? 0);
    await new Promise((r) => setTimeout(r, ms));
    return ['@a_member:hs.test'];
  },
};

function ev(i: number, fields: Partial<MatrixEvent> = {}): MatrixEvent {
  return {
    event_id: `$${i}`,
    room_id: '!r:hs.test',
    type: 'm.room.message',
    sender: '@a_x:hs.test',
    content: { i },
    ...fields,
  };
}

describe('Publisher', () => {
  const a = registration('a', { users: ['@a_.*'], receiveEphemeral: true });
  const b = registration('b', { users: ['@b_.*'], receiveToDevice: true });
  const off = registration('off', { url: null, users: ['@a_.*'] });
  const regs: Registration[] = [a, b, off];
  let store: RecordingStore;
  let enqueued: string[][];

  function make(): Publisher {
    const interest = new Interest({ host, registrations: regs, index: new NamespaceIndex(regs) });
    return new Publisher({ store, interest, registrations: regs, onEnqueued: (ids) => enqueued.push([...ids]) });
  }

  beforeEach(() => {
    store = new RecordingStore();
    enqueued = [];
  });

  it('queues the event as its JSON text for each interested AS and resolves with their ids', async () => {
    const event = ev(1, { sender: '@b_y:hs.test' });
    expect(await make().publish(event)).to.deep.equal(['a', 'b']);
    expect(store.commits).to.deep.equal([[{ kind: 'event', json: JSON.stringify(event), asIds: ['a', 'b'] }]]);
    expect(enqueued).to.deep.equal([['a', 'b']]);
  });

  it('queues nothing for an event nobody wants, and never for a url:null AS', async () => {
    const room = ev(1, { sender: '@nobody:hs.test', room_id: '!empty:hs.test' });
    const lonely: Host = { ...host, joinedMembers: async () => [] };
    const publisher = new Publisher({
      store,
      interest: new Interest({ host: lonely, registrations: regs, index: new NamespaceIndex(regs) }),
      registrations: regs,
    });
    expect(await publisher.publish(room)).to.deep.equal([]);
    expect(store.commits).to.deep.equal([]);
  });

  it('resolves only once the store has committed', async () => {
    let open!: () => void;
    store.gate = new Promise((r) => (open = r));
    let done = false;
    const pending = make()
      .publish(ev(1))
      .then(() => (done = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(done).to.equal(false);
    open();
    await pending;
    expect(store.commits).to.have.length(1);
  });

  it('writes publishes of one burst in one commit (group commit)', async () => {
    const publisher = make();
    await Promise.all(Array.from({ length: 500 }, (_, i) => publisher.publish(ev(i))));
    expect(store.commits).to.have.length(1);
    expect(store.commits[0]).to.have.length(500);
  });

  it('keeps call order even when interest answers out of order', async () => {
    const publisher = make();
    // Senders outside every namespace force a host call; earlier events wait longer.
    const events = [30, 20, 10, 0].map((ms, i) => ev(i, { sender: '@z:hs.test', room_id: `!slow${ms}:hs.test` }));
    await Promise.all(events.map((e) => publisher.publish(e)));
    const order = store.commits.flat().map((item) => JSON.parse(item.json).event_id);
    expect(order).to.deep.equal(['$0', '$1', '$2', '$3']);
  });

  it('keeps call order when events answered at once follow events that wait for the host', async () => {
    const publisher = make();
    // !slow5's members are known after this; !slow20's are not: its events wait for the host (20 ms),
    // while !slow5's are answered at once, in the same batch.
    await publisher.publish(ev(100, { room_id: '!slow5:hs.test' }));
    const events = [
      ev(0, { room_id: '!slow20:hs.test' }),
      ev(1, { room_id: '!slow5:hs.test' }),
      ev(2, { sender: '@z:hs.test', room_id: '!slow20:hs.test' }),
      ev(3, { sender: '@z:hs.test', room_id: '!slow5:hs.test' }),
    ];
    await Promise.all(events.map((e) => publisher.publish(e)));
    const order = store.commits
      .slice(1)
      .flat()
      .map((item) => JSON.parse(item.json).event_id);
    expect(order).to.deep.equal(['$0', '$1', '$2', '$3']);
  });

  it('rejects the publishes of a failed commit and goes on with the next', async () => {
    const publisher = make();
    store.failNext = true;
    const first = await publisher.publish(ev(1)).catch((e: unknown) => e);
    expect(first).to.be.instanceOf(StoreError);
    expect(await publisher.publish(ev(2))).to.deep.equal(['a']);
    expect(store.commits.flat().map((i) => JSON.parse(i.json).event_id)).to.deep.equal(['$2']);
  });

  const malformed: [string, unknown, RegExp][] = [
    ['not an object', 'x', /^event: must be an object/],
    ['no event_id', { ...ev(1), event_id: undefined }, /event\.event_id/],
    ['bad room_id', { ...ev(1), room_id: 'r' }, /event\.room_id/],
    ['empty type', { ...ev(1), type: '' }, /event\.type/],
    ['sender without server', { ...ev(1), sender: '@a' }, /event\.sender/],
    ['content array', { ...ev(1), content: [] }, /event\.content: must be an object, got an array/],
    ['numeric state_key', { ...ev(1), state_key: 3 }, /event\.state_key/],
    ['member without state_key', { ...ev(1), type: 'm.room.member' }, /event\.state_key/],
    [
      'cyclic content',
      (() => {
        const c: Record<string, unknown> = {};
        c.self = c;
        return { ...ev(1), content: c };
      })(),
      /cannot be serialised/,
    ],
  ];
  for (const [name, value, message] of malformed) {
    it(`refuses an event with ${name} (InvalidEventError naming the field), queueing nothing`, async () => {
      const error = await make()
        .publish(value as MatrixEvent)
        .catch((e: unknown) => e);
      expect(error).to.be.instanceOf(InvalidEventError);
      expect((error as Error).message).to.match(message);
      expect(store.commits).to.deep.equal([]);
    });
  }

  it('queues ephemeral events only for ASes that asked for them', async () => {
    const publisher = make();
    const typing = { type: 'm.typing', room_id: '!r:hs.test', content: { user_ids: [] } };
    expect(await publisher.publishEphemeral(typing)).to.deep.equal(['a']);
    expect(store.commits.flat()).to.deep.equal([{ kind: 'ephemeral', json: JSON.stringify(typing), asIds: ['a'] }]);
    const error = await publisher.publishEphemeral({ type: 'm.receipt', content: {} }).catch((e: unknown) => e);
    expect(error)
      .to.be.instanceOf(InvalidEventError)
      .with.property('message')
      .match(/ephemeral\.room_id/);
  });

  // AS API, "Pushing EDUs": "Private read receipts should only be sent for users matching one of the
  // application service's namespaces."
  it('AS API "Pushing EDUs": queues one receipt as per-AS content in one commit, private receipts only for the reader\'s ASes', async () => {
    const r1 = registration('r1', { users: ['@a_.*'], receiveEphemeral: true });
    const r2 = registration('r2', { rooms: ['!r:hs.test'], receiveEphemeral: true });
    const r3 = registration('r3', { rooms: ['!r:hs.test'], users: ['@c_.*'], receiveEphemeral: true });
    const mine = [r1, r2, r3];
    const publisher = new Publisher({
      store,
      interest: new Interest({ host, registrations: mine, index: new NamespaceIndex(mine) }),
      registrations: mine,
    });
    const content = (privateOf: string[]) => ({
      $e: {
        'm.read': { '@z:hs.test': { ts: 1 } },
        ...(privateOf.length > 0 ? { 'm.read.private': Object.fromEntries(privateOf.map((u) => [u, { ts: 2 }])) } : {}),
      },
    });
    const edu = { type: 'm.receipt', room_id: '!r:hs.test', content: content(['@a_x:hs.test', '@c_y:hs.test']) };
    const [asIds] = await Promise.all([
      publisher.publishEphemeral(edu),
      publisher.publish(ev(1, { room_id: '!r:hs.test' })),
    ]);
    expect(asIds).to.deep.equal(['r1', 'r2', 'r3']);
    expect(store.commits).to.have.length(1);
    const seen = (id: string) =>
      store.commits[0]!.filter((i) => i.kind === 'ephemeral' && i.asIds.includes(id)).map(
        (i) => JSON.parse(i.json).content,
      );
    expect(seen('r1')).to.deep.equal([content(['@a_x:hs.test'])]);
    expect(seen('r2')).to.deep.equal([content([])]);
    expect(seen('r3')).to.deep.equal([content(['@c_y:hs.test'])]);
    // The ephemeral items come before the event published after it.
    expect(store.commits[0]!.at(-1)!.kind).to.equal('event');

    // Nothing but the private receipt of a user in nobody's namespace: nobody gets anything.
    store.commits.length = 0;
    const hidden = {
      type: 'm.receipt',
      room_id: '!r:hs.test',
      content: { $e: { 'm.read.private': { '@z:hs.test': { ts: 3 } } } },
    };
    expect(await publisher.publishEphemeral(hidden)).to.deep.equal([]);
    expect(store.commits).to.deep.equal([]);
  });

  it('AS API "Pushing EDUs": refuses an EDU of another type than the three at publishEphemeral, queueing nothing', async () => {
    const publisher = make();
    const error = await publisher
      .publishEphemeral({ type: 'org.example.custom', room_id: '!r:hs.test', content: {} })
      .catch((e: unknown) => e);
    expect(error)
      .to.be.instanceOf(InvalidEventError)
      .with.property('message')
      .match(/^ephemeral\.type: "org\.example\.custom" is not an EDU type/);
    expect(store.commits).to.deep.equal([]);
  });

  it('queues to-device messages for the AS owning the recipient, if it asked for them', async () => {
    const publisher = make();
    const msg = {
      type: 'm.room_key',
      sender: '@x:hs.test',
      to_user_id: '@b_y:hs.test',
      to_device_id: 'DEV',
      content: {},
    };
    expect(await publisher.publishToDevice(msg)).to.deep.equal(['b']);
    expect(await publisher.publishToDevice({ ...msg, to_user_id: '@a_y:hs.test' })).to.deep.equal([]);
    expect(store.commits.flat()).to.deep.equal([{ kind: 'toDevice', json: JSON.stringify(msg), asIds: ['b'] }]);
    const error = await publisher.publishToDevice({ ...msg, to_device_id: '' }).catch((e: unknown) => e);
    expect(error)
      .to.be.instanceOf(InvalidEventError)
      .with.property('message')
      .match(/toDevice\.to_device_id/);
  });
});
