// Disputes, one event at a time: stored once by the gateway's id, applied to their payment when it is
// stored (or when it arrives: ledger-payments.ts applies the ones waiting for it). Refunds: ledger-refunds.ts.
import { and, eq, isNull, sql } from 'drizzle-orm';
import type { DisputeFact } from '../core/payment-event.js';
import type { ProgramRules } from '../core/program.js';
import { lock, lockNames, transactionByRefs, type EventOutcome, type Tx } from './ledger-base.js';
import { recordClawbacks } from './clawbacks.js';
import { emit } from './outbox.js';
import { disputes, rewards, transactions } from './schema.js';

// ---- disputes ----

export async function applyDisputeRow(tx: Tx, d: typeof disputes.$inferSelect, now: Date): Promise<string | null> {
  const t = await transactionByRefs(tx, d.programId, d.paymentRefs);
  if (!t) return null;
  if (t.deletedAt === null) {
    const live = and(eq(rewards.transactionId, t.id), isNull(rewards.deletedAt));
    if (d.status === 'opened') {
      // hold: back to review until the dispute closes; a rejected reward stays rejected
      const held = await tx
        .update(rewards)
        .set({ heldFromStatus: sql`${rewards.status}`, status: 'review_period', updatedAt: now })
        .where(and(live, isNull(rewards.heldFromStatus), sql`${rewards.status} <> 'rejected'`))
        .returning({ key: rewards.key, from: rewards.heldFromStatus });
      await emit(
        tx,
        t.programId,
        held.map((r) => ({ event: 'reward.status_changed', entityKey: r.key, detail: { transaction_key: t.key, from: r.from, to: 'review_period', reason: 'dispute_opened' } })),
      );
      await tx.update(transactions).set({ disputeStatus: 'opened', updatedAt: now }).where(eq(transactions.id, t.id));
    } else if (d.status === 'won') {
      const restored = await tx
        .update(rewards)
        .set({
          status: sql`case when ${rewards.heldFromStatus} = 'review_period' and ${rewards.reviewEndsAt} <= ${now.toISOString()}::timestamptz then 'ok'::reward_status else ${rewards.heldFromStatus} end`,
          heldFromStatus: null,
          updatedAt: now,
        })
        .where(and(live, sql`${rewards.heldFromStatus} is not null`))
        .returning({ key: rewards.key, to: rewards.status });
      await emit(
        tx,
        t.programId,
        restored.map((r) => ({ event: 'reward.status_changed', entityKey: r.key, detail: { transaction_key: t.key, from: 'review_period', to: r.to, reason: 'dispute_won' } })),
      );
      await tx.update(transactions).set({ disputeStatus: 'won', updatedAt: now }).where(eq(transactions.id, t.id));
    } else {
      await tx
        .update(transactions)
        .set({ disputeStatus: 'lost', deletedAt: now, deletedReason: 'dispute_lost', updatedAt: now })
        .where(eq(transactions.id, t.id));
      const gone = await tx.update(rewards).set({ deletedAt: now, updatedAt: now }).where(live).returning({ id: rewards.id });
      await recordClawbacks(tx, gone.map((g) => g.id.toString()), { disputeId: d.id.toString() });
      await emit(tx, t.programId, [{ event: 'transaction.deleted', entityKey: t.key, detail: { reason: 'dispute_lost' } }]);
    }
  }
  await tx.update(disputes).set({ appliedAt: now, transactionId: t.id, updatedAt: now }).where(eq(disputes.id, d.id));
  return t.key;
}

export async function recordDispute(tx: Tx, program: ProgramRules, e: DisputeFact, now: Date, locked = false): Promise<EventOutcome> {
  if (!locked) await lock(tx, lockNames(program.id, e));
  const occurredAt = new Date(e.occurredAt);
  // a closed dispute is final; an `opened` arriving after its closing changes nothing
  const [row] = await tx
    .insert(disputes)
    .values({
      programId: program.id,
      gateway: e.gateway,
      disputeId: e.disputeId,
      paymentRefs: e.paymentRefs,
      status: e.status,
      occurredAt,
    })
    .onConflictDoUpdate({
      target: [disputes.programId, disputes.gateway, disputes.disputeId],
      set: { status: e.status, occurredAt, updatedAt: now, appliedAt: null },
      setWhere: sql`${disputes.status} = 'opened' and ${e.status} <> 'opened'`,
    })
    .returning();
  if (!row) return { kind: 'dispute', result: 'unchanged', transactionKey: null, status: e.status };
  const key = await applyDisputeRow(tx, row, now);
  return { kind: 'dispute', result: key ? 'applied' : 'pending_payment', transactionKey: key, status: e.status };
}

