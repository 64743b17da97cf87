// Disputes, one event at a time: stored once by the gateway's id, applied to their payment when it is
// stored (or when it arrives: ledger-payments.ts applies the ones waiting for it). Refunds: ledger-refunds.ts.
import { and, eq, isNull, or, sql } from 'drizzle-orm';
import { planDispute } from '../core/dispute.js';
import type { DisputeFact } from '../core/payment-event.js';
import type { ProgramRules } from '../core/program.js';
import { lock, lockNames, transactionByRefs, type EventOutcome, type Tx } from './ledger-base.js';
import { cancelRefundClawbacks, recordClawbacks } from './clawbacks.js';
import { emit } from './outbox.js';
import { disputes, rewards, transactions } from './schema.js';

// ---- disputes ----

export async function applyDisputeRow(tx: Tx, d: typeof disputes.$inferSelect, now: Date): Promise<string | null> {
  const t = await transactionByRefs(tx, d.programId, d.paymentRefs);
  if (!t) return null;
  const list = await tx
    .select({
      id: rewards.id,
      key: rewards.key,
      status: rewards.status,
      heldFrom: rewards.heldFromStatus,
      reviewEndsAt: rewards.reviewEndsAt,
      deletedAt: rewards.deletedAt,
      deletedReason: rewards.deletedReason,
    })
    .from(rewards)
    .where(and(eq(rewards.transactionId, t.id), or(isNull(rewards.deletedAt), eq(rewards.deletedReason, 'dispute_lost'))));
  const change = planDispute(
    {
      key: t.key,
      deleted: t.deletedAt !== null,
      deletedReason: t.deletedReason,
      rewards: list.map((w) => ({ ...w, id: w.id.toString(), deleted: w.deletedAt !== null })),
    },
    d.status as DisputeFact['status'],
    now,
  );
  if (change) {
    const { transaction: c } = change;
    await tx
      .update(transactions)
      .set({
        disputeStatus: c.disputeStatus,
        updatedAt: now,
        ...(c.deleted ? { deletedAt: now, deletedReason: 'dispute_lost', deletedBy: d.disputeId } : {}),
        ...(c.restored ? { deletedAt: null, deletedReason: null, deletedBy: null } : {}),
      })
      .where(eq(transactions.id, t.id));
    for (const w of change.rewards) {
      await tx
        .update(rewards)
        .set({
          status: w.status,
          heldFromStatus: w.heldFrom,
          updatedAt: now,
          ...(w.deleted ? { deletedAt: now, deletedReason: 'dispute_lost' } : {}),
          ...(w.restored ? { deletedAt: null, deletedReason: null } : {}),
        })
        .where(eq(rewards.id, BigInt(w.id)));
    }
    const ids = change.rewards.map((w) => w.id);
    // a reward already in a fixed payout: deleted, the partner owes it back; restored, it no longer does
    if (c.deleted) await recordClawbacks(tx, ids, { disputeId: d.id.toString() });
    if (c.restored) await cancelRefundClawbacks(tx, ids, now, d.id.toString());
    await emit(tx, t.programId, [
      ...change.statusChanges.map((r) => ({ event: 'reward.status_changed' as const, entityKey: r.key, detail: { transaction_key: t.key, from: r.from, to: r.to, reason: r.reason } })),
      ...(change.event ? [{ event: change.event, entityKey: t.key, detail: { reason: c.deleted ? 'dispute_lost' : 'dispute_won' } }] : []),
    ]);
  }
  await tx.update(disputes).set({ appliedAt: now, transactionId: t.id, updatedAt: now }).where(eq(disputes.id, d.id));
  return t.key;
}

export async function recordDispute(tx: Tx, program: ProgramRules, e: DisputeFact, now: Date, locked = false): Promise<EventOutcome> {
  if (!locked) await lock(tx, lockNames(program.id, e));
  const occurredAt = new Date(e.occurredAt);
  // a closed dispute is final, but for a lost one the gateway reverses (won after lost: a chargeback
  // reversed, funds reinstated); an `opened` arriving after its closing changes nothing
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
      setWhere: sql`(${disputes.status} = 'opened' and ${e.status} <> 'opened') or (${disputes.status} = 'lost' and ${e.status} = 'won')`,
    })
    .returning();
  if (!row) return { kind: 'dispute', result: 'unchanged', transactionKey: null, status: e.status };
  const key = await applyDisputeRow(tx, row, now);
  return { kind: 'dispute', result: key ? 'applied' : 'pending_payment', transactionKey: key, status: e.status };
}

