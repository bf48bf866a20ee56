/**
 * The spec app (spec/koa/support/app.ts) and `appservices()` mount the same chain: for one
 * request per route of the route table, the plugin decides the same way in both (refuses with the
 * same status and errcode, or lets the request reach the homeserver) and asks the AS as often.
 */
import { expect } from 'chai';
import { ROUTE_NAMES, type RouteName } from '../../lib/koa/route-table.ts';
import { MockAppService } from '../../lib/testing/index.ts';
import {
  asToken,
  call,
  hsToken,
  registrationObject,
  startHomeserver,
  type Homeserver,
} from '../reliability/support/homeserver.ts';
import { registration, startApp, type TestApp } from './support/app.ts';
import { ToyHost } from './support/toy-host.ts';

const USER_TOKEN = 'syt_user_token';
const v3 = (path: string) => `/_matrix/client/v3${path}`;
const enc = encodeURIComponent;

interface Sample {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  token?: string;
  body?: unknown;
}

const AS = asToken('irc');
const SAMPLES: Record<RouteName, Sample> = {
  register: { method: 'POST', path: v3('/register'), body: { username: 'irc_mallory', password: 'pw' } },
  registerAvailable: { method: 'GET', path: v3('/register/available?username=irc_mallory') },
  login: {
    method: 'POST',
    path: v3('/login'),
    body: { type: 'm.login.application_service', identifier: { type: 'm.id.user', user: 'irc_a' } },
  },
  createRoom: { method: 'POST', path: v3('/createRoom'), token: USER_TOKEN, body: { room_alias_name: 'irc_squat' } },
  aliasLookup: { method: 'GET', path: v3(`/directory/room/${enc('#irc_a:hs.test')}`), token: USER_TOKEN },
  aliasEdit: {
    method: 'PUT',
    path: v3(`/directory/room/${enc('#irc_a:hs.test')}`),
    token: USER_TOKEN,
    body: { room_id: '!r:hs.test' },
  },
  join: { method: 'POST', path: v3(`/join/${enc('#irc_a:hs.test')}`), token: USER_TOKEN, body: {} },
  knock: { method: 'POST', path: v3(`/knock/${enc('#irc_a:hs.test')}`), token: USER_TOKEN, body: {} },
  profile: { method: 'GET', path: v3(`/profile/${enc('@irc_a:hs.test')}`), token: USER_TOKEN },
  invite: {
    method: 'POST',
    path: v3(`/rooms/${enc('!r:hs.test')}/invite`),
    token: USER_TOKEN,
    body: { user_id: '@irc_b:hs.test' },
  },
  canonicalAlias: {
    method: 'PUT',
    path: v3(`/rooms/${enc('!r:hs.test')}/state/m.room.canonical_alias/`),
    token: USER_TOKEN,
    body: { alias: '#irc_c:hs.test' },
  },
  send: { method: 'PUT', path: v3(`/rooms/${enc('!r:hs.test')}/send/m.room.message/t1?ts=soon`), token: AS, body: {} },
  state: { method: 'PUT', path: v3(`/rooms/${enc('!r:hs.test')}/state/m.room.topic/?ts=soon`), token: AS, body: {} },
  thirdpartyProtocols: { method: 'GET', path: v3('/thirdparty/protocols'), token: USER_TOKEN },
  thirdpartyProtocol: { method: 'GET', path: v3('/thirdparty/protocol/irc'), token: USER_TOKEN },
  thirdpartyLocation: { method: 'GET', path: v3('/thirdparty/location/irc?channel=a'), token: USER_TOKEN },
  thirdpartyUser: { method: 'GET', path: v3('/thirdparty/user?userid=a'), token: USER_TOKEN },
  ping: { method: 'POST', path: '/_matrix/client/v1/appservice/irc/ping', token: USER_TOKEN, body: {} },
  directoryList: {
    method: 'PUT',
    path: v3('/directory/list/appservice/net/!r:hs.test'),
    token: USER_TOKEN,
    body: { visibility: 'public' },
  },
  device: { method: 'PUT', path: v3('/devices/NEWDEV?device_id=NEWDEV'), token: AS, body: { display_name: 'x' } },
  deleteDevices: { method: 'POST', path: v3('/delete_devices'), token: AS, body: { devices: ['NEWDEV'] } },
  deviceSigningUpload: { method: 'POST', path: v3('/keys/device_signing/upload'), token: USER_TOKEN, body: {} },
};

/** What the plugin decided: refused (status and errcode) or passed to the homeserver; and AS requests made. */
interface Decision {
  outcome: string;
  asRequests: number;
}

describe('koa/chain: the spec app mounts the chain appservices() mounts', function () {
  this.timeout(20_000);
  let mock: MockAppService;
  let hs: Homeserver;
  let app: TestApp;

  before(async () => {
    mock = await MockAppService.start({ hsToken: hsToken('irc'), protocols: { irc: { instances: [] } } });
    const file = { ...registrationObject('irc', mock.url), protocols: ['irc'] };
    hs = await startHomeserver({
      host: withUser(new ToyHost('hs.test')),
      registrations: [file],
      queryDeadlineMs: 2_000,
    });
    const reg = registration({
      id: 'irc',
      url: mock.url,
      asToken: AS,
      hsToken: hsToken('irc'),
      sender: 'ircbot',
      users: [['@irc_.*', true]],
      aliases: [['#irc_.*', true]],
      protocols: ['irc'],
    });
    app = await startApp({ registrations: [reg], host: withUser(new ToyHost('hs.test')), deadlineMs: 2_000 });
  });
  after(async () => {
    await Promise.all([hs.close(), app.close()]);
    await mock.close();
  });

  function withUser(host: ToyHost): ToyHost {
    host.users.add('@alice:hs.test');
    return host;
  }

  async function viaAppservices(sample: Sample): Promise<Decision> {
    hs.reached.length = 0;
    mock.requests.length = 0;
    const reply = await call(hs.url, sample.method, sample.path, {
      ...(sample.token === undefined ? {} : { token: sample.token }),
      ...(sample.body === undefined ? {} : { body: sample.body }),
    });
    const outcome = hs.reached.length > 0 ? 'reached' : `${reply.status} ${reply.body.errcode ?? ''}`;
    return { outcome, asRequests: mock.requests.length };
  }

  async function viaSpecApp(sample: Sample): Promise<Decision> {
    delete app.seen.path;
    mock.requests.length = 0;
    const reply = await app.call(sample.method, sample.path, {
      ...(sample.token === undefined ? {} : { token: sample.token }),
      ...(sample.body === undefined ? {} : { body: sample.body }),
    });
    const outcome = app.seen.path !== undefined ? 'reached' : `${reply.status} ${reply.body.errcode ?? ''}`;
    return { outcome, asRequests: mock.requests.length };
  }

  it('has a sample request for every route of the table', () => {
    expect(Object.keys(SAMPLES).sort()).to.deep.equal([...ROUTE_NAMES].sort());
  });

  for (const name of ROUTE_NAMES) {
    it(`${name}: same decision, same AS requests`, async () => {
      const sample = SAMPLES[name];
      const production = await viaAppservices(sample);
      const spec = await viaSpecApp(sample);
      expect(spec).to.deep.equal(production);
    });
  }

  it("a guard runs for a user's request through appservices(): alias squatting with a user token is refused", async () => {
    const decision = await viaAppservices(SAMPLES.aliasEdit);
    expect(decision).to.deep.equal({ outcome: '400 M_EXCLUSIVE', asRequests: 0 });
  });
});
