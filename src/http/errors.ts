// One JSON error envelope with a stable code: { status: 0, error: { code, message, fields? } }, with
// the top-level `message` and `errors: { field: [messages] }` that Laravel clients (Partnero's PHP SDK) read.
import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { z } from 'zod';

export class ApiError extends Error {
  constructor(
    readonly httpStatus: number,
    readonly code: string,
    message: string,
    readonly fields?: Record<string, string>,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** zod issues as `{ "customer.email": "Invalid email" }`. */
export function zodFields(error: z.ZodError): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const issue of error.issues) {
    const key = issue.path.join('.') || '_';
    fields[key] ??= issue.message;
  }
  return fields;
}

export function errorBody(code: string, message: string, fields?: Record<string, string>) {
  if (!fields) return { status: 0, message, error: { code, message } };
  const errors = Object.fromEntries(Object.entries(fields).map(([field, why]) => [field, [why]]));
  return { status: 0, message, errors, error: { code, message, fields } };
}

/** Seconds a 503 for an unavailable database asks the client to wait before it tries again. */
export const DATABASE_RETRY_AFTER_SECONDS = 5;

const CONNECTION_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'EAI_AGAIN']);

/**
 * Whether an error means PostgreSQL could not be reached or refused the connection for now: the
 * socket failed (refused, reset), the pool's connect timeout ran out, or the server said so by
 * SQLSTATE (08xxx connection exception, 53300 too_many_connections, 57P01-57P03 shutting down or
 * not accepting connections). Not a bug of the request, and retrying later may succeed.
 */
export function databaseUnavailable(err: unknown): boolean {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const { code, message } = e as { code?: unknown; message?: unknown };
    if (typeof code === 'string' && (CONNECTION_ERRNOS.has(code) || code.startsWith('08') || code === '53300' || /^57P0[123]$/.test(code))) return true;
    if (typeof message === 'string' && /timeout exceeded when trying to connect|Connection terminated (unexpectedly|due to connection timeout)/.test(message)) return true;
  }
  return false;
}

export const notFound: RequestHandler = (req, res) => {
  res.status(404).json(errorBody('not_found', `no route for ${req.method} ${req.path}`));
};

/** Body-parser failures are client errors; anything unexpected is logged and answered 500. */
export const errorHandler: ErrorRequestHandler = (err, req, res, _next) => {
  if (res.headersSent) return;
  if (err instanceof ApiError) {
    res.status(err.httpStatus).json(errorBody(err.code, err.message, err.fields));
    return;
  }
  const type = (err as { type?: string }).type;
  if (type === 'entity.too.large') {
    res.status(413).json(errorBody('payload_too_large', 'the request body is larger than allowed'));
    return;
  }
  if (type === 'entity.parse.failed') {
    res.status(400).json(errorBody('invalid_json', 'the request body is not valid JSON'));
    return;
  }
  if (type === 'encoding.unsupported' || type === 'charset.unsupported') {
    res.status(415).json(errorBody('unsupported_encoding', 'the request body encoding is not supported'));
    return;
  }
  // PostgreSQL refuses the NUL character (text), \u0000 (jsonb) and a lone UTF-16 surrogate (jsonb,
  // as invalid json: 22P02, also other bad input, so only when the request holds one): the input's
  // fault, said as such; the write was one transaction, so nothing of it is left behind
  const pg = (err as { cause?: { code?: string }; code?: string }).cause?.code ?? (err as { code?: string }).code;
  if (pg === '22021' || pg === '22P05' || (pg === '22P02' && hasLoneSurrogate(req.body))) {
    res.status(422).json(errorBody('invalid_characters', 'the request contains a NUL character or a lone UTF-16 surrogate, which cannot be stored'));
    return;
  }
  if (databaseUnavailable(err)) {
    req.log?.warn({ err }, 'database unavailable');
    res.status(503).setHeader('retry-after', String(DATABASE_RETRY_AFTER_SECONDS));
    res.json(errorBody('database_unavailable', 'the database is not accepting connections right now; retry later'));
    return;
  }
  const status = (err as { status?: number }).status;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    res.status(status).json(errorBody('bad_request', (err as Error).message));
    return;
  }
  req.log?.error({ err }, 'unhandled error');
  res.status(500).json(errorBody('internal_error', 'an internal error occurred; it has been logged'));
};

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Whether a parsed JSON value holds a string (or a key) with a lone UTF-16 surrogate anywhere. */
export function hasLoneSurrogate(value: unknown, depth = 0): boolean {
  if (typeof value === 'string') return LONE_SURROGATE.test(value);
  if (depth > 64 || value === null || typeof value !== 'object') return false;
  if (Array.isArray(value)) return value.some((v) => hasLoneSurrogate(v, depth + 1));
  return Object.entries(value).some(([k, v]) => LONE_SURROGATE.test(k) || hasLoneSurrogate(v, depth + 1));
}
