// The merchant's answer to a reward held for review (self-referral, refund rate): release it, to be
// paid as the program's rules say, or reject it. A held reward waits in review with no end.
import { and, eq, isNotNull, isNull } from 'drizzle-orm';
import type { ProgramRules } from '../core/program.js';
import type { Db } from './client.js';
import { emit } from './outbox.js';
import { rewards } from './schema.js';

export type HoldAnswer =
  | { ok: true; reward: typeof rewards.$inferSelect }
  | { ok: false; reason: 'not_found' | 'not_held' };

const DAY_MS = 86_400_000;

export async function answerHold(db: Db, program: ProgramRules, key: string, answer: 'release' | 'reject', now = new Date()): Promise<HoldAnswer> {
  return db.transaction(async (tx) => {
    const [r] = await tx
      .select()
      .from(rewards)
      .where(and(eq(rewards.programId, program.id), eq(rewards.key, key), isNull(rewards.deletedAt)))
      .for('update');
    if (!r) return { ok: false, reason: 'not_found' };
    if (!r.holdReason || r.status !== 'review_period' || r.heldFromStatus) return { ok: false, reason: 'not_held' };
    // released: the program's own review period still runs from the sale, as for any reward
    const reviewEndsAt = new Date(r.createdAt.getTime() + program.reviewPeriodDays * DAY_MS);
    const to = answer === 'reject' ? 'rejected' : reviewEndsAt > now ? 'review_period' : 'ok';
    const [u] = await tx
      .update(rewards)
      .set({
        status: to,
        reviewEndsAt: to === 'review_period' ? reviewEndsAt : r.reviewEndsAt,
        // a released reward is no longer held; a rejected one keeps why it was
        holdReason: answer === 'release' ? null : r.holdReason,
        updatedAt: now,
      })
      .where(and(eq(rewards.id, r.id), isNotNull(rewards.holdReason)))
      .returning();
    await emit(tx, program.id, [
      {
        event: 'reward.status_changed',
        entityKey: r.key,
        detail: { transaction_id: r.transactionId?.toString() ?? null, from: 'review_period', to, reason: `${r.holdReason}_${answer === 'release' ? 'released' : 'rejected'}` },
      },
    ]);
    return { ok: true, reward: u! };
  });
}
