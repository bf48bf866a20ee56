import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import Koa from 'koa';
import { request } from 'undici';
import { MatrixError } from '../../lib/errors.ts';
import { matrixErrors, toMatrixError, type PluginMiddleware } from '../../lib/koa/error-response.ts';

describe('koa/error-response', () => {
  describe('toMatrixError', () => {
    it('keeps a MatrixError, its status, errcode and extra fields', () => {
      const err = new MatrixError(502, 'M_BAD_STATUS', 'Ping returned status 403', { status: 403, body: '{}' });
      expect(toMatrixError(err)).to.equal(err);
      expect(err.toJSON()).to.deep.equal({
        status: 403,
        body: '{}',
        errcode: 'M_BAD_STATUS',
        error: 'Ping returned status 403',
      });
    });

    it('maps http-errors style 4xx errors to an errcode, exposing only exposed messages', () => {
      const exposed = Object.assign(new Error('no such thing'), { status: 404, expose: true });
      expect(toMatrixError(exposed).toJSON()).to.deep.equal({ errcode: 'M_NOT_FOUND', error: 'no such thing' });
      const hidden = Object.assign(new Error('internal detail'), { status: 418 });
      expect(toMatrixError(hidden).toJSON()).to.deep.equal({ errcode: 'M_UNKNOWN', error: 'Bad request' });
      expect(toMatrixError(hidden).status).to.equal(418);
    });

    it('turns anything else into 500 M_UNKNOWN without its message', () => {
      for (const thrown of [new Error('password=hunter2'), 'a string', null, { status: 503, message: 'x' }]) {
        const err = toMatrixError(thrown);
        expect(err.status).to.equal(500);
        expect(err.toJSON()).to.deep.equal({ errcode: 'M_UNKNOWN', error: 'Internal server error' });
      }
    });
  });

  describe("matrixErrors around the plugin's middleware", () => {
    let server: http.Server;
    let url: string;
    const logged: unknown[] = [];

    before(async () => {
      const ours: PluginMiddleware = async (ctx, next) => {
        if (ctx.path === '/ours/matrix') throw new MatrixError(403, 'M_FORBIDDEN', 'not you');
        if (ctx.path === '/ours/crash') throw new Error('secret internals');
        if (ctx.path === '/ours/rewrap') {
          try {
            await next();
          } catch (cause) {
            throw new Error('replaced', { cause });
          }
          return;
        }
        await next();
      };
      const app = new Koa();
      app.silent = true;
      app.use(matrixErrors([ours], { logger: { error: (fields) => logged.push(fields) } }));
      app.use(async (ctx) => {
        if (ctx.path === '/host/crash' || ctx.path === '/ours/rewrap') throw new Error('host internals');
        if (ctx.path === '/host/throw') ctx.throw(418, 'teapot');
        if (ctx.path === '/host/matrix') throw new MatrixError(408, 'M_UNKNOWN', 'AS too slow');
        ctx.body = { ok: true };
      });
      server = http.createServer(app.callback());
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    const get = async (path: string) => {
      const res = await request(`${url}${path}`);
      return { status: res.statusCode, type: String(res.headers['content-type']), text: await res.body.text() };
    };

    it('renders a MatrixError from its own middleware as Matrix JSON', async () => {
      const res = await get('/ours/matrix');
      expect(res.status).to.equal(403);
      expect(res.type).to.match(/application\/json/);
      expect(JSON.parse(res.text)).to.deep.equal({ errcode: 'M_FORBIDDEN', error: 'not you' });
    });

    it('renders its own unexpected errors as 500 M_UNKNOWN, logging but not leaking them', async () => {
      logged.length = 0;
      const res = await get('/ours/crash');
      expect(res.status).to.equal(500);
      expect(JSON.parse(res.text)).to.deep.equal({ errcode: 'M_UNKNOWN', error: 'Internal server error' });
      expect(res.text).not.to.include('secret');
      expect(logged).to.have.length(1);
    });

    it("lets the homeserver's own errors pass through untouched", async () => {
      const crash = await get('/host/crash');
      expect([crash.status, crash.text]).to.deep.equal([500, 'Internal Server Error']);
      const thrown = await get('/host/throw');
      expect([thrown.status, thrown.text]).to.deep.equal([418, 'teapot']);
    });

    it("renders a MatrixError from the homeserver's routes (ctx.ensureUser's 408) as JSON", async () => {
      const res = await get('/host/matrix');
      expect(res.status).to.equal(408);
      expect(JSON.parse(res.text)).to.deep.equal({ errcode: 'M_UNKNOWN', error: 'AS too slow' });
    });

    it('treats an error its middleware made out of a downstream one as its own', async () => {
      const res = await get('/ours/rewrap');
      expect(res.status).to.equal(500);
      expect(JSON.parse(res.text)).to.deep.equal({ errcode: 'M_UNKNOWN', error: 'Internal server error' });
    });
  });
});
