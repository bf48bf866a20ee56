/**
 * The logger the homeserver passes in. The shape is pino's (and bunyan's): an optional object of
 * fields first, then the message, so a pino instance can be handed over as is.
 */
export interface LogFn {
  (fields: Record<string, unknown>, message?: string): void;
  (message: string): void;
}

export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

const noop: LogFn = () => {};

/** The default: a library stays silent unless the homeserver asks it to speak. */
export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop };
