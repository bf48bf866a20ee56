/**
 * The whole error hierarchy of koa-appservice. Every error has a stable `code` (the table below)
 * and chains the error that caused it through `cause`, so a log shows the full story without the
 * library ever printing a token.
 *
 * | code                     | class               | meaning                                            |
 * |--------------------------|---------------------|----------------------------------------------------|
 * | `ERR_REGISTRATION`       | RegistrationError   | a registration file is invalid (file, field, why)  |
 * | `ERR_OPTIONS`            | OptionsError        | a bad option (appservices() or a constructor)      |
 * | `ERR_AS_REQUEST`         | AppserviceRequestError | a request to an AS failed (status, transport)   |
 * | `ERR_STORE`              | StoreError          | the durable store failed or is from a newer version|
 * | `ERR_INVALID_EVENT`      | InvalidEventError   | `publish()` was given something that is no event   |
 * | `ERR_MATRIX`             | MatrixError         | rendered to a client as `{ errcode, error }`       |
 */

export type ErrorCode =
  'ERR_REGISTRATION' | 'ERR_OPTIONS' | 'ERR_AS_REQUEST' | 'ERR_STORE' | 'ERR_INVALID_EVENT' | 'ERR_MATRIX';

export class KoaAppserviceError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/**
 * A registration that cannot be used. The message always reads
 * `<file>: <field path>: <reason>` so that an operator can go straight to the line.
 */
export class RegistrationError extends KoaAppserviceError {
  /** The file (or `<object #n>` for a parsed object) the error is about. */
  readonly file: string;
  /** The field path inside the file, such as `namespaces.users[1].regex`; empty for the whole file. */
  readonly field: string;
  readonly reason: string;

  constructor(file: string, field: string, reason: string, options?: { cause?: unknown }) {
    super('ERR_REGISTRATION', field ? `${file}: ${field}: ${reason}` : `${file}: ${reason}`, options);
    this.file = file;
    this.field = field;
    this.reason = reason;
  }
}

/** A load of several registrations fails as a whole; this carries every problem found. */
export class RegistrationLoadError extends KoaAppserviceError {
  readonly errors: readonly RegistrationError[];

  constructor(errors: readonly RegistrationError[]) {
    super('ERR_REGISTRATION', errors.map((e) => e.message).join('\n'));
    this.errors = errors;
  }
}

/**
 * A bad option, from `appservices()` or from any constructor a homeserver calls itself
 * (`new SqliteStore(...)`, `new PostgresStore(...)`, ...): one class, so one `catch` fits all.
 * `source` names who was given it.
 *
 * @example
 * throw new OptionsError('max', 'must be a positive integer, got 0', 'PostgresStore');
 */
export class OptionsError extends KoaAppserviceError {
  readonly option: string;
  readonly source: string;

  constructor(option: string, reason: string, source = 'appservices()') {
    super('ERR_OPTIONS', `${source}: option "${option}": ${reason}`);
    this.option = option;
    this.source = source;
  }
}

/** What went wrong talking to an AS. `kind` lets callers decide without parsing messages. */
export type AppserviceFailureKind =
  | 'connection' // refused, reset, DNS: the AS is not reachable
  | 'timeout' // connect, headers or body took too long, or the overall deadline passed
  | 'status' // the AS answered with a non-2xx status
  | 'body' // the AS answered 2xx with a body we cannot use (not JSON, too large)
  | 'url-not-set' // the registration has `url: null`
  | 'down' // not asked: the AS failed recently and is skipped until a probe gets through
  | 'overloaded'; // not asked: too many queries to this AS are in flight and waiting already

export class AppserviceRequestError extends KoaAppserviceError {
  readonly asId: string;
  readonly kind: AppserviceFailureKind;
  readonly status: number | undefined;
  /** Parsed JSON body of a non-2xx answer, when there was one. */
  readonly body: unknown;
  /** Milliseconds the AS asked us to wait (`Retry-After` header or `retry_after_ms`), when it said. */
  readonly retryAfterMs: number | undefined;

  constructor(
    asId: string,
    kind: AppserviceFailureKind,
    message: string,
    extra: { status?: number; body?: unknown; retryAfterMs?: number; cause?: unknown } = {},
  ) {
    super('ERR_AS_REQUEST', `appservice "${asId}": ${message}`, { cause: extra.cause });
    this.asId = asId;
    this.kind = kind;
    this.status = extra.status;
    this.body = extra.body;
    this.retryAfterMs = extra.retryAfterMs;
  }
}

export class StoreError extends KoaAppserviceError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_STORE', message, options);
  }
}

/**
 * A store refused to create a transaction because its truth differs from what the sender
 * believed: a transaction (`txnId`, when known) is already in flight for the AS, or the sender
 * lost its right to write. The sender's answer is to re-read the store, never to back off blindly.
 *
 * @example
 * if (err instanceof InFlightMismatchError) inFlight = await store.inFlight(err.asId);
 */
export class InFlightMismatchError extends StoreError {
  readonly asId: string;
  readonly txnId: string | undefined;

  constructor(asId: string, txnId?: string) {
    super(
      `appservice "${asId}" already has ${txnId === undefined ? 'a transaction' : `transaction ${txnId}`} in flight`,
    );
    this.asId = asId;
    this.txnId = txnId;
  }
}

export class InvalidEventError extends KoaAppserviceError {
  constructor(message: string) {
    super('ERR_INVALID_EVENT', message);
  }
}

/**
 * An error a client sees as Matrix JSON. `expose` and `status` are the names Koa reads, so a
 * MatrixError thrown from any middleware renders correctly even without our error handler.
 */
export class MatrixError extends KoaAppserviceError {
  readonly status: number;
  readonly errcode: string;
  readonly expose = true;
  /** Extra fields merged into the JSON body (for example `status` and `body` of M_BAD_STATUS). */
  readonly extra: Readonly<Record<string, unknown>>;

  constructor(
    status: number,
    errcode: string,
    message: string,
    extra: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super('ERR_MATRIX', message, options);
    this.status = status;
    this.errcode = errcode;
    this.extra = extra;
  }

  toJSON(): Record<string, unknown> {
    return { ...this.extra, errcode: this.errcode, error: this.message };
  }
}
