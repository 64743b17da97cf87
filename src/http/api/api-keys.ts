// /v1/api-keys: the program's API keys. A new key is shown once; lists show a prefix; a revoked key
// is refused from its next request on.
import { Router, type Response } from 'express';
import { z } from 'zod';
import { createApiKey, ENV_KEY_MESSAGE, listApiKeys, MAX_ACTIVE_API_KEYS, maskedKey, revokeApiKey, type ApiKeyRow } from '../../db/api-keys.js';
import type { Db } from '../../db/client.js';
import { ApiError, hasLoneSurrogate } from '../errors.js';
import { ok, pagination, parse, parseQuery, programId, timestamp } from './respond.js';

export const CreateApiKey = z.object({
  name: z
    .string()
    .trim()
    .max(100)
    .refine((v) => !v.includes('\u0000') && !hasLoneSurrogate(v), 'must not contain a NUL character or a lone UTF-16 surrogate')
    .optional()
    .meta({ description: 'what the key is for, to recognise it in the list' }),
});
export const ListQuery = z.object(pagination());

/** A key as every answer shows it: masked, never its hash. `current`: the key making this request. */
export const apiKeyView = (k: ApiKeyRow, currentKeyId: unknown) => ({
  id: k.id,
  name: k.name,
  key: maskedKey(k.prefix),
  prefix: k.prefix,
  source: k.source,
  current: k.id === currentKeyId,
  created_at: timestamp(k.createdAt),
  last_used_at: timestamp(k.lastUsedAt),
  revoked_at: timestamp(k.revokedAt),
});

const notFound = (id: string) => new ApiError(404, 'not_found', `no API key with id "${id}"`);
const currentKey = (res: Response): unknown => res.locals.apiKeyId;

export function apiKeysRouter(deps: { db: Db }) {
  const { db } = deps;
  const router = Router();

  router.post('/v1/api-keys', async (req, res) => {
    const body = parse(CreateApiKey, req.body, 'API key');
    const created = await createApiKey(db, { programId: programId(res), name: body.name, source: 'api' });
    // the program was found by the key that authenticated this request: only a delete in between
    if (created === 'no_program') throw new ApiError(401, 'invalid_api_key', 'the API key is not valid');
    if (created === 'too_many') {
      throw new ApiError(409, 'too_many_api_keys', `the program holds ${MAX_ACTIVE_API_KEYS} API keys that are not revoked: revoke one first`);
    }
    ok(res, { ...apiKeyView(created.row, currentKey(res)), key: created.key }, 201);
  });

  router.get('/v1/api-keys', async (req, res) => {
    const q = parseQuery(ListQuery, req.query);
    const { rows, total } = await listApiKeys(db, programId(res), { limit: q.limit, offset: (q.page - 1) * q.limit });
    res.json({
      data: rows.map((k) => apiKeyView(k, currentKey(res))),
      meta: { current_page: q.page, last_page: Math.max(1, Math.ceil(total / q.limit)), per_page: q.limit, total },
      status: 1,
    });
  });

  router.delete('/v1/api-keys/:id', async (req, res) => {
    const id = String(req.params.id);
    const outcome = await revokeApiKey(db, id, programId(res));
    if (outcome === 'not_found') throw notFound(id);
    if ('env' in outcome) throw new ApiError(409, 'env_api_key', ENV_KEY_MESSAGE);
    const view = apiKeyView(outcome.revoked, currentKey(res));
    // allowed, so a leaked key can be retired with itself; the caller learns it has just locked itself out
    ok(res, view.current ? { ...view, warning: 'this is the key that made this request: it is revoked, and its next request is refused' } : view);
  });
  return router;
}
