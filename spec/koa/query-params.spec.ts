import { unescape } from 'node:querystring';
import { expect } from 'chai';
import { queryValuesIn } from '../../lib/koa/query-params.ts';

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
    'user+id=x&user_id=a+b&user%20id=y',
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
  const names = ['user_id', 'access_token', 'device_id', 'ts', 'user id', '', 'USER_ID', 'x'];

  it('finds every value of a name, decoded, exactly as splitting and decoding every pair would', () => {
    for (const raw of cases) {
      for (const name of names) {
        expect(queryValuesIn(raw, name), `${JSON.stringify(raw)} ${JSON.stringify(name)}`).to.deep.equal(
          reference(raw, name),
        );
      }
    }
  });

  it('matches a percent-encoded or plus-spelled name like the plain one', () => {
    expect(queryValuesIn('access%5Ftoken=t1&access_token=t2', 'access_token')).to.deep.equal(['t1', 't2']);
    expect(queryValuesIn('user+id=a', 'user id')).to.deep.equal(['a']);
  });

  it('leaves malformed escapes as they are, as ctx.query does', () => {
    expect(queryValuesIn('user_id=%40a%3Ahs%ZZ', 'user_id')).to.deep.equal(['@a:hs%ZZ']);
    expect(queryValuesIn('ts=%', 'ts')).to.deep.equal(['%']);
  });
});
