/**
 * A registration's url as it may be shown: in `serve`'s start-up lines, lint's messages and logs.
 * A url can carry secrets (a password in its userinfo, `?access_token=<hs_token>` in its query),
 * so the password, the query and the fragment are replaced (a query parameter's name may be the
 * secret itself); what the operator needs to recognise the AS (scheme, user name, host, port,
 * path) stays.
 *
 * @example
 * redactUrl('http://bridge:hunter2@localhost:9000/as?access_token=abc'); // 'http://bridge:<redacted>@localhost:9000/as?<redacted>'
 * redactUrl('not a url'); // '<not a url>'
 */
export function redactUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return '<not a url>'; // the text may still be a secret pasted in the wrong place
  }
  const userinfo =
    parsed.username === '' && parsed.password === ''
      ? ''
      : `${parsed.username}${parsed.password === '' ? '' : ':<redacted>'}@`;
  const query = parsed.search === '' ? '' : '?<redacted>';
  const fragment = parsed.hash === '' ? '' : '#<redacted>';
  return `${parsed.protocol}//${userinfo}${parsed.host}${parsed.pathname}${query}${fragment}`;
}
