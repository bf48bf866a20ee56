/**
 * The options of one {@link AppserviceClient}, checked and completed with the library's defaults
 * (lib/options.ts), so that a client built by hand behaves like one built by `appservices()`.
 */
import { defaults, integerOption } from '../options.ts';

export interface AppserviceClientOptions {
  /** TCP connect budget per attempt. Default `connectTimeoutMs` of lib/options.ts (5 000). */
  readonly connectTimeoutMs?: number;
  /** Time until the AS starts answering. Default 30 000 (a query may create a room first). */
  readonly headersTimeoutMs?: number;
  /** Longest pause while the body streams in, and the longest the whole body may take. Default 30 000. */
  readonly bodyTimeoutMs?: number;
  /** Larger answers are cut off and rejected as `body` errors. Default 1 MiB. */
  readonly maxResponseBytes?: number;
  /** Upper bound on concurrent connections to this AS. Default 8. */
  readonly connections?: number;
  /** How long to trust "this AS speaks only the draft paths" before trying v1 again. Default 10 min. */
  readonly legacyReprobeMs?: number;
  /** Called each time an answer is cut off at `maxResponseBytes` (for metrics). */
  readonly onResponseTooLarge?: () => void;
}

export type ClientSettings = Required<Omit<AppserviceClientOptions, 'onResponseTooLarge'>>;

/**
 * Every option of the client, defaults applied; a bad one throws an `OptionsError` naming it.
 *
 * @example
 * resolveClientOptions({ connections: 4 }).headersTimeoutMs; // 30 000
 */
export function resolveClientOptions(options: AppserviceClientOptions = {}): ClientSettings {
  const source = 'AppserviceClient';
  return {
    connectTimeoutMs: integerOption(options.connectTimeoutMs, 'connectTimeoutMs', source, defaults.connectTimeoutMs),
    headersTimeoutMs: integerOption(options.headersTimeoutMs, 'headersTimeoutMs', source, defaults.headersTimeoutMs),
    bodyTimeoutMs: integerOption(options.bodyTimeoutMs, 'bodyTimeoutMs', source, defaults.bodyTimeoutMs),
    maxResponseBytes: integerOption(options.maxResponseBytes, 'maxResponseBytes', source, defaults.maxResponseBytes),
    connections: integerOption(options.connections, 'connections', source, defaults.connectionsPerAppservice),
    legacyReprobeMs: integerOption(options.legacyReprobeMs, 'legacyReprobeMs', source, defaults.legacyReprobeMs),
  };
}
