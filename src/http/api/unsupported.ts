// Partnero resources its clients call that this service has no meaning for: leads (it records
// payments, not form submissions) and a partner portal's sign-in URLs (there is no partner portal). Each answers 404 with the stable code `not_supported`
// and a message saying so, which the PHP SDK raises as its not-found exception and n8n shows as the
// error's description, instead of the "no route" a mistyped path gets.
import { Router } from 'express';
import { ApiError } from '../errors.js';

/** Each unsupported resource: its paths (every method), those its clients call (for the OpenAPI document), and why. */
export const UNSUPPORTED: { paths: string[]; openapi: Record<string, string[]>; what: string; why: string }[] = [
  {
    paths: ['/v1/leads', '/v1/leads/*rest'],
    openapi: { '/v1/leads': ['get', 'post'], '/v1/leads/{id}': ['get', 'delete'], '/v1/leads/convert': ['post'], '/v1/leads/reject': ['post'] },
    what: 'leads',
    why: 'this service records payments, not leads: send the sale as a transaction (POST /v1/transactions) naming the partner',
  },
  {
    paths: ['/v1/partners\\:sign-in-url'],
    openapi: { '/v1/partners:sign-in-url': ['post'] },
    what: 'partner sign-in URLs',
    why: 'this service has no partner portal to sign in to',
  },
];

export function unsupportedRouter(): Router {
  const router = Router();
  for (const u of UNSUPPORTED) {
    router.all(u.paths, () => {
      throw new ApiError(404, 'not_supported', `${u.what} are not supported: ${u.why}`);
    });
  }
  return router;
}
