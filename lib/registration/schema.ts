/**
 * The registration file format: every field Synapse reads (synapse/config/appservice.py and
 * synapse/appservice/__init__.py), validated with zod, then mapped to the camelCase
 * `Registration` the library uses.
 *
 * Where Synapse is lax in a way that hurts we refuse instead: `rate_limited: "false"` (Synapse
 * reads any non-boolean as true), a `url` that is not http(s), truthy non-booleans for the
 * ephemeral opt-ins, namespace regexes that cannot match the way Python does in linear time, and
 * tokens of a few characters.
 *
 * One key is ours: `koa_appservice.access_token_query: true` makes the library also send
 * `?access_token=<hs_token>` to the AS, for ASes older than the Authorization header.
 * Unknown keys are kept in `raw`.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import type { NamespaceKind, NamespaceRule, Registration } from './registration.ts';
import { translateNamespaceRegex } from './regex.ts';

/** Our own opt-in key, namespaced like the MSC keys so it cannot clash with a future Synapse one. */
export const LEGACY_QUERY_TOKEN_KEY = 'koa_appservice.access_token_query';

function describe(input: unknown): string {
  if (input === null) return 'null';
  if (Array.isArray(input)) return 'a list';
  if (typeof input === 'object') return 'a mapping';
  if (typeof input === 'string') return 'a string';
  return `a ${typeof input}`;
}

/**
 * The shortest as_token or hs_token accepted (spaces not counted). Synapse takes any string, but a
 * token of a few characters can be guessed, and an as_token acts as any user of the AS's namespaces.
 * Bridges generate 32 to 64 characters.
 */
export const MIN_TOKEN_LENGTH = 8;

/** Never echoes the value: the same helper is used for tokens. */
function requiredString(what: string) {
  return z
    .string({
      error: (issue) =>
        issue.input === undefined ? `required: ${what}` : `must be ${what}, got ${describe(issue.input)}`,
    })
    .min(1, { error: `must not be empty` });
}

function token() {
  return requiredString('a string').refine((value) => value === '' || [...value.trim()].length >= MIN_TOKEN_LENGTH, {
    error: `is too short: at least ${MIN_TOKEN_LENGTH} characters besides spaces, so that it cannot be guessed (bridges generate 32 to 64)`,
  });
}

function flag(defaultValue: boolean) {
  return z
    .boolean({
      error: (issue) =>
        typeof issue.input === 'string' && /^(true|false|yes|no|on|off)$/i.test(issue.input.trim())
          ? `must be a boolean, not the string ${JSON.stringify(issue.input)} (write it without quotes)`
          : `must be true or false, got ${describe(issue.input)}`,
    })
    .default(defaultValue);
}

const namespaceRule = z.looseObject(
  {
    exclusive: z.boolean({
      error: (issue) =>
        issue.input === undefined ? 'required: true or false' : `must be true or false, got ${describe(issue.input)}`,
    }),
    // Compiled here, not after validation, so that a bad regex is reported with every other problem.
    regex: requiredString('a regular expression (Python syntax)').transform((source, ctx) => {
      try {
        return { source, regex: translateNamespaceRegex(source) };
      } catch (error) {
        ctx.issues.push({ code: 'custom', message: (error as Error).message, input: source });
        return z.NEVER;
      }
    }),
  },
  { error: (issue) => `must be a mapping with "exclusive" and "regex", got ${describe(issue.input)}` },
);

const namespaceList = z
  .array(namespaceRule, { error: (issue) => `must be a list of {exclusive, regex}, got ${describe(issue.input)}` })
  .optional();

const httpUrl = z.string().superRefine((value, ctx) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    ctx.addIssue({
      code: 'custom',
      message: 'must be an http(s) URL such as http://localhost:8080, and this is not a URL',
    });
    return;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    // Only the scheme is shown: the rest of a URL may carry credentials.
    const hint = value.includes('//') ? '' : ' (is the scheme missing? write http://host:port)';
    ctx.addIssue({
      code: 'custom',
      message: `must be an http(s) URL, not a ${JSON.stringify(url.protocol.slice(0, -1))} URL${hint}`,
    });
  }
});

function ipRange(value: string): boolean {
  const [address, prefix, extra] = value.split('/');
  const family = isIP(address ?? '');
  if (family === 0 || extra !== undefined) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

/** The shape of a registration file. Keys Synapse does not read pass through untouched. */
export const registrationSchema = z
  .looseObject(
    {
      id: requiredString('a string').refine((id) => !id.includes('|'), {
        error: 'must not contain "|" (Synapse refuses it)',
      }),
      // Must be present: a missing url silently turning pushes off is what Synapse guards against too.
      url: z.union([httpUrl, z.null()], {
        error: (issue) =>
          issue.input === undefined
            ? 'required: an http(s) URL, or null for an AS that receives nothing'
            : `must be an http(s) URL or null, got ${describe(issue.input)}`,
      }),
      as_token: token(),
      hs_token: token(),
      sender_localpart: requiredString('a string').refine((s) => /^[A-Za-z0-9_.~/-]+$/.test(s), {
        error: 'must use only characters that need no URL encoding (A-Z a-z 0-9 _ . ~ / -)',
      }),
      namespaces: z.object(
        { users: namespaceList, aliases: namespaceList, rooms: namespaceList },
        {
          error: (issue) =>
            issue.input === undefined
              ? 'required: a mapping of users, aliases and rooms'
              : `must be a mapping, got ${describe(issue.input)}`,
        },
      ),
      rate_limited: flag(true),
      protocols: z
        .array(z.string({ error: (issue) => `must be a string, got ${describe(issue.input)}` }), {
          error: (issue) => `must be a list of strings, got ${describe(issue.input)}`,
        })
        .nullish(),
      receive_ephemeral: flag(false),
      'de.sorunome.msc2409.push_ephemeral': flag(false),
      'org.matrix.msc3202': flag(false),
      'io.element.msc4190': flag(false),
      'io.element.msc4502.scopes': z.array(z.string(), { error: 'must be a list of strings' }).optional(),
      'io.element.msc4512.proxy_prefix': z.string().min(1, { error: 'must be a non-empty string' }).optional(),
      'io.element.msc4512.proxy_url': z.string().min(1, { error: 'must be a non-empty string' }).optional(),
      ip_range_whitelist: z
        .array(z.string().refine(ipRange, { error: 'must be an IP address or a CIDR range' }), {
          error: 'must be a list of IP ranges',
        })
        .nullish(),
      [LEGACY_QUERY_TOKEN_KEY]: flag(false),
    },
    { error: (issue) => `must be a mapping of registration fields, got ${describe(issue.input)}` },
  )
  .superRefine((value, ctx) => {
    const prefix = value['io.element.msc4512.proxy_prefix'];
    const url = value['io.element.msc4512.proxy_url'];
    if ((prefix === undefined) !== (url === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [prefix === undefined ? 'io.element.msc4512.proxy_prefix' : 'io.element.msc4512.proxy_url'],
        message: 'proxy_prefix and proxy_url must be set together',
      });
    }
  });

export type RegistrationFile = z.infer<typeof registrationSchema>;

/** A problem found while validating one registration: the field path and why. */
export interface FieldProblem {
  readonly field: string;
  readonly reason: string;
}

/** `['namespaces', 'users', 1, 'regex']` → `namespaces.users[1].regex`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out;
}

/**
 * Validates a parsed registration file and maps it to a `Registration`, or returns every
 * problem found.
 *
 * @example
 * const result = toRegistration(yamlObject, 'registrations/irc.yaml');
 * if ('problems' in result) console.error(result.problems);
 * else console.log(result.registration.id);
 */
export function toRegistration(
  value: unknown,
  source: string,
): { registration: Registration } | { problems: FieldProblem[] } {
  const parsed = registrationSchema.safeParse(value);
  if (!parsed.success) {
    return { problems: parsed.error.issues.map((issue) => ({ field: formatPath(issue.path), reason: issue.message })) };
  }
  const file = parsed.data;
  const compile = (kind: NamespaceKind): NamespaceRule[] =>
    (file.namespaces[kind] ?? []).map((rule) => ({
      exclusive: rule.exclusive,
      source: rule.regex.source,
      regex: rule.regex.regex,
    }));
  const namespaces = { users: compile('users'), aliases: compile('aliases'), rooms: compile('rooms') };
  const receiveEphemeral = file.receive_ephemeral || file['de.sorunome.msc2409.push_ephemeral'];
  const registration: Registration = {
    id: file.id,
    // Synapse strips trailing slashes so that paths can be appended.
    url: file.url === null ? null : file.url.replace(/\/+$/, ''),
    asToken: file.as_token,
    hsToken: file.hs_token,
    senderLocalpart: file.sender_localpart,
    namespaces,
    rateLimited: file.rate_limited,
    protocols: file.protocols ?? [],
    receiveEphemeral,
    msc3202: file['org.matrix.msc3202'],
    msc4190: file['io.element.msc4190'],
    // Synapse sends to-device messages to the ASes that opted in to ephemeral events; MSC4203 has
    // no flag at all, so an AS that declares encryption support (MSC3202) gets them too.
    receiveToDevice: receiveEphemeral || file['org.matrix.msc3202'],
    legacyQueryToken: file[LEGACY_QUERY_TOKEN_KEY],
    ipRangeWhitelist: file.ip_range_whitelist ?? undefined,
    source,
    raw: value as Readonly<Record<string, unknown>>,
  };
  return { registration };
}
