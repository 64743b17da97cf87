// Building programs, partners and events for worker tests.
import { randomBytes } from 'node:crypto';
import { and, asc, eq } from 'drizzle-orm';
import type { z } from 'zod';
import {
  DisputeFact,
  PaymentFact,
  RefundFact,
  type PaymentEventInput,
} from '../../src/core/payment-event.js';
import { DEFAULT_COMMISSION, type CommissionSettings, type ProgramRules } from '../../src/core/program.js';
import type { Db } from '../../src/db/client.js';
import { loadProgramRules } from '../../src/db/programs.js';
import { customers, partners, programs, rewards, transactions } from '../../src/db/schema.js';

export async function createProgram(
  db: Db,
  settings: Partial<Omit<ProgramRules, 'id' | 'commission'>> & { commission?: Partial<CommissionSettings> } = {},
): Promise<ProgramRules> {
  const [row] = await db
    .insert(programs)
    .values({
      slug: `p_${randomBytes(5).toString('hex')}`,
      name: 'Test program',
      type: settings.type ?? 'affiliate',
      attributionModel: settings.attributionModel ?? 'customer',
      currency: settings.currency ?? 'USD',
      isCurrency: settings.isCurrency ?? true,
      reviewPeriodDays: settings.reviewPeriodDays ?? 0,
      commission: { ...DEFAULT_COMMISSION, value: '30', ...settings.commission },
      publicKey: `pk_${randomBytes(8).toString('hex')}`,
      signingSecret: 'secret',
    })
    .returning({ id: programs.id });
  return (await loadProgramRules(db, row!.id))!;
}

export async function createPartner(db: Db, programId: string, key: string, extra: { email?: string; referralCode?: string } = {}) {
  const [row] = await db
    .insert(partners)
    .values({ programId, key, email: extra.email ?? `${key.toLowerCase()}@partners.example.com`, referralCode: extra.referralCode })
    .returning();
  return row!;
}

let seq = 0;
const next = () => `${Date.now().toString(36)}${(seq++).toString(36)}`;

export function payment(over: Partial<PaymentEventInput & { kind: 'payment' }> = {}): PaymentFact {
  const id = next();
  return PaymentFact.parse({
    kind: 'payment',
    gateway: 'stripe',
    eventId: `evt_${id}`,
    eventType: 'payment_intent.succeeded',
    occurredAt: '2026-11-01T10:00:00.000Z',
    transactionKey: `pi_${id}`,
    amount: { minor: '9999', currency: 'USD' },
    customer: { id: 'cus_123', email: 'buyer@example.com' },
    ...over,
  });
}

export function refund(paymentRefs: string[], over: Partial<z.input<typeof RefundFact>> = {}): RefundFact {
  const id = next();
  return RefundFact.parse({
    kind: 'refund',
    gateway: 'stripe',
    eventId: `evt_${id}`,
    eventType: 'refund.created',
    occurredAt: '2026-11-02T10:00:00.000Z',
    refundId: `re_${id}`,
    paymentRefs,
    ...over,
  });
}

export function dispute(paymentRefs: string[], status: 'opened' | 'won' | 'lost', over: Partial<z.input<typeof DisputeFact>> = {}): DisputeFact {
  return DisputeFact.parse({
    kind: 'dispute',
    gateway: 'stripe',
    eventId: `evt_${next()}`,
    eventType: status === 'opened' ? 'charge.dispute.created' : 'charge.dispute.closed',
    occurredAt: '2026-11-03T10:00:00.000Z',
    disputeId: 'dp_1',
    paymentRefs,
    status,
    ...over,
  });
}

/** A transaction as stored, with its rewards (deleted ones too) and its customer and partner keys. */
export async function stored(db: Db, programId: string, key: string) {
  const [t] = await db
    .select()
    .from(transactions)
    .where(and(eq(transactions.programId, programId), eq(transactions.key, key)));
  if (!t) return null;
  const rw = await db.select().from(rewards).where(eq(rewards.transactionId, t.id)).orderBy(asc(rewards.id));
  const [c] = t.customerId ? await db.select().from(customers).where(eq(customers.id, t.customerId)) : [];
  const [p] = t.partnerId ? await db.select().from(partners).where(eq(partners.id, t.partnerId)) : [];
  return { ...t, rewards: rw, customerKey: c?.key ?? null, partnerKey: p?.key ?? null };
}

export async function count(db: Db, table: typeof transactions | typeof customers | typeof rewards, programId: string) {
  const rows = await db.select({ id: table.id }).from(table).where(eq(table.programId, programId));
  return rows.length;
}
