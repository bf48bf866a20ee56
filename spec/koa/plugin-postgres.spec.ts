import { expect } from 'chai';
import pg from 'pg';
import { appservices, type Appservices } from '../../lib/index.ts';
import { PostgresStore } from '../../lib/store/postgres/postgres-store.ts';
import { MockAppService } from '../../lib/testing/index.ts';
import { freshSchema } from '../support/postgres-server.ts';
import { ToyHost } from './support/toy-host.ts';

const HS_TOKEN = 'hs-pg-plugin-secret';

/** Two homeserver processes in miniature: two plugins, each with its own PostgresStore on one schema. */
describe('appservices() on a shared PostgresStore', () => {
  let mock: MockAppService;
  let schema: Awaited<ReturnType<typeof freshSchema>>;
  const plugins: Appservices[] = [];

  beforeEach(async () => {
    mock = await MockAppService.start({ hsToken: HS_TOKEN });
    schema = await freshSchema();
  });

  afterEach(async () => {
    await Promise.all(plugins.splice(0).map((p) => p.close()));
    await mock.close();
    await schema.drop();
  });

  async function start(): Promise<Appservices> {
    const plugin = await appservices({
      registrations: [
        {
          id: 'irc',
          url: mock.url,
          as_token: 'as-pg-plugin-secret',
          hs_token: HS_TOKEN,
          sender_localpart: 'ircbot',
          namespaces: { users: [{ exclusive: true, regex: '@irc_.*' }] },
        },
      ],
      host: new ToyHost('hs.test'),
      store: new PostgresStore({ connectionString: schema.url, schema: schema.schema }),
      backoffInitialMs: 20,
      backoffMaxMs: 100,
    });
    plugins.push(plugin);
    return plugin;
  }

  it("publish(event, { client }) commits with the homeserver's transaction, and a rollback queues nothing", async () => {
    const plugin = await start();
    const homeserver = new pg.Pool({ connectionString: schema.url, max: 1 });
    try {
      const write = async (id: string, outcome: 'COMMIT' | 'ROLLBACK') => {
        const client = await homeserver.connect();
        try {
          await client.query('BEGIN');
          const asIds = await plugin.publish(
            { event_id: id, room_id: '!r:hs.test', type: 'm.room.message', sender: '@irc_bob:hs.test', content: {} },
            { client },
          );
          expect(asIds).to.deep.equal(['irc']);
          await client.query(outcome);
        } finally {
          client.release();
        }
      };
      await write('$rolled-back', 'ROLLBACK');
      await write('$committed', 'COMMIT');
      const events = (await mock.waitForEvents(1, 10_000)) as { event_id: string }[];
      await new Promise((r) => setTimeout(r, 200));
      expect(mock.events.map((e) => (e as { event_id: string }).event_id)).to.deep.equal(['$committed']);
      expect(events[0]?.event_id).to.equal('$committed');
    } finally {
      await homeserver.end();
    }
  });

  it('delivers what either process publishes once, in order, through whichever holds the sender lock', async () => {
    // The first plugin delivers alone, so it holds the sender lock before the second one starts.
    const a = await start();
    await a.publish({
      event_id: '$first',
      room_id: '!r:hs.test',
      type: 'm.room.message',
      sender: '@irc_bob:hs.test',
      content: {},
    });
    await mock.waitForEvents(1, 10_000);
    const b = await start();
    const publish = (plugin: Appservices, n: number) =>
      plugin.publish({
        event_id: `$${n}`,
        room_id: '!r:hs.test',
        type: 'm.room.message',
        sender: '@irc_bob:hs.test',
        content: { n },
      });
    // Only the second publishes now: the first, the sender, learns of it through the store alone.
    for (let n = 0; n < 20; n++) await publish(b, n);
    await mock.waitForEvents(21, 10_000);
    for (let n = 20; n < 40; n++) await publish(n % 2 === 0 ? a : b, n);
    const events = (await mock.waitForEvents(41, 10_000)) as { event_id: string }[];
    expect(events.map((e) => e.event_id)).to.deep.equal(['$first', ...Array.from({ length: 40 }, (_, n) => `$${n}`)]);
    expect(mock.conflicts).to.have.length(0);
  });
});
