// Applying payment events to the ledger, each job's events in one database transaction.
// Unique keys and advisory locks decide duplicates and races; nothing here trusts the queue to.
import { createHash } from 'node:crypto';
import { and, arrayOverlaps, asc, eq, inArray, isNull, ne, sql, type SQL } from 'drizzle-orm';
import { PgDialect, type PreparedQueryConfig } from 'drizzle-orm/pg-core';
import { attribute, perPartnerKey, type Referrer, type StoredCustomer } from '../core/attribution.js';
import { computeCommission } from '../core/commission.js';
import { MoneyError } from '../core/money.js';
import type { DisputeFact, PaymentFact, RefundFact } from '../core/payment-event.js';
import type { ProgramRules } from '../core/program.js';
import { reducedReward, refundedTotal } from '../core/refund.js';
import type { Db, Queryable } from './client.js';
import { applyBatchSetBased } from './ledger-batch.js';
import { emit } from './outbox.js';
import {
  customers,
  disputes,
  partners,
  refunds,
  rewards,
  transactionRefs,
  transactions,
  webhookEvents,
} from './schema.js';

export type Tx = Parameters<Parameters<Queryable['transaction']>[0]>[0];

const dialect = new PgDialect();

/**
 * A statement run as a named prepared statement, its name derived from its text: parsed once per
 * connection, and planned once too when PostgreSQL finds its generic plan no worse than the custom
 * ones (a batch's large statements took 1.5–3 ms to plan, at every batch). For statements whose text
 * does not change from call to call: values go in parameters.
 */
export function executePrepared(tx: Tx, query: SQL): Promise<{ rows: Record<string, unknown>[] }> {
  const q = dialect.sqlToQuery(query);
  const name = `ledger_${createHash('sha1').update(q.sql).digest('hex').slice(0, 16)}`;
  // drizzle names statements only for its query builders; its session prepares any SQL under a name
  return tx._.session.prepareQuery<PreparedQueryConfig & { execute: { rows: Record<string, unknown>[] } }>(q, undefined, name, false).execute();
}

/** Data that will never be accepted, however often it is retried. */
export class LedgerDataError extends Error {
  override name = 'LedgerDataError';
}

/** What the enrich step found out, kept on the transaction to explain its attribution. */
export type LookupTrace = { place: string; id: string; result: 'found' | 'not_found' | 'no_key' | 'not_configured' };
export type EnrichedPayment = PaymentFact & { lookupTrace?: LookupTrace[] };
export type LedgerEvent = EnrichedPayment | RefundFact | DisputeFact;

export type EventOutcome =
  | { kind: 'payment'; result: 'created' | 'merged' | 'corrected'; transactionKey: string; rewards: number; reason: string | null }
  | { kind: 'refund'; result: 'applied' | 'pending_payment' | 'duplicate'; transactionKey: string | null; deleted: boolean }
  | { kind: 'dispute'; result: 'applied' | 'pending_payment' | 'unchanged'; transactionKey: string | null; status: string };

// ---- locks ----

/**
 * Transaction-scoped advisory locks, in one round trip, taken in one global order (by hash) so two
 * transactions never deadlock. Re-entrant: a lock this transaction holds is taken again at once.
 */
export async function lock(tx: Tx, names: string[]): Promise<void> {
  if (!names.length) return;
  // one array parameter (a batch names over a thousand locks): one statement text whatever the count
  await executePrepared(
    tx,
    sql`select pg_advisory_xact_lock(h) from (select distinct hashtextextended(n, 0) as h from unnest(${sql.param([...new Set(names)])}::text[]) as n order by h) as ordered`,
  );
}
/**
 * Every lock tried at once, none waited for: the names whose lock another transaction holds now.
 * Locks taken here are held until the transaction ends, like lock()'s; a transaction that took them
 * must not wait for other locks afterwards (they were not taken in the global order).
 */
export async function tryLock(tx: Tx, names: string[]): Promise<Set<string>> {
  const unique = [...new Set(names)];
  if (!unique.length) return new Set();
  const res = await executePrepared(tx, sql`
    with named as (select n, hashtextextended(n, 0) as h from unnest(${sql.param(unique)}::text[]) as n),
    tried as (select h, pg_try_advisory_xact_lock(h) as ok from (select distinct h from named) as d)
    select named.n from named join tried using (h) where not tried.ok`);
  return new Set((res.rows as { n: string }[]).map((r) => r.n));
}

const refLocks = (programId: string, refs: string[]) => refs.map((r) => `${programId}|ref|${r}`);

async function transactionByRefs(tx: Tx, programId: string, refs: string[]) {
  const [hit] = await tx
    .select({ t: transactions })
    .from(transactionRefs)
    .innerJoin(transactions, eq(transactions.id, transactionRefs.transactionId))
    .where(and(eq(transactionRefs.programId, programId), inArray(transactionRefs.ref, refs)))
    .limit(1);
  return hit?.t ?? null;
}

/** Whether a payment is stored under any of these ids (read outside any transaction: a hint only). */
export async function isStoredPayment(db: Queryable, programId: string, refs: string[]): Promise<boolean> {
  const [hit] = await db
    .select({ id: transactionRefs.transactionId })
    .from(transactionRefs)
    .where(and(eq(transactionRefs.programId, programId), inArray(transactionRefs.ref, refs)))
    .limit(1);
  return !!hit;
}

// ---- who is who ----

async function referrerById(tx: Tx, partnerId: string | null, referringCustomerId: string | null) {
  if (partnerId) {
    const [p] = await tx.select({ key: partners.key }).from(partners).where(eq(partners.id, partnerId));
    return p ? ({ kind: 'partner', id: partnerId, key: p.key } as Referrer) : null;
  }
  if (referringCustomerId) {
    const [c] = await tx.select({ key: customers.key }).from(customers).where(eq(customers.id, referringCustomerId));
    return c ? ({ kind: 'customer', id: referringCustomerId, key: c.key } as Referrer) : null;
  }
  return null;
}

async function toStored(tx: Tx, row: typeof customers.$inferSelect): Promise<StoredCustomer> {
  return {
    id: row.id,
    key: row.key,
    referrer: await referrerById(tx, row.partnerId, row.referringCustomerId),
    firstPaymentAt: row.firstPaymentAt,
    fromBrowser: row.origin === 'browser',
  };
}

/** What a partner key names: a partner (or its referral code), or in refer-a-friend a customer. */
async function referrerByKey(tx: Tx, program: ProgramRules, key: string, place: string): Promise<Referrer | null> {
  if (program.type === 'refer_a_friend') {
    const [c] = await tx
      .select({ id: customers.id, key: customers.key })
      .from(customers)
      .where(
        and(
          eq(customers.programId, program.id),
          eq(customers.key, key),
          eq(customers.perPartner, false),
          isNull(customers.deletedAt),
        ),
      );
    return c ? { kind: 'customer', ...c } : null;
  }
  const byCode = place === 'chargebee_cf_referral_code';
  const [p] = await tx
    .select({ id: partners.id, key: partners.key })
    .from(partners)
    .where(
      and(
        eq(partners.programId, program.id),
        byCode ? sql`(${partners.referralCode} = ${key} or ${partners.key} = ${key})` : eq(partners.key, key),
        isNull(partners.deletedAt),
      ),
    )
    .orderBy(byCode ? sql`coalesce(${partners.referralCode} = ${key}, false) desc` : asc(partners.key))
    .limit(1);
  return p ? { kind: 'partner', ...p } : null;
}

type Identity = { key?: string; gatewayId?: string; email?: string };

/**
 * The payer's own record: by key, else gateway id, else email; the oldest. A customer a browser
 * created is never matched by email (anyone could have typed it), and a browser's report matches
 * by key only.
 */
async function findCustomer(tx: Tx, programId: string, gateway: string, who: Identity, fromBrowser: boolean) {
  const base = and(eq(customers.programId, programId), eq(customers.perPartner, false), isNull(customers.deletedAt));
  const tries = [
    who.key ? (['key', eq(customers.key, who.key)] as const) : null,
    who.gatewayId && !fromBrowser
      ? (['gateway_id', and(eq(customers.gateway, gateway), eq(customers.gatewayCustomerId, who.gatewayId))] as const)
      : null,
    who.email && !fromBrowser
      ? (['email', and(sql`lower(${customers.email}) = ${who.email.toLowerCase()}`, ne(customers.origin, 'browser'))] as const)
      : null,
  ];
  for (const t of tries) {
    if (!t) continue;
    const [row] = await tx.select().from(customers).where(and(base, t[1])).orderBy(asc(customers.createdAt)).limit(1);
    if (row) return { row, matchedBy: t[0] };
  }
  return null;
}

// ---- payments ----

export function identityOf(e: EnrichedPayment) {
  const who: Identity = { key: e.customer.key, gatewayId: e.customer.id, email: e.customer.email?.trim() || undefined };
  const baseCustomerKey = who.key ?? who.gatewayId ?? who.email?.toLowerCase() ?? `guest_${e.transactionKey}`;
  return { who, baseCustomerKey };
}

/** The locks an event takes: the ids of its payment, and (for a payment) its customer's identities. */
export function lockNames(programId: string, e: LedgerEvent): string[] {
  if (e.kind !== 'payment') return refLocks(programId, e.paymentRefs);
  const { who, baseCustomerKey } = identityOf(e);
  return [
    ...refLocks(programId, [e.transactionKey, ...e.aliases]),
    ...[who.key, who.gatewayId && `${e.gateway}:${who.gatewayId}`, who.email?.toLowerCase(), baseCustomerKey]
      .filter((x): x is string => !!x)
      .map((x) => `${programId}|customer|${x}`),
  ];
}

/** What a transaction's `attribution` says: how its partner was found and why it earned what it did. */
export function attributionRecord(e: EnrichedPayment, explanation: object, rewardReason: string | null) {
  return {
    ...explanation,
    lookups: e.lookupTrace ?? [],
    reward_reason: rewardReason,
    event_id: e.eventId,
    event_type: e.eventType,
  };
}

async function recordPayment(tx: Tx, program: ProgramRules, e: EnrichedPayment, now: Date, locked = false): Promise<EventOutcome> {
  const refs = [...new Set([e.transactionKey, ...e.aliases])];
  const { who, baseCustomerKey } = identityOf(e);
  if (!locked) await lock(tx, lockNames(program.id, e));

  const existing = await transactionByRefs(tx, program.id, refs);
  if (existing) {
    // the same payment reported again (another event type, a redelivery): merge, never a second one
    await tx
      .insert(transactionRefs)
      .values(refs.map((ref) => ({ programId: program.id, ref, transactionId: existing.id })))
      .onConflictDoNothing();
    return { kind: 'payment', result: 'merged', transactionKey: existing.key, rewards: 0, reason: null };
  }

  try {
    const currencyCode = e.amount.currency;
    const amount = BigInt(e.amount.minor);
    const found = await findCustomer(tx, program.id, e.gateway, who, e.fromBrowser);
    const keyReferrer = e.partnerKey ? await referrerByKey(tx, program, e.partnerKey.value, e.partnerKey.place) : null;
    let perPartnerCustomer: StoredCustomer | null = null;
    if (program.attributionModel === 'transaction' && keyReferrer) {
      const [row] = await tx
        .select()
        .from(customers)
        .where(
          and(eq(customers.programId, program.id), eq(customers.key, perPartnerKey(baseCustomerKey, keyReferrer.key))),
        );
      if (row) perPartnerCustomer = await toStored(tx, row);
    }
    const decision = attribute({
      model: program.attributionModel,
      partnerKey: e.partnerKey ?? null,
      keyReferrer,
      baseCustomerKey,
      customer: found ? { ...(await toStored(tx, found.row)), matchedBy: found.matchedBy } : null,
      perPartnerCustomer,
      createCustomer: e.createCustomer,
      fromBrowser: e.fromBrowser,
    });

    let customer: StoredCustomer | null = null;
    if (decision.customer.action === 'use') customer = decision.customer.customer;
    if (decision.customer.action === 'link') {
      const { referrer } = decision.customer;
      await tx
        .update(customers)
        .set({
          partnerId: referrer.kind === 'partner' ? referrer.id : null,
          referringCustomerId: referrer.kind === 'customer' ? referrer.id : null,
          updatedAt: now,
        })
        .where(and(eq(customers.id, decision.customer.customer.id), isNull(customers.partnerId), isNull(customers.referringCustomerId)));
      customer = { ...decision.customer.customer, referrer };
    }
    if (decision.customer.action === 'create') {
      const d = decision.customer;
      const [row] = await tx
        .insert(customers)
        .values({
          programId: program.id,
          key: d.key,
          email: who.email ?? null,
          name: e.customer.name ?? null,
          surname: e.customer.surname ?? null,
          partnerId: d.referrer?.kind === 'partner' ? d.referrer.id : null,
          referringCustomerId: d.referrer?.kind === 'customer' ? d.referrer.id : null,
          gateway: e.gateway,
          gatewayCustomerId: who.gatewayId ?? null,
          perPartner: d.perPartner,
          origin: e.fromBrowser ? 'browser' : 'server',
        })
        .onConflictDoNothing({ target: [customers.programId, customers.key] })
        .returning();
      // created meanwhile by someone who did not take our locks (the API): use theirs
      const stored =
        row ??
        (await tx
          .select()
          .from(customers)
          .where(and(eq(customers.programId, program.id), eq(customers.key, d.key)))
          .then((r) => r[0]));
      if (!stored) throw new Error(`customer ${d.key} vanished while being created`);
      customer = await toStored(tx, stored);
    }

    const occurredAt = new Date(e.occurredAt);
    const credited = decision.credited;
    const commission = computeCommission(program, {
      amount: { minor: amount, currency: currencyCode, isCurrency: e.amount.isCurrency },
      product: e.product,
      partnerKey: credited?.key ?? null,
      occurredAt,
      customerFirstPaymentAt:
        customer?.firstPaymentAt && customer.firstPaymentAt < occurredAt ? customer.firstPaymentAt : null,
      rewardable: e.rewardable,
      holdForReview: e.holdForReview || decision.hold,
      now,
    });

    const [t] = await tx
      .insert(transactions)
      .values({
        programId: program.id,
        key: e.transactionKey,
        action: e.action,
        amountMinor: amount,
        currency: currencyCode,
        isCurrency: e.amount.isCurrency,
        taxMinor: e.tax === undefined ? null : BigInt(e.tax),
        customerId: customer?.id ?? null,
        partnerId: credited?.kind === 'partner' ? credited.id : null,
        gateway: e.gateway,
        productId: e.product?.id ?? null,
        productType: e.product?.type ?? null,
        attribution: attributionRecord(e, decision.explanation, commission.reason),
        details: e.details ?? {},
        createdAt: occurredAt,
      })
      .returning();
    if (!t) throw new Error('transaction insert returned nothing');
    await tx.insert(transactionRefs).values(refs.map((ref) => ({ programId: program.id, ref, transactionId: t.id })));

    const drafts = commission.rewards;
    if (drafts.length) {
      await tx.insert(rewards).values(
        drafts.map((r, i) => ({
          programId: program.id,
          transactionId: t.id,
          key: `rw_${t.id}_${i + 1}`,
          action: e.action,
          partnerId: credited?.kind === 'partner' ? credited.id : null,
          customerId: credited?.kind === 'customer' ? credited.id : null,
          amount: r.amount,
          originalAmount: r.amount,
          units: r.units,
          isCurrency: r.isCurrency,
          status: r.status,
          reviewEndsAt: r.reviewEndsAt,
          basis: r.basis,
          createdAt: occurredAt,
        })),
      );
    }
    if (customer) {
      await tx
        .update(customers)
        .set({
          firstPaymentAt: sql`least(${customers.firstPaymentAt}, ${occurredAt.toISOString()}::timestamptz)`,
          updatedAt: now,
        })
        .where(eq(customers.id, customer.id));
    }

    // refunds and disputes that arrived before their payment apply now
    const waitingRefunds = await tx
      .select()
      .from(refunds)
      .where(and(eq(refunds.programId, program.id), isNull(refunds.appliedAt), arrayOverlaps(refunds.paymentRefs, refs)))
      .orderBy(asc(refunds.occurredAt));
    // (one in another currency stays waiting: it is not this payment's to take back)
    for (const r of waitingRefunds) await applyRefundRow(tx, r, now);
    const waitingDisputes = await tx
      .select()
      .from(disputes)
      .where(
        and(eq(disputes.programId, program.id), isNull(disputes.appliedAt), arrayOverlaps(disputes.paymentRefs, refs)),
      );
    for (const d of waitingDisputes) await applyDisputeRow(tx, d, now);

    await emit(tx, program.id, [
      ...(decision.customer.action === 'create' && customer ? [{ event: 'customer.created' as const, entityKey: customer.key }] : []),
      ...(decision.customer.action === 'link' && customer ? [{ event: 'customer.updated' as const, entityKey: customer.key }] : []),
      { event: 'transaction.created', entityKey: t.key },
    ]);
    return {
      kind: 'payment',
      result: 'created',
      transactionKey: t.key,
      rewards: drafts.length,
      reason: commission.reason,
    };
  } catch (err) {
    if (err instanceof MoneyError) throw new LedgerDataError(`payload: ${err.message}`);
    throw err;
  }
}

// ---- refunds ----

type RefundApplied = { key: string; deleted: boolean } | { mismatch: string } | null;

export async function applyRefundRow(tx: Tx, r: typeof refunds.$inferSelect, now: Date): Promise<RefundApplied> {
  const t = await transactionByRefs(tx, r.programId, r.paymentRefs);
  if (!t) return null;
  if (r.currency && r.amountMinor !== null && r.currency !== t.currency) {
    return { mismatch: `payload: refund ${r.refundId} is in ${r.currency}, its payment ${t.key} in ${t.currency}` };
  }
  await tx.update(refunds).set({ appliedAt: now, transactionId: t.id }).where(eq(refunds.id, r.id));
  let deleted = t.deletedAt !== null;
  if (!deleted) {
    const applied = await tx
      .select({ amountMinor: refunds.amountMinor, cumulative: refunds.cumulative })
      .from(refunds)
      .where(eq(refunds.transactionId, t.id));
    const effect = refundedTotal(t.amountMinor, applied);
    if (effect.full) {
      await tx
        .update(transactions)
        .set({ refundedMinor: effect.refundedMinor, deletedAt: now, deletedReason: 'refunded', updatedAt: now })
        .where(eq(transactions.id, t.id));
      await tx
        .update(rewards)
        .set({ deletedAt: now, updatedAt: now })
        .where(and(eq(rewards.transactionId, t.id), isNull(rewards.deletedAt)));
      await emit(tx, t.programId, [{ event: 'transaction.deleted', entityKey: t.key, detail: { reason: 'refunded' } }]);
      deleted = true;
    } else if (effect.refundedMinor !== t.refundedMinor) {
      await tx
        .update(transactions)
        .set({ refundedMinor: effect.refundedMinor, updatedAt: now })
        .where(eq(transactions.id, t.id));
      const live = await tx
        .select()
        .from(rewards)
        .where(and(eq(rewards.transactionId, t.id), isNull(rewards.deletedAt)));
      for (const w of live) {
        const amount = reducedReward(
          { amount: w.originalAmount, units: w.units, isCurrency: w.isCurrency },
          t.amountMinor,
          effect.refundedMinor,
        );
        await tx.update(rewards).set({ amount, updatedAt: now }).where(eq(rewards.id, w.id));
      }
    }
  }
  return { key: t.key, deleted };
}

export async function recordRefund(tx: Tx, program: ProgramRules, e: RefundFact, now: Date, locked = false): Promise<EventOutcome> {
  if (!locked) await lock(tx, lockNames(program.id, e));
  const [row] = await tx
    .insert(refunds)
    .values({
      programId: program.id,
      gateway: e.gateway,
      refundId: e.refundId,
      paymentRefs: e.paymentRefs,
      amountMinor: e.amount ? BigInt(e.amount.minor) : null,
      currency: e.amount?.currency ?? null,
      cumulative: e.cumulative,
      occurredAt: new Date(e.occurredAt),
    })
    .onConflictDoNothing({ target: [refunds.programId, refunds.gateway, refunds.refundId] })
    .returning();
  if (!row) return { kind: 'refund', result: 'duplicate', transactionKey: null, deleted: false };
  const applied = await applyRefundRow(tx, row, now);
  if (!applied) return { kind: 'refund', result: 'pending_payment', transactionKey: null, deleted: false };
  if ('mismatch' in applied) throw new LedgerDataError(applied.mismatch);
  return { kind: 'refund', result: 'applied', transactionKey: applied.key, deleted: applied.deleted };
}

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
      await tx.update(rewards).set({ deletedAt: now, updatedAt: now }).where(live);
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
    await lock(tx, refLocks(program.id, [key]));
    const [t] = await tx
      .select()
      .from(transactions)
      .where(and(eq(transactions.programId, program.id), eq(transactions.key, key)));
    if (!t) return null;
    if (t.deletedAt) throw new LedgerDataError(`transaction ${key} is deleted; it cannot be changed`);
    const credited = (t.attribution as { credited?: { kind: Referrer['kind']; key: string } | null }).credited ?? null;
    const referrer = credited ? await referrerByKey(tx, { ...program, type: credited.kind === 'customer' ? 'refer_a_friend' : 'affiliate' }, credited.key, '') : null;
    const [customer] = t.customerId ? await tx.select().from(customers).where(eq(customers.id, t.customerId)) : [];
    const commission = computeCommission(program, {
      amount: { minor: change.amountMinor, currency: t.currency, isCurrency: t.isCurrency },
      product: { id: t.productId ?? undefined, type: t.productType ?? undefined },
      partnerKey: referrer?.key ?? null,
      occurredAt: t.createdAt,
      customerFirstPaymentAt: customer?.firstPaymentAt && customer.firstPaymentAt < t.createdAt ? customer.firstPaymentAt : null,
      now,
    });
    await tx
      .update(transactions)
      .set({ amountMinor: change.amountMinor, details: { ...(t.details as object), ...change.details }, updatedAt: now })
      .where(eq(transactions.id, t.id));
    const live = await tx.select().from(rewards).where(and(eq(rewards.transactionId, t.id), isNull(rewards.deletedAt)));
    const draft = commission.rewards[0];
    if (!draft) {
      if (live.length) await tx.update(rewards).set({ deletedAt: now, updatedAt: now }).where(inArray(rewards.id, live.map((w) => w.id)));
    } else {
      const amount = reducedReward({ amount: draft.amount, units: draft.units, isCurrency: draft.isCurrency }, change.amountMinor, t.refundedMinor);
      if (live[0]) {
        await tx
          .update(rewards)
          .set({ amount, originalAmount: draft.amount, units: draft.units, isCurrency: draft.isCurrency, basis: draft.basis, updatedAt: now })
          .where(eq(rewards.id, live[0].id));
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
    return { kind: 'payment', result: 'corrected', transactionKey: key, rewards: draft ? 1 : 0, reason: commission.reason };
  });
}

// ---- one job, or a batch of jobs ----

export type JobEvents = { program: ProgramRules; events: LedgerEvent[]; inboxId?: string };

/** A job's events and its inbox row's outcome, inside a transaction that already holds their locks. */
async function applyJob(tx: Tx, job: JobEvents, now: Date): Promise<EventOutcome[]> {
  const outcomes: EventOutcome[] = [];
  for (const e of job.events) {
    if (e.kind === 'payment') outcomes.push(await recordPayment(tx, job.program, e, now, true));
    else if (e.kind === 'refund') outcomes.push(await recordRefund(tx, job.program, e, now, true));
    else outcomes.push(await recordDispute(tx, job.program, e, now, true));
  }
  if (job.inboxId) {
    await tx
      .update(webhookEvents)
      .set({ status: 'processed', outcome: outcomes, processedAt: now, attempts: sql`${webhookEvents.attempts} + 1`, lastError: null })
      .where(eq(webhookEvents.id, BigInt(job.inboxId)));
  }
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

export type BatchResult = { ok: true; outcomes: EventOutcome[] } | { ok: false; error: unknown };

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
        list.map((r) => ({ event: 'reward.status_changed', entityKey: r.key, detail: { transaction_id: r.transactionId.toString(), from: 'review_period', to: 'ok', reason: 'review_period_ended' } })),
      );
    }
    return done.length;
  });
}
