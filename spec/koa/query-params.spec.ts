import { unescape } from 'node:querystring';
import { expect } from 'chai';
import { paramsIn, type PluginParam } from '../../lib/koa/query-params.ts';

/** The reading the plugin must keep: every pair split on `&`, name and value decoded like `ctx.query`. */
function reference(raw: string, name: string): string[] | undefined {
  const decode = (text: string) => unescape(text.replaceAll('+', ' '));
  const values: string[] = [];
  for (const pair of raw.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    if (decode(eq === -1 ? pair : pair.slice(0, eq)) !== name) continue;
    values.push(eq === -1 ? '' : decode(pair.slice(eq + 1)));
  }
  return values.length === 0 ? undefined : values;
}

describe('koa/query-params', () => {
  const cases = [
    'user_id=%40irc_bob%3Aexample.org',
    'user_id=%40irc_bob%3Aexample.org&ts=1&device_id=DEV',
    'access_token=a&access_token=b',
    'access%5Ftoken=tok&user%5fid=%40a%3Ahs',
    'user+id=x&user_id=a+b&user%20id=y&device+id=z',
    'org.matrix.msc3202.device_id=D1&device_id=D2&org.matrix.msc3202.device%5Fid=D3',
    'access_token=%ZZ&access_token=%41',
    'user_id=%E0%A4%A&ts=%zz&device_id=%',
    'user_id&user_id=&=x&&&user_id==v=w',
    '&&user_id=first&',
    'USER_ID=upper&user_id=lower',
    'ts=1234567890123&ts',
    'user_id=%F0%9F%98%80&device_id=%ED%A0%80',
    'x=1&y=2&z=3',
    '=',
    '&',
    'user_id',
  ];
  const names: PluginParam[] = ['user_id', 'access_token', 'device_id', 'org.matrix.msc3202.device_id', 'ts'];

  it("finds every value of the plugin's names, decoded, exactly as splitting and decoding every pair would", () => {
    for (const raw of cases) {
      const params = paramsIn(raw);
      for (const name of names) {
        expect(params[name], `${JSON.stringify(raw)} ${name}`).to.deep.equal(reference(raw, name));
      }
    }
  });

  it('matches a percent-encoded or plus-spelled name like the plain one', () => {
    expect(paramsIn('access%5Ftoken=t1&access_token=t2').access_token).to.deep.equal(['t1', 't2']);
    expect(paramsIn('org.matrix.msc3202.device%5fid=D&user%5Fid=%40a%3Ahs').user_id).to.deep.equal(['@a:hs']);
    expect(paramsIn('org.matrix.msc3202.device%5fid=D')['org.matrix.msc3202.device_id']).to.deep.equal(['D']);
  });

  it('leaves malformed escapes as they are, as ctx.query does, the same on every read', () => {
    for (let i = 0; i < 2; i++) {
      expect(paramsIn('user_id=%40a%3Ahs%ZZ').user_id).to.deep.equal(['@a:hs%ZZ']);
      expect(paramsIn('ts=%').ts).to.deep.equal(['%']);
    }
  });
});
