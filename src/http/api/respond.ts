// The REST API's envelope and validation: { data, status: 1 } on success, the error envelope otherwise.
import type { Request, Response } from 'express';
import type { z } from 'zod';
import { ApiError, zodFields } from '../errors.js';

export function ok(res: Response, data: unknown, httpStatus = 200): void {
  res.status(httpStatus).json({ data, status: 1 });
}

/** Parse with a zod schema; wrong types and missing fields are a 422 naming each field. */
export function parse<T extends z.ZodType>(schema: T, value: unknown, what = 'request'): z.infer<T> {
  const r = schema.safeParse(value ?? {});
  if (r.success) return r.data;
  throw new ApiError(422, 'validation_failed', `the ${what} has invalid fields`, zodFields(r.error));
}

export function notFound(what: string, key: string): ApiError {
  return new ApiError(404, 'not_found', `no ${what} with key "${key}"`);
}

/** ISO 8601 with microseconds, as Partnero writes timestamps: 2025-05-12T15:43:55.000000Z. */
export function timestamp(d: Date | null | undefined): string | null {
  return d ? d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z') : null;
}

/** The URL of this request's collection, for pagination links. */
export function collectionUrl(req: Request): string {
  return `${req.protocol}://${req.get('host')}${req.baseUrl}${req.path}`;
}

export const programId = (res: Response): string => (res.locals.program as { id: string }).id;
