/** The public shapes of MockAppService: its options and what it records. */
export interface MockAppServiceOptions {
  /** The token the homeserver must present. */
  hsToken: string;
  users?: Iterable<string>;
  aliases?: Iterable<string>;
  /** Decides user queries instead of `users`; may create the user on the homeserver first. */
  onUserQuery?: (userId: string) => Promise<boolean> | boolean;
  /** Decides alias queries instead of `aliases`; may create the room on the homeserver first. */
  onAliasQuery?: (alias: string) => Promise<boolean> | boolean;
  /** Answers of `GET thirdparty/protocol/{p}`, by protocol. */
  protocols?: Record<string, unknown>;
  /** Answers of location and user lookups; defaults to `[]`. */
  onThirdparty?: (kind: 'location' | 'user', protocol: string | null, query: Record<string, string>) => unknown;
  /** Answers MSC3983 claims / MSC3984 queries with the parsed body; unset: the route is unknown (404 M_UNRECOGNIZED). */
  onKeysClaim?: (body: unknown) => unknown;
  onKeysQuery?: (body: unknown) => unknown;
}

export interface RecordedRequest {
  readonly method: string;
  /** The path as sent, still percent-encoded. */
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  /** Parsed JSON when the body was JSON, the raw text otherwise, undefined when empty. */
  readonly body: unknown;
  /** Whether the request carried the right hs_token (header or query). */
  readonly tokenOk: boolean;
}

/** Shape of a transaction body, as far as the mock looks into it. */
export interface TransactionBody {
  events?: unknown[];
  ephemeral?: unknown[];
  'de.sorunome.msc2409.ephemeral'?: unknown[];
  'de.sorunome.msc2409.to_device'?: unknown[];
  [key: string]: unknown;
}
