import { expect } from 'chai';
import { bearerToken } from '../../lib/koa/as-token.ts';

describe('koa/as-token: reading the Authorization header', () => {
  /** The header grammar the plugin accepts, as one pattern with the token captured. */
  const reference = (header: string) => /^Bearer +(\S+)\s*$/i.exec(header)?.[1];

  it('takes the token of `Bearer <token>` exactly as the pattern /^Bearer +(\\S+)\\s*$/i captures it', () => {
    const headers = [
      'Bearer syt_abc',
      'bearer syt_abc',
      'BEARER   syt_abc',
      'Bearer syt_abc   ',
      'Bearer syt_abc\t',
      'Bearer syt_abc\u00a0',
      'Bearer syt_abc\u3000\u2028',
      'Bearer syt_abc def',
      'Bearer  ',
      'Bearer',
      'Bearer\tsyt_abc',
      'Bearersyt_abc',
      'Basic dXNlcjpwYXNz',
      ' Bearer syt_abc',
      'Bearer syt\u00e9_abc',
      'Bearer \u00a0syt_abc',
      '',
    ];
    for (const header of headers) expect(bearerToken(header), JSON.stringify(header)).to.equal(reference(header));
  });
});
