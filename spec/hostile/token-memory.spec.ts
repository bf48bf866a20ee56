/**
 * The plugin remembers users' tokens that are no as_token (so a user's next request is not hashed
 * again). A client sending ever new tokens must not grow that memory: close to 10 000 distinct
 * 15 KB tokens (a count bound alone would let them all stay: 150 MB) through the mounted
 * middleware leave the heap within a few MB of where it was.
 */
import http from 'node:http';
import { Socket } from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import { expect } from 'chai';
import Koa from 'koa';
import { appservices, MemoryStore } from '../../lib/index.ts';
import { ToyHost } from '../koa/support/toy-host.ts';
import { registrationObject } from '../reliability/support/homeserver.ts';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

describe("hostile: memory of users' tokens", function () {
  this.timeout(60_000);

  it('9 900 distinct 15 KB tokens grow the heap by less than 8 MB', async () => {
    const as = await appservices({
      registrations: [registrationObject('irc', null)],
      host: new ToyHost('hs.test'),
      store: new MemoryStore(),
    });
    const app = new Koa();
    const middleware = as.middleware() as Koa.Middleware;
    const socket = new Socket();
    const request = async (token: string): Promise<void> => {
      const req = new http.IncomingMessage(socket);
      req.url = '/_matrix/client/v3/account/whoami';
      req.method = 'GET';
      req.headers = { authorization: `Bearer ${token}`, host: 'hs.test' };
      await middleware(app.createContext(req, new http.ServerResponse(req)), async () => {});
    };
    try {
      const padding = 'x'.repeat(15_000);
      await request(`warmup${padding}`);
      const before = heapAfterGc();
      for (let i = 0; i < 9_900; i++) await request(`${i}${padding}`.slice(0, 15_000));
      const grown = heapAfterGc() - before;
      expect(grown, `${(grown / 1e6).toFixed(1)} MB`).to.be.below(8e6);
    } finally {
      await as.close();
    }
  });
});
