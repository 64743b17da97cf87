// /v1/rewards/{key}/release|reject: the merchant's answer to a reward held for review.
import { Router } from 'express';
import type { ProgramRules } from '../../core/program.js';
import type { Db } from '../../db/client.js';
import { answerHold } from '../../db/reward-holds.js';
import { ApiError } from '../errors.js';
import { ok, timestamp } from './respond.js';

export function rewardsRouter(deps: { db: Db }) {
  const router = Router();
  for (const answer of ['release', 'reject'] as const) {
    router.post(`/v1/rewards/:key/${answer}`, async (req, res) => {
      const program = res.locals.program as ProgramRules;
      const done = await answerHold(deps.db, program, String(req.params.key), answer);
      if (!done.ok && done.reason === 'not_found') throw new ApiError(404, 'reward_not_found', `no reward ${req.params.key}`);
      if (!done.ok) throw new ApiError(409, 'reward_not_held', `reward ${req.params.key} is not held for review: only a held reward can be released or rejected`);
      const r = done.reward;
      ok(res, {
        key: r.key,
        status: r.status,
        hold_reason: r.holdReason,
        amount: r.amount,
        amount_units: r.units,
        review_ends_at: r.reviewEndsAt ? timestamp(r.reviewEndsAt) : null,
        updated_at: timestamp(r.updatedAt),
      });
    });
  }
  return router;
}
