/**
 * A validated registration, as the rest of the library sees it: camelCase, regexes compiled,
 * defaults applied. `raw` keeps the file's object, unknown keys included, for the homeserver.
 */
export interface NamespaceRule {
  readonly exclusive: boolean;
  /** The regex exactly as written in the file (Python syntax). */
  readonly source: string;
  /**
   * The translation, anchored at the start like Python's `re.match`. From the loader it is a
   * LinearRegExp: `test` and `exec` run on RE2, in linear time; `source` is the JS spelling.
   */
  readonly regex: RegExp;
}

export interface Namespaces {
  readonly users: readonly NamespaceRule[];
  readonly aliases: readonly NamespaceRule[];
  readonly rooms: readonly NamespaceRule[];
}

export type NamespaceKind = keyof Namespaces;

export interface Registration {
  readonly id: string;
  /** Base URL of the AS, or null: then nothing is pushed to it and it is never queried. */
  readonly url: string | null;
  readonly asToken: string;
  readonly hsToken: string;
  readonly senderLocalpart: string;
  readonly namespaces: Namespaces;
  /** Whether the AS's requests are rate limited (Synapse's default: true). */
  readonly rateLimited: boolean;
  readonly protocols: readonly string[];
  /** Ephemeral events (typing, receipts, presence): `receive_ephemeral` or MSC2409's unstable name. */
  readonly receiveEphemeral: boolean;
  /** MSC3202 transaction extensions: device lists, one-time key counts, device masquerading. */
  readonly msc3202: boolean;
  /** MSC4190: the AS manages its users' devices itself. */
  readonly msc4190: boolean;
  /**
   * To-device messages (MSC2409). Synapse has no separate key for them: it sends them to the ASes
   * that opted in to ephemeral events, so the loader sets this to `receiveEphemeral`.
   */
  readonly receiveToDevice: boolean;
  /** Send `access_token=<hs_token>` in the query too, for ASes that predate the Authorization header. */
  readonly legacyQueryToken: boolean;
  /**
   * Synapse's `ip_range_whitelist`: the IP addresses / CIDR ranges the AS's requests may come
   * from. Undefined: any address.
   */
  readonly ipRangeWhitelist?: readonly string[] | undefined;
  /** Where it came from: a file path, or `<object #n>` for a parsed object. */
  readonly source: string;
  /** The parsed file, unknown keys kept. */
  readonly raw: Readonly<Record<string, unknown>>;
}
