// The REST API's envelope and validation: { data, status: 1 } on success, the error envelope otherwise.
import type { Request, RequestHandler, Response } from 'express';
import { z } from 'zod';
import { ApiError, hasLoneSurrogate, zodFields } from '../errors.js';

export function ok(res: Response, data: unknown, httpStatus = 200): void {
  res.status(httpStatus).json({ data, status: 1 });
}

/**
 * A copy of a JSON body without its empty strings (at any depth, in objects): `""` in a field is the
 * field not given. n8n sends every optional field it shows, `""` when left blank, as HTML forms do.
 */
export function withoutBlanks(value: unknown, depth = 0): unknown {
  if (depth > 32 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => withoutBlanks(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v !== '') out[k] = withoutBlanks(v, depth + 1);
  return out;
}

/** Parse with a zod schema; wrong types and missing fields are a 422 naming each field. `""` is absent. */
export function parse<T extends z.ZodType>(schema: T, value: unknown, what = 'request'): z.infer<T> {
  const r = schema.safeParse(withoutBlanks(value ?? {}));
  if (r.success) return r.data;
  throw new ApiError(422, 'validation_failed', `the ${what} has invalid fields`, zodFields(r.error));
}

/**
 * Parse a query string with a zod object schema. Each known parameter comes once, as name=value, or
 * repeated with the same value (n8n re-appends its query to links.next); repeated with different
 * values, or in the bracket form (`status[x]=a`), it is a 422 naming it, never handed on.
 * `aliases` are other names of a parameter (`customer.key` for `customer`); the canonical one wins.
 * Unknown parameters are ignored, as they always were.
 */
export function parseQuery<T extends z.ZodObject>(schema: T, query: Request['query'], aliases: Record<string, keyof z.infer<T> & string> = {}): z.infer<T> {
  const canonical = new Map<string, string>(Object.keys(schema.shape).map((k) => [k, k]));
  for (const [alias, name] of Object.entries(aliases)) canonical.set(alias, name);
  const fields: Record<string, string> = {};
  const values = new Map<string, { value: string; given: string }>();
  for (const [given, raw] of Object.entries(query ?? {})) {
    const bare = given.replace(/\[.*$/s, '');
    const name = canonical.get(bare);
    if (name === undefined) continue;
    const same = Array.isArray(raw) && raw.length > 0 && raw.every((v) => typeof v === 'string' && v === raw[0]);
    const value = bare === given && same ? (raw[0] as string) : raw;
    if (bare !== given || typeof value !== 'string') {
      fields[bare] ??= 'give it once, as name=value';
      continue;
    }
    if (bare === name || !values.has(name)) values.set(name, { value, given });
  }
  const r = schema.safeParse(Object.fromEntries([...values].map(([name, v]) => [name, v.value])));
  if (!r.success) {
    // named as the client gave it (an alias too)
    for (const [field, message] of Object.entries(zodFields(r.error))) fields[values.get(field)?.given ?? field] ??= message;
  }
  if (Object.keys(fields).length || !r.success) throw new ApiError(422, 'validation_failed', 'the query has invalid fields', fields);
  return r.data;
}

/** The latest page a list serves: (page - 1) × limit stays a small, safe OFFSET. */
export const MAX_PAGE = 1_000_000;

/** A query parameter that is a whole number in [min, max], in decimal digits only. */
export const queryInt = (min: number, max: number) => {
  const message = `a whole number from ${min} to ${max}`;
  return z.string().regex(/^\d+$/, message).transform(Number).pipe(z.number({ error: message }).int(message).min(min, message).max(max, message));
};

/** `limit` and `page` of a list. */
export const pagination = (defaultLimit = 15) => ({
  limit: queryInt(1, 250).default(defaultLimit),
  page: queryInt(1, MAX_PAGE).default(1),
});

/** A free-text query parameter: bounded, and nothing PostgreSQL cannot compare. */
export const queryText = (max = 255) =>
  z
    .string()
    .trim()
    .min(1)
    .max(max)
    .refine((v) => !v.includes('\u0000') && !hasLoneSurrogate(v), 'must not contain a NUL character or a lone UTF-16 surrogate');

/** The days a date filter takes: four-digit years after the epoch, which a JS Date writes in ISO form and PostgreSQL reads. */
export const EARLIEST_DAY = '1970-01-01';
export const LATEST_DAY = '9999-12-31';

/** A calendar date (YYYY-MM-DD, a real day) from EARLIEST_DAY to `latest`. */
export const queryDate = (latest = LATEST_DAY) =>
  z.iso
    .date('a calendar date, YYYY-MM-DD')
    // fixed-width ISO dates order as strings do
    .refine((d) => d >= EARLIEST_DAY && d <= latest, `a date from ${EARLIEST_DAY} to ${latest}`)
    .meta({ description: `a date from ${EARLIEST_DAY} to ${latest}` });

export function notFound(what: string, key: string): ApiError {
  return new ApiError(404, 'not_found', `no ${what} with key "${key}"`);
}

export { timestamp } from '../../views/time.js';

/**
 * The query of this request as pagination links repeat it: each parameter once (a repeat with the same
 * value as that value), nothing in bracket form.
 */
export function linkQuery(query: Request['query']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(query ?? {})) {
    if (typeof v === 'string') out[k] = v;
    else if (Array.isArray(v) && typeof v[0] === 'string' && v.every((x) => x === v[0])) out[k] = v[0];
  }
  return out;
}

/** The URL of this request's collection, for pagination links. */
export function collectionUrl(req: Request): string {
  return `${req.protocol}://${req.get('host')}${req.baseUrl}${req.path}`;
}

export const programId = (res: Response): string => (res.locals.program as { id: string }).id;

/**
 * For GET and DELETE, the parameters of a JSON body join the query, as a Laravel application reads
 * input: Partnero's PHP SDK sends a list's parameters as the body of a GET (`{"limit":10,"partner":
 * {"key":"P"}}`). The query wins on a clash. Scalars become strings as a query would carry them; an
 * object one level deep becomes dotted names (`partner.key`); arrays stay arrays (refused as repeats).
 */
export const bodyParams: RequestHandler = (req, _res, next) => {
  const body: unknown = req.body;
  if ((req.method !== 'GET' && req.method !== 'DELETE' && req.method !== 'HEAD') || !body || typeof body !== 'object' || Array.isArray(body)) return next();
  const fromBody: Record<string, unknown> = {};
  const scalar = (v: unknown) => (typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined);
  const put = (name: string, v: unknown) => {
    if (v === null || v === undefined || v === '') return;
    if (Array.isArray(v)) fromBody[name] = v.map((x) => scalar(x) ?? '');
    else if (scalar(v) !== undefined) fromBody[name] = scalar(v);
  };
  for (const [name, v] of Object.entries(body)) {
    if (v && typeof v === 'object' && !Array.isArray(v)) for (const [k, inner] of Object.entries(v)) put(`${name}.${k}`, inner);
    else put(name, v);
  }
  if (Object.keys(fromBody).length) {
    // express 5 computes req.query from the URL on each read: an own property takes its place
    Object.defineProperty(req, 'query', { value: { ...fromBody, ...req.query }, configurable: true, enumerable: true, writable: true });
  }
  next();
};

/** A date-time as clients send it: with a zone, or without one (n8n's date picker), which is UTC. */
export const dateTimeInput = () =>
  z.iso
    .datetime({ offset: true, local: true, error: 'an ISO 8601 date-time; without a zone it is UTC' })
    .transform((v) => (/(?:Z|[+-]\d{2}:?\d{2})$/i.test(v) ? v : `${v}Z`));
