// GET /v1/partners/{key}/balance: what a partner is owed, per currency (db/balances.ts says where each
// reward counts). The partner read and list carry the same figures (partners.ts).
import { Router } from 'express';
import type { Db } from '../../db/client.js';
import { partnerBalances } from '../../db/balances.js';
import { balancesView } from '../../views/balance.js';
import { ApiError } from '../errors.js';
import { partnerByRef, pathRef } from './partners.js';
import { ok, programId } from './respond.js';

export function balancesRouter(deps: { db: Db }) {
  const { db } = deps;
  const router = Router();
  router.get('/v1/partners/:key/balance', async (req, res) => {
    const said = String(req.params.key);
    const partner = await partnerByRef(db, programId(res), pathRef(said));
    if (!partner) throw new ApiError(404, 'not_found', `no partner with key, id or email "${said}"`);
    const balances = await partnerBalances(db, programId(res), [partner.id]);
    ok(res, { balances: balancesView(balances.get(partner.id) ?? []) });
  });
  return router;
}
