// Applying payment events to the ledger, each job's events in one database transaction.
// Unique keys and advisory locks decide duplicates and races; nothing here trusts the queue to.
// Payments go through the planner (ledger-payments.ts) whether one job or a batch is applied.
import { and, eq, inArray, isNull, sql } from 'drizzle-orm';
import type { Referrer } from '../core/attribution.js';
import { PlanFailure } from '../core/plan.js';
import type { ProgramRules } from '../core/program.js';
import { planAmountCorrection } from '../core/plan-correction.js';
import type { Db, Queryable } from './client.js';
import { recordClawbacks } from './clawbacks.js';
import { lock, lockNames, LedgerDataError, type BatchResult, type EventOutcome, type JobEvents, type LedgerEvent, type Tx } from './ledger-base.js';
import { applyBatchSetBased } from './ledger-batch.js';
import { applyPayments } from './ledger-payments.js';
import { applyRefundEvents, applyRefundsStanding } from './ledger-refunds.js';
import { recordDispute } from './ledger-reversals.js';
import { markProcessed } from './inbox.js';
import { emit } from './outbox.js';
import { customers, partners, rewards, transactions } from './schema.js';

export {
  executePrepared,
  isStoredPayment,
  lock,
  lockNames,
  LedgerDataError,
  tryLock,
  type BatchResult,
  type EnrichedPayment,
  type EventOutcome,
  type JobEvents,
  type LedgerEvent,
  type LookupTrace,
  type Tx,
} from './ledger-base.js';
export { applyDisputeRow, recordDispute } from './ledger-reversals.js';

/** What a stored transaction's credited partner (or referring customer) is now, for a correction. */
async function referrerOf(tx: Tx, programId: string, credited: { kind: Referrer['kind']; key: string }): Promise<Referrer | null> {
  const [r] =
    credited.kind === 'partner'
      ? await tx
          .select({ id: partners.id, key: partners.key })
          .from(partners)
          .where(and(eq(partners.programId, programId), eq(partners.key, credited.key), isNull(partners.deletedAt)))
      : await tx
          .select({ id: customers.id, key: customers.key })
          .from(customers)
          .where(and(eq(customers.programId, programId), eq(customers.key, credited.key), eq(customers.perPartner, false), isNull(customers.deletedAt)));
  return r ? { kind: credited.kind, ...r } : null;
}

// ---- corrections ----

/**
 * A stored payment's amount corrected (the bulk API's `tid` of an existing transaction): its rewards
 * are computed again for the new amount, with the partner it was attributed to. Null when unknown.
 */
export async function correctPaymentAmount(
  db: Db,
  program: ProgramRules,
  key: string,
  change: { amountMinor: bigint; details?: Record<string, unknown> },
  now = new Date(),
): Promise<EventOutcome | null> {
  return db.transaction(async (tx) => {
    await lock(tx, [`${program.id}|ref|${key}`]);
    const [t] = await tx
      .select()
      .from(transactions)
      .where(and(eq(transactions.programId, program.id), eq(transactions.key, key)));
    if (!t) return null;
    if (t.deletedAt) throw new LedgerDataError(`transaction ${key} is deleted; it cannot be changed`);
    const credited = (t.attribution as { credited?: { kind: Referrer['kind']; key: string } | null }).credited ?? null;
    const referrer = credited ? await referrerOf(tx, program.id, credited) : null;
    const [customer] = t.customerId ? await tx.select().from(customers).where(eq(customers.id, t.customerId)) : [];
    const live = await tx.select().from(rewards).where(and(eq(rewards.transactionId, t.id), isNull(rewards.deletedAt))).orderBy(rewards.id);
    const plan = planAmountCorrection(
      program,
      {
        transaction: t,
        referrerKey: referrer?.key ?? null,
        customerFirstPaymentAt: customer?.firstPaymentAt && customer.firstPaymentAt < t.createdAt ? customer.firstPaymentAt : null,
        liveRewardIds: live.map((w) => w.id.toString()),
      },
      change.amountMinor,
      now,
    );
    await tx
      .update(transactions)
      .set({ amountMinor: change.amountMinor, details: { ...(t.details as object), ...change.details }, updatedAt: now })
      .where(eq(transactions.id, t.id));
    if (plan.deleted.length) {
      await tx
        .update(rewards)
        .set({ deletedAt: now, deletedReason: 'amount_corrected', updatedAt: now })
        .where(inArray(rewards.id, plan.deleted.map((id) => BigInt(id))));
    }
    if (plan.reward) {
      const { draft, amount, updateId } = plan.reward;
      if (updateId !== null) {
        await tx
          .update(rewards)
          .set({ amount, originalAmount: draft.amount, units: draft.units, isCurrency: draft.isCurrency, basis: draft.basis, updatedAt: now })
          .where(eq(rewards.id, BigInt(updateId)));
      } else {
        await tx.insert(rewards).values({
          programId: program.id,
          transactionId: t.id,
          key: `rw_${t.id}_${now.getTime()}`,
          action: t.action,
          partnerId: referrer?.kind === 'partner' ? referrer.id : null,
          customerId: referrer?.kind === 'customer' ? referrer.id : null,
          amount,
          originalAmount: draft.amount,
          units: draft.units,
          isCurrency: draft.isCurrency,
          status: draft.status,
          reviewEndsAt: draft.reviewEndsAt,
          basis: draft.basis,
          createdAt: now,
        });
      }
    }
    // a reward already in an approved or paid payout that is now worth less: the partner owes the difference
    await recordClawbacks(tx, live.map((w) => w.id.toString()));
    return { kind: 'payment', result: 'corrected', transactionKey: key, rewards: plan.reward ? 1 : 0, reason: plan.reason };
  });
}


// ---- one job, or a batch of jobs ----

/** SQLSTATE 23505 on the customers' key: a customer made meanwhile by someone who did not take our locks (the API). */
function customerMadeMeanwhile(error: unknown): boolean {
  const e = error as { code?: unknown; constraint?: unknown; cause?: { code?: unknown; constraint?: unknown } } | null;
  const code = e?.code ?? e?.cause?.code;
  const constraint = String(e?.constraint ?? e?.cause?.constraint ?? '');
  return code === '23505' && constraint.startsWith('customers_');
}

/** One payment through the planner, in a savepoint: a customer made meanwhile is found on a second try. */
async function applyPayment(tx: Tx, program: ProgramRules, e: Extract<LedgerEvent, { kind: 'payment' }>, now: Date): Promise<EventOutcome> {
  for (let attempt = 0; ; attempt++) {
    try {
      const [[, outcome]] = (await tx.transaction((sp) => applyPayments(sp, [{ at: 0, e, program }], now))) as [[number, EventOutcome]];
      return outcome;
    } catch (error) {
      if (error instanceof PlanFailure) throw error.error;
      if (attempt === 0 && customerMadeMeanwhile(error)) continue;
      throw error;
    }
  }
}

/** A job's events and its inbox row's outcome, inside a transaction that already holds their locks. */
async function applyJob(tx: Tx, job: JobEvents, now: Date): Promise<EventOutcome[]> {
  const outcomes: EventOutcome[] = [];
  for (const e of job.events) {
    if (e.kind === 'payment') outcomes.push(await applyPayment(tx, job.program, e, now));
    else if (e.kind === 'refund') {
      try {
        const [[, outcome]] = (await applyRefundEvents(tx, [{ at: 0, programId: job.program.id, e }], now)) as [[number, EventOutcome]];
        outcomes.push(outcome);
      } catch (error) {
        throw error instanceof PlanFailure ? error.error : error;
      }
    }
    else if (e.kind === 'refunds_standing') {
      try {
        outcomes.push(await applyRefundsStanding(tx, job.program.id, e, now));
      } catch (error) {
        throw error instanceof PlanFailure ? error.error : error;
      }
    } else outcomes.push(await recordDispute(tx, job.program, e, now, true));
  }
  if (job.inboxId) await markProcessed(tx, BigInt(job.inboxId), outcomes, now);
  return outcomes;
}

const jobLocks = (job: JobEvents) => job.events.flatMap((e) => lockNames(job.program.id, e));

/**
 * Apply a job's events and record the outcome on its inbox row, all in one database transaction:
 * either everything is written or nothing is.
 */
export async function applyEvents(
  db: Queryable,
  program: ProgramRules,
  events: LedgerEvent[],
  opts: { now?: Date; inboxId?: string } = {},
): Promise<EventOutcome[]> {
  const now = opts.now ?? new Date();
  const job = { program, events, inboxId: opts.inboxId };
  return db.transaction(async (tx) => {
    await lock(tx, jobLocks(job));
    return applyJob(tx, job, now);
  });
}


/**
 * Many jobs in one database transaction (one commit instead of one each: the worker's throughput
 * lever), each job still all-or-nothing: a job that fails is taken out and the others are applied
 * again without it. The locks of the whole batch are taken first, in the one global order.
 */
export async function applyBatch(db: Db, jobs: JobEvents[], now = new Date()): Promise<BatchResult[]> {
  // payments set-based (ledger-batch.ts); this one-at-a-time path takes over what it cannot blame on a job
  return applyBatchSetBased(db, jobs, now, applyBatchOneByOne);
}

/** applyBatch with each event applied by its own statements, one after another. */
export async function applyBatchOneByOne(db: Db, jobs: JobEvents[], now = new Date()): Promise<BatchResult[]> {
  const results: BatchResult[] = new Array(jobs.length);
  let pending = jobs.map((_, i) => i);
  while (pending.length) {
    let failed: { index: number; error: unknown } | null = null;
    try {
      const outcomes = await db.transaction(async (tx) => {
        await lock(tx, pending.flatMap((i) => jobLocks(jobs[i]!)));
        const done = new Map<number, EventOutcome[]>();
        for (const i of pending) {
          try {
            done.set(i, await applyJob(tx, jobs[i]!, now));
          } catch (error) {
            failed = { index: i, error };
            throw error;
          }
        }
        return done;
      });
      for (const [i, o] of outcomes) results[i] = { ok: true, outcomes: o };
      pending = [];
    } catch (error) {
      const f = failed as { index: number; error: unknown } | null;
      if (!f) {
        // the batch itself failed (locks, commit, the connection): every job in it did
        for (const i of pending) results[i] = { ok: false, error };
        pending = [];
      } else {
        results[f.index] = { ok: false, error: f.error };
        pending = pending.filter((i) => i !== f.index);
      }
    }
  }
  return results;
}

/** Rewards whose review period has ended become `ok` (held ones wait for their dispute). */
export async function matureRewards(db: Db, now = new Date()): Promise<number> {
  return db.transaction(async (tx) => {
    const done = await tx
      .update(rewards)
      .set({ status: 'ok', updatedAt: now })
      .where(
        and(
          eq(rewards.status, 'review_period'),
          isNull(rewards.heldFromStatus),
          isNull(rewards.deletedAt),
          sql`${rewards.reviewEndsAt} <= ${now.toISOString()}::timestamptz`,
        ),
      )
      .returning({ key: rewards.key, programId: rewards.programId, transactionId: rewards.transactionId });
    const byProgram = new Map<string, typeof done>();
    for (const r of done) byProgram.set(r.programId, [...(byProgram.get(r.programId) ?? []), r]);
    for (const [programId, list] of byProgram) {
      await emit(
        tx,
        programId,
        list.map((r) => ({ event: 'reward.status_changed', entityKey: r.key, detail: { transaction_id: r.transactionId?.toString() ?? null, from: 'review_period', to: 'ok', reason: 'review_period_ended' } })),
      );
    }
    return done.length;
  });
}
