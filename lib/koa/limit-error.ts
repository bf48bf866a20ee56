/**
 * A refusal that is a limit being reached (a body too large, an id outside the grammar). It is an
 * ordinary MatrixError to the client; the chain counts it for the operator where it renders it,
 * so the functions that throw it need no metrics hook of their own.
 */
import { MatrixError } from '../errors.ts';
import type { GlobalLimit } from '../metrics.ts';

/**
 * @example
 * throw new LimitError('request_body', 413, 'M_TOO_LARGE', 'Request body too large');
 */
export class LimitError extends MatrixError {
  readonly limit: GlobalLimit;

  constructor(limit: GlobalLimit, status: number, errcode: string, message: string) {
    super(status, errcode, message);
    this.limit = limit;
  }
}
