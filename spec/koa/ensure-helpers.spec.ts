import type { IncomingMessage, ServerResponse } from 'node:http';
import { expect } from 'chai';
import Koa from 'koa';
import { attachEnsureHelpers, type Ask } from '../../lib/koa/interceptors.ts';
import type { AppserviceContext, AppserviceKoaContext, AppserviceState } from '../../lib/koa/state.ts';

describe('koa/interceptors: ctx.ensureUser / ctx.ensureAlias', () => {
  const app = new Koa<AppserviceState, AppserviceContext>();
  const context = () =>
    app.createContext(
      { url: '/', method: 'GET', headers: {}, socket: {} } as unknown as IncomingMessage,
      {} as unknown as ServerResponse,
    ) as unknown as AppserviceKoaContext;
  const calls: [unknown, string, readonly string[]][] = [];
  const ask: Ask = async (ctx, kind, ids) => {
    calls.push([ctx, kind, ids]);
    return 'exists';
  };

  it('are bound to their own context, so a route may destructure them', async () => {
    const first = context();
    const second = context();
    attachEnsureHelpers(first, ask);
    attachEnsureHelpers(second, ask);
    const { ensureUser } = first;
    const { ensureAlias } = second;
    expect(await ensureUser('@irc_a:hs.test')).to.equal('exists');
    expect(await ensureAlias('#irc_b:hs.test')).to.equal('exists');
    expect(calls.at(-2)).to.deep.equal([first, 'user', ['@irc_a:hs.test']]);
    expect(calls.at(-1)![0]).to.equal(second);
    expect(first.ensureUser).to.equal(ensureUser, 'the same function on every read');
  });

  it('are absent on a context the plugin did not run on', () => {
    attachEnsureHelpers(context(), ask);
    const untouched = context();
    expect(untouched.ensureUser).to.equal(undefined);
    expect(untouched.ensureAlias).to.equal(undefined);
  });

  it('can be replaced by assignment, like any property of the context', () => {
    const ctx = context();
    attachEnsureHelpers(ctx, ask);
    const replacement = async () => 'absent' as const;
    ctx.ensureUser = replacement;
    expect(ctx.ensureUser).to.equal(replacement);
    expect(Object.keys(ctx)).to.include('ensureUser');
  });
});
