// Re-attribution, storage side: load the payments booked to nobody whose partner key names a partner
// (and the customer records they need), let core/reattribute.ts decide, write its plan. Under the
// same advisory locks the ledger takes for those payments and payers, so a refund, a dispute or the
// payer's next payment arriving meanwhile waits; a payment credited once is never a candidate again
// (it has a partner), so a second run credits nothing.
import { randomUUID } from 'node:crypto';
import { and, eq, inArray, isNull, sql, type SQL } from 'drizzle-orm';
import { alias } from 'drizzle-orm/pg-core';
import { perPartnerKey } from '../core/attribution.js';
import { needsStats, emptyStats } from '../core/limits.js';
import type { EnrichedPayment, LookupTrace, PlanInput, Snapshot } from '../core/plan.js';
import type { ProgramRules } from '../core/program.js';
import { planReattribution, storedIdentity, type ReattributionItem, type ReCustomer, type StoredPayment } from '../core/reattribute.js';
import type { Db, Queryable } from './client.js';
import { lock, type Tx } from './ledger-base.js';
import { loadLimitStats } from './ledger-payments.js';
import { emit, type OutboundEvent } from './outbox.js';
import { customers, partners, rewards, transactionRefs, transactions } from './schema.js';

export type ReattributeOptions = {
  /** Payments made at or after this time only. */
  from?: Date;
  /** Decide and list, write nothing. */
  dryRun?: boolean;
  /** Only these transactions (ids): the ones whose lookups were just redone. */
  transactionIds?: string[];
  now?: Date;
};

export type ReattributionPartnerRow = typeof partners.$inferSelect;

export type ReattributionResult = { partner: ReattributionPartnerRow; dryRun: boolean; items: ReattributionItem[] };

/** A dry run rolls its transaction back: it runs exactly what a run would, and keeps nothing. */
class RolledBack extends Error {
  constructor(readonly value: unknown) {
    super('rolled back');
  }
}

/** Run `work` in a transaction that is committed, or (dry run) rolled back, returning its value either way. */
export async function inTransaction<T>(db: Db, dryRun: boolean, work: (tx: Tx) => Promise<T>): Promise<T> {
  try {
    return await db.transaction(async (tx) => {
      const value = await work(tx);
      if (dryRun) throw new RolledBack(value);
      return value;
    });
  } catch (err) {
    if (err instanceof RolledBack) return err.value as T;
    throw err;
  }
}

/**
 * Payments of a program booked to nobody whose stored partner key names this partner (its key, or its
 * referral code where Chargebee's referral-code field gave it): gateway payments only, not deleted
 * (a full refund), with no reward ever made. Served by transactions_unattributed_key_idx.
 */
function waitingFor(programId: string, model: ProgramRules['attributionModel'], partner: WaitingPartner, from?: Date): SQL {
  const keys = partner.referralCode ? [partner.key, partner.referralCode] : [partner.key];
  return sql`${transactions.programId} = ${programId} and ${transactions.partnerId} is null and ${transactions.deletedAt} is null
    and (${transactions.attribution}->>'partner_key') in (${sql.join(keys.map((k) => sql`${k}`), sql`, `)})
    and ((${transactions.attribution}->>'partner_key') = ${partner.key} or ${transactions.attribution}->>'partner_key_place' = 'chargebee_cf_referral_code')
    and coalesce(${transactions.attribution}->'credited', 'null'::jsonb) = 'null'::jsonb
    and ${transactions.gateway} <> 'api'
    and not exists (select 1 from ${rewards} r where r.transaction_id = ${transactions.id})
    ${
      // customer-based: a customer linked to another partner since keeps that link, and its payment stays
      // booked to nobody (crediting this partner would move the link; crediting the other, its key never named)
      model === 'customer'
        ? sql`and not exists (select 1 from ${customers} c where c.id = ${transactions.customerId}
            and ((c.partner_id is not null and c.partner_id <> ${partner.id}) or c.referring_customer_id is not null))`
        : sql``
    }
    ${from ? sql`and ${transactions.createdAt} >= ${from.toISOString()}::timestamptz` : sql``}`;
}

type WaitingPartner = { id: string; key: string; referralCode: string | null };

/** How many payments are waiting for this partner (the partner view's `pending_attribution`). */
export async function pendingAttribution(db: Queryable, program: Pick<ProgramRules, 'id' | 'attributionModel'>, partner: WaitingPartner): Promise<number> {
  const [row] = await db.select({ n: sql<number>`count(*)::int` }).from(transactions).where(waitingFor(program.id, program.attributionModel, partner));
  return row?.n ?? 0;
}

async function candidates(tx: Tx, program: ProgramRules, partner: ReattributionPartnerRow, opts: ReattributeOptions): Promise<StoredPayment[]> {
  const ids = opts.transactionIds;
  if (ids && !ids.length) return [];
  const rows = await tx
    .select()
    .from(transactions)
    .where(and(waitingFor(program.id, program.attributionModel, partner, opts.from), ids ? inArray(transactions.id, ids.map((i) => BigInt(i))) : undefined))
    .orderBy(transactions.createdAt, transactions.id);
  return rows.map((t) => ({
    id: t.id.toString(),
    key: t.key,
    occurredAt: t.createdAt,
    amountMinor: t.amountMinor,
    refundedMinor: t.refundedMinor,
    currency: t.currency,
    isCurrency: t.isCurrency,
    product: t.productId || t.productType ? { id: t.productId ?? undefined, type: t.productType ?? undefined } : undefined,
    gateway: t.gateway,
    action: t.action,
    disputeOpen: t.disputeStatus === 'opened',
    attribution: (t.attribution ?? {}) as Record<string, unknown>,
    customerId: t.customerId,
  }));
}

const linkedPartner = alias(partners, 'linked_partner');

async function customerRows(tx: Tx, where: SQL): Promise<ReCustomer[]> {
  const rows = await tx
    .select({ c: customers, partnerKey: linkedPartner.key, partnerArchived: sql<boolean>`${linkedPartner.archivedAt} is not null`, partnerEmail: linkedPartner.email })
    .from(customers)
    .leftJoin(linkedPartner, eq(linkedPartner.id, customers.partnerId))
    .where(where);
  return rows.map(({ c, partnerKey, partnerArchived, partnerEmail }) => ({
    id: c.id,
    key: c.key,
    emailLower: c.email?.toLowerCase() ?? null,
    gateway: c.gateway,
    gatewayCustomerId: c.gatewayCustomerId,
    perPartner: c.perPartner,
    fromBrowser: c.origin === 'browser',
    deleted: c.deletedAt !== null,
    archived: c.archivedAt !== null,
    firstPaymentAt: c.firstPaymentAt,
    // a customer linked to a referring customer (refer-a-friend) is linked too: never re-linked here
    referrer: c.partnerId
      ? { kind: 'partner' as const, id: c.partnerId, key: partnerKey ?? '', archived: partnerArchived ?? false, email: partnerEmail }
      : c.referringCustomerId
        ? { kind: 'customer' as const, id: c.referringCustomerId, key: '' }
        : null,
  }));
}

/** The names of the ledger's locks for these payments and their payers (db/ledger-base.ts lockNames). */
async function lockNamesOf(tx: Tx, programId: string, payments: Pick<StoredPayment, 'id' | 'key'>[], owners: ReCustomer[]): Promise<string[]> {
  const names = [`${programId}|reattribute`];
  if (!payments.length) return names;
  const refs = await tx
    .select({ ref: transactionRefs.ref })
    .from(transactionRefs)
    .where(and(eq(transactionRefs.programId, programId), inArray(transactionRefs.transactionId, payments.map((p) => BigInt(p.id)))));
  for (const p of payments) names.push(`${programId}|ref|${p.key}`);
  for (const r of refs) names.push(`${programId}|ref|${r.ref}`);
  for (const c of owners) {
    names.push(`${programId}|customer|${c.key}`);
    if (c.gateway && c.gatewayCustomerId) names.push(`${programId}|customer|${c.gateway}:${c.gatewayCustomerId}`);
    if (c.emailLower) names.push(`${programId}|customer|${c.emailLower}`);
  }
  return names;
}

/**
 * Credit a partner with the payments waiting for it, inside `tx` (which the caller commits or rolls
 * back). Returns what was decided for each.
 */
export async function reattributeIn(tx: Tx, program: ProgramRules, partner: ReattributionPartnerRow, opts: ReattributeOptions = {}): Promise<ReattributionItem[]> {
  const now = opts.now ?? new Date();
  const p = program.id;
  const ownersOf = async (list: StoredPayment[]) => {
    const ids = [...new Set(list.map((x) => x.customerId).filter((x): x is string => !!x))];
    return ids.length ? customerRows(tx, inArray(customers.id, ids)) : [];
  };
  // read, lock what they touch, read again: a refund or payment that landed meanwhile is seen
  const first = await candidates(tx, program, partner, opts);
  await lock(tx, await lockNamesOf(tx, p, first, await ownersOf(first)));
  const listed = new Set(first.map((x) => x.id));
  const payments = (await candidates(tx, program, partner, opts)).filter((x) => listed.has(x.id));
  if (!payments.length) return [];
  const owners = await ownersOf(payments);
  const perPartnerKeys = new Set<string>();
  for (const pay of payments) {
    const own = owners.find((c) => c.id === pay.customerId);
    if (!own) continue;
    const { perPartner } = storedIdentity(own, pay.gateway);
    perPartnerKeys.add(perPartnerKey(perPartner.base, partner.key));
    if (perPartner.older) perPartnerKeys.add(perPartnerKey(perPartner.older, partner.key));
  }
  const perPartnerRows =
    program.attributionModel === 'transaction' && perPartnerKeys.size
      ? await customerRows(tx, and(eq(customers.programId, p), inArray(customers.key, [...perPartnerKeys]))!)
      : [];
  const all = [...owners, ...perPartnerRows.filter((r) => !owners.some((o) => o.id === r.id))];

  let stats = emptyStats();
  if (needsStats(program)) {
    // what the payment planner loads for the same partner and payers (db/ledger-payments.ts)
    const list = payments.map((x) => ({ at: null, program, e: { occurredAt: x.occurredAt.toISOString() } as EnrichedPayment })) satisfies PlanInput<null>[];
    const snapshot = {
      now: now.getTime(),
      partners: [{ id: partner.id, programId: p, key: partner.key, referralCode: partner.referralCode, archived: partner.archivedAt !== null, email: partner.email }],
      customers: all.map((c) => ({ ...c, programId: p })),
    } as unknown as Snapshot;
    stats = await loadLimitStats(tx, list, snapshot);
  }

  const plan = planReattribution({
    program,
    partner: { kind: 'partner', id: partner.id, key: partner.key, archived: partner.archivedAt !== null, email: partner.email, referralCode: partner.referralCode },
    payments,
    customers: all,
    stats,
    now,
    newId: randomUUID,
  });

  const at = now;
  if (plan.created.length) {
    await tx.insert(customers).values(
      plan.created.map((c) => ({
        id: c.id,
        programId: p,
        key: c.key,
        email: c.emailLower,
        partnerId: c.referrer?.kind === 'partner' ? c.referrer.id : null,
        gateway: c.gateway,
        gatewayCustomerId: c.gatewayCustomerId,
        perPartner: c.perPartner,
        origin: 'server' as const,
        firstPaymentAt: c.firstPaymentAt,
        updatedAt: at,
      })),
    );
  }
  for (const c of plan.linked) {
    // a customer linked to nobody is linked now; a link is never moved
    await tx
      .update(customers)
      .set({ partnerId: partner.id, updatedAt: at })
      .where(and(eq(customers.id, c.id), isNull(customers.partnerId), isNull(customers.referringCustomerId)));
  }
  for (const c of plan.touched) {
    if (!c.firstPaymentAt) continue;
    await tx
      .update(customers)
      .set({ firstPaymentAt: sql`least(${customers.firstPaymentAt}, ${c.firstPaymentAt.toISOString()}::timestamptz)`, updatedAt: at })
      .where(eq(customers.id, c.id));
  }
  for (const item of plan.items) {
    if (item.result !== 'credited') continue;
    const tid = BigInt(item.payment.id);
    const [updated] = await tx
      .update(transactions)
      .set({ partnerId: partner.id, customerId: item.customerId, attribution: item.attribution, updatedAt: at })
      .where(and(eq(transactions.id, tid), isNull(transactions.partnerId)))
      .returning({ id: transactions.id });
    if (!updated) throw new Error(`transaction ${item.payment.key} was credited meanwhile`);
    const r = item.reward;
    if (!r) continue;
    await tx.insert(rewards).values({
      programId: p,
      transactionId: tid,
      key: `rw_${tid}_1`,
      action: item.payment.action,
      partnerId: partner.id,
      amount: r.keptAmount,
      originalAmount: r.amount,
      units: r.units,
      isCurrency: r.isCurrency,
      status: r.status,
      heldFromStatus: r.heldFromStatus,
      reviewEndsAt: r.reviewEndsAt,
      basis: r.basis,
      holdReason: r.holdReason ?? null,
      cappedFrom: r.cappedFrom ?? null,
      createdAt: item.payment.occurredAt,
    });
  }
  await emit(tx, p, plan.outbox.map((o) => ({ event: o.event as OutboundEvent, entityKey: o.entityKey, detail: o.detail })));
  return plan.items;
}

/** The live partner of a program with this key (else null). */
export async function livePartner(db: Queryable, programId: string, key: string): Promise<ReattributionPartnerRow | null> {
  const [row] = await db
    .select()
    .from(partners)
    .where(and(eq(partners.programId, programId), eq(partners.key, key), isNull(partners.deletedAt)));
  return row ?? null;
}

/** Credit a partner with the payments waiting for it; a dry run decides the same and keeps nothing. */
export async function reattributePartner(db: Db, program: ProgramRules, partner: ReattributionPartnerRow, opts: ReattributeOptions = {}): Promise<ReattributionResult> {
  const dryRun = opts.dryRun ?? false;
  const items = await inTransaction(db, dryRun, (tx) => reattributeIn(tx, program, partner, opts));
  return { partner, dryRun, items };
}

// ---- lookups that were not configured ----

export type NotConfiguredPayment = { id: string; key: string; gateway: string; occurredAt: Date; lookups: LookupTrace[] };

/**
 * Payments booked to nobody whose partner-key lookups were skipped because the gateway's API access
 * was not set (`lookups[].result: not_configured`) and that found no key otherwise.
 */
export async function notConfiguredPayments(db: Queryable, programId: string, opts: { gateway?: string; from?: Date } = {}): Promise<NotConfiguredPayment[]> {
  const rows = await db
    .select({ id: transactions.id, key: transactions.key, gateway: transactions.gateway, createdAt: transactions.createdAt, attribution: transactions.attribution })
    .from(transactions)
    .where(notConfiguredWhere(programId, opts))
    .orderBy(transactions.createdAt, transactions.id);
  return rows.map((r) => ({
    id: r.id.toString(),
    key: r.key,
    gateway: r.gateway,
    occurredAt: r.createdAt,
    lookups: ((r.attribution as { lookups?: LookupTrace[] }).lookups ?? []) as LookupTrace[],
  }));
}

export function notConfiguredWhere(programId: string, opts: { gateway?: string; from?: Date } = {}): SQL {
  return sql`${transactions.programId} = ${programId} and ${transactions.partnerId} is null and ${transactions.deletedAt} is null
    and ${transactions.attribution}->'lookups' @> '[{"result": "not_configured"}]'::jsonb
    -- a partner-key (or email) lookup: the canonical payment id (payment_key) is not done again
    and exists (select 1 from jsonb_array_elements(${transactions.attribution}->'lookups') l
      where l->>'result' = 'not_configured' and l->>'place' <> 'payment_key')
    and ${transactions.attribution}->>'partner_key' is null
    and coalesce(${transactions.attribution}->'credited', 'null'::jsonb) = 'null'::jsonb
    ${opts.gateway ? sql`and ${transactions.gateway} = ${opts.gateway}` : sql``}
    ${opts.from ? sql`and ${transactions.createdAt} >= ${opts.from.toISOString()}::timestamptz` : sql``}`;
}

/**
 * Take the locks re-attributing this payment takes (its ids, its payer's identities), all in one call
 * before anything is read for writing: a second call later (re-entrant for the same names) never waits.
 */
export async function lockPayment(tx: Tx, programId: string, paymentId: string): Promise<void> {
  const [t] = await tx.select({ key: transactions.key, customerId: transactions.customerId }).from(transactions).where(eq(transactions.id, BigInt(paymentId)));
  if (!t) return;
  const owners = t.customerId ? await customerRows(tx, eq(customers.id, t.customerId)) : [];
  await lock(tx, await lockNamesOf(tx, programId, [{ id: paymentId, key: t.key }], owners));
}

/**
 * Record what a payment's redone lookups found (under lockPayment's locks): the new trace and, when one found a key, the key as
 * a payment booked with it would carry it (a key that names no partner yet is `ignored_partner_key`,
 * waiting for that partner like any other). Only while the payment is still booked to nobody.
 */
export async function recordLookups(
  tx: Tx,
  programId: string,
  payment: NotConfiguredPayment,
  found: { trace: LookupTrace[]; partnerKey: { value: string; place: string } | null },
  now: Date,
): Promise<boolean> {
  const [t] = await tx
    .select({ attribution: transactions.attribution })
    .from(transactions)
    .where(and(eq(transactions.programId, programId), eq(transactions.id, BigInt(payment.id)), isNull(transactions.partnerId)));
  if (!t) return false;
  const record = (t.attribution ?? {}) as Record<string, unknown>;
  const next: Record<string, unknown> = { ...record, lookups: found.trace, lookups_redone_at: now.toISOString() };
  if (found.partnerKey) {
    next.partner_key = found.partnerKey.value;
    next.partner_key_place = found.partnerKey.place;
    next.ignored_partner_key = found.partnerKey.value;
    if (record.model === 'transaction') next.fallback = 'unknown_partner_key';
  }
  await tx.update(transactions).set({ attribution: next, updatedAt: now }).where(eq(transactions.id, BigInt(payment.id)));
  return true;
}
