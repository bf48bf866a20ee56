/**
 * Issue 8 part 3, publish: a malformed event, ephemeral event or to-device message is refused
 * with an InvalidEventError that names the field, and nothing is queued. Once queued, an item is
 * sent to the AS as it is, again and again if it must, so garbage must never get that far.
 *
 * Through the mounted plugin's publish*() with one AS that wants everything (every user, every
 * room, ephemeral and to-device), so that anything well-formed WOULD be queued: the empty backlog
 * after each malformed publish means something.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { appservices, InvalidEventError, MemoryStore, type Appservices } from '../../lib/index.ts';
import { ToyHost } from '../koa/support/toy-host.ts';

type Obj = Record<string, unknown>;

const EVENT: Obj = {
  event_id: '$e:hs.test',
  room_id: '!r:hs.test',
  type: 'm.room.message',
  sender: '@u:hs.test',
  content: { body: 'hi' },
};
const MEMBER: Obj = { ...EVENT, type: 'm.room.member', state_key: '@u:hs.test', content: { membership: 'join' } };
const EPHEMERAL: Obj = { type: 'm.typing', room_id: '!r:hs.test', content: { user_ids: ['@u:hs.test'] } };
const TO_DEVICE: Obj = {
  type: 'm.room_key',
  sender: '@u:hs.test',
  to_user_id: '@v:hs.test',
  to_device_id: 'DEV',
  content: {},
};

const notString = fc
  .anything({ withBigInt: true, maxDepth: 1 })
  .filter((v) => typeof v !== 'string' && v !== undefined);
const notObject = fc.oneof(
  fc.constant(null),
  fc.array(fc.anything({ maxDepth: 1 }), { maxLength: 3 }),
  fc.string(),
  fc.integer(),
  fc.boolean(),
);
/** A string that is no `<sigil>local:server` id. */
const badId = (sigil: string) =>
  fc.oneof(
    notString,
    fc.string({ maxLength: 10 }).filter((s) => !s.startsWith(sigil) || !s.includes(':')),
  );

/** [base, field, generator of a value that makes it invalid, may the field be removed] */
type Mutation = [Obj, string, fc.Arbitrary<unknown>, boolean];
const EVENT_MUTATIONS: Mutation[] = [
  [
    EVENT,
    'event_id',
    fc.oneof(
      notString,
      fc.string({ maxLength: 10 }).filter((s) => !s.startsWith('$')),
    ),
    true,
  ],
  [EVENT, 'room_id', badId('!'), true],
  [EVENT, 'sender', badId('@'), true],
  [EVENT, 'type', fc.oneof(notString, fc.constant('')), true],
  [EVENT, 'content', notObject, true],
  [EVENT, 'state_key', notString.filter((v) => v !== undefined), false],
  [MEMBER, 'state_key', badId('@'), true],
];
const EPHEMERAL_MUTATIONS: Mutation[] = [
  [EPHEMERAL, 'type', fc.oneof(notString, fc.constant('')), true],
  [EPHEMERAL, 'content', notObject, true],
  [EPHEMERAL, 'room_id', badId('!'), true],
  [{ type: 'm.presence', sender: '@u:hs.test', content: {} }, 'sender', badId('@'), true],
];
const TO_DEVICE_MUTATIONS: Mutation[] = [
  [TO_DEVICE, 'type', fc.oneof(notString, fc.constant('')), true],
  [TO_DEVICE, 'sender', badId('@'), true],
  [TO_DEVICE, 'to_user_id', badId('@'), true],
  [TO_DEVICE, 'to_device_id', fc.oneof(notString, fc.constant('')), true],
  [TO_DEVICE, 'content', notObject, true],
];

function mutated([base, field, bad, removable]: Mutation): fc.Arbitrary<[Obj, string]> {
  const replace = bad.map((value) => [{ ...base, [field]: value }, field] as [Obj, string]);
  return removable
    ? fc.oneof(
        replace,
        fc.constant([Object.fromEntries(Object.entries(base).filter(([k]) => k !== field)), field] as [Obj, string]),
      )
    : replace;
}

/** One AS that wants every event and every EDU; nothing listens at its url, so items stay queued. */
function start(): Promise<Appservices> {
  return appservices({
    host: new ToyHost('hs.test'),
    store: new MemoryStore(),
    registrations: [
      {
        id: 'all',
        url: 'http://127.0.0.1:9',
        as_token: 'as-token-all',
        hs_token: 'hs-token-all',
        sender_localpart: 'allbot',
        namespaces: {
          users: [{ exclusive: false, regex: '@.*' }],
          aliases: [],
          rooms: [{ exclusive: false, regex: '!.*' }],
        },
        receive_ephemeral: true,
      },
    ],
    backoffInitialMs: 60_000,
    backoffMaxMs: 60_000,
  });
}

describe('properties: publish refuses malformed input and queues nothing', function () {
  this.timeout(30_000);
  let as: Appservices;

  before(async () => {
    as = await start();
  });

  after(() => as.close());

  const backlog = async (): Promise<number> => (await as.store.backlog('all')).size;

  async function refused(publish: () => Promise<unknown>, prefix: string, field: string | null): Promise<void> {
    let caught: unknown;
    try {
      await publish();
    } catch (error) {
      caught = error;
    }
    expect(caught, 'publish resolved').to.be.instanceOf(InvalidEventError);
    const message = (caught as Error).message;
    if (field === null) expect(message).to.match(new RegExp(`^${prefix}(\\.[\\w.]+)?: `));
    else expect(message.startsWith(`${prefix}.${field}: `), message).to.equal(true);
    expect(await backlog(), `queued after: ${message}`).to.equal(0);
  }

  it('queues the well-formed bases (so an empty backlog below means refusal)', async () => {
    expect(await as.publish(EVENT as never)).to.deep.equal(['all']);
    expect(await as.publishEphemeral(EPHEMERAL as never)).to.deep.equal(['all']);
    expect(await backlog()).to.equal(2);
    // Start the properties from an empty queue: a fresh store is simplest.
    await as.close();
    as = await start();
  });

  it('room events: one bad or missing field → InvalidEventError "event.<field>: …", nothing queued', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(...EVENT_MUTATIONS.map(mutated)), async ([event, field]) => {
        await refused(() => as.publish(event as never), 'event', field);
      }),
      { numRuns: 400 },
    );
  });

  it('ephemeral events: likewise, "ephemeral.<field>: …"', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(...EPHEMERAL_MUTATIONS.map(mutated)), async ([edu, field]) => {
        await refused(() => as.publishEphemeral(edu as never), 'ephemeral', field);
      }),
      { numRuns: 200 },
    );
  });

  it('to-device messages: likewise, "toDevice.<field>: …"', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(...TO_DEVICE_MUTATIONS.map(mutated)), async ([message, field]) => {
        await refused(() => as.publishToDevice(message as never), 'toDevice', field);
      }),
      { numRuns: 200 },
    );
  });

  it('anything that is not an object, and content JSON cannot hold (BigInt, cycles), is refused too', async () => {
    await fc.assert(
      fc.asyncProperty(notObject, async (value) => {
        await refused(() => as.publish(value as never), 'event', null);
        await refused(() => as.publishEphemeral(value as never), 'ephemeral', null);
        await refused(() => as.publishToDevice(value as never), 'toDevice', null);
      }),
      { numRuns: 100 },
    );
    const cyclic: Obj = { body: 'loop' };
    cyclic.self = cyclic;
    await refused(() => as.publish({ ...EVENT, content: cyclic } as never), 'event', null);
    await refused(() => as.publish({ ...EVENT, content: { n: 10n } } as never), 'event', null);
    await refused(() => as.publish({ ...EVENT, unsigned: { age: 1n } } as never), 'event', null);
  });
});
