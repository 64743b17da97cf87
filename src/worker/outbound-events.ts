// The body of an outbound webhook: `{ event, created_at, data }`, `data` in the shape the REST API
// returns for the entity (read when the delivery is sent, so it is the entity as it is now).
import { and, eq } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import type { OutboundEvent } from '../db/outbox.js';
import { partners, rewards, transactions, type outbox } from '../db/schema.js';
import { transactionByKey } from '../db/transaction-reads.js';
import { customerByKey } from '../db/customer-reads.js';
import { payoutRequestById } from '../db/payouts.js';
import { customerView } from '../views/customer.js';
import { partnerView } from '../views/partner.js';
import { payoutRequestView } from '../views/payout-request.js';
import { timestamp } from '../views/time.js';
import { transactionView } from '../views/transaction.js';

export type OutboxRow = typeof outbox.$inferSelect;
/** A delivery's body: the event, and (as Partnero's n8n trigger reads them) the subscription's URL and key. */
export type EventBody = { event: string; created_at: string | null; data: Record<string, unknown>; url?: string; webhook_key?: string };

async function transactionData(db: Db, programId: string, programType: 'affiliate' | 'refer_a_friend', key: string) {
  const t = await transactionByKey(db, programId, key);
  return t ? transactionView(t, programType) : null;
}

/** What an event says about its entity; `{ key }` alone if the entity is gone (its program deleted it for good). */
export async function eventData(db: Db, row: OutboxRow, programType: 'affiliate' | 'refer_a_friend'): Promise<Record<string, unknown>> {
  const event = row.event as OutboundEvent;
  const detail = (row.detail ?? {}) as Record<string, unknown>;
  switch (event) {
    case 'transaction.created':
    case 'transaction.restored':
      return (await transactionData(db, row.programId, programType, row.entityKey)) ?? { key: row.entityKey };
    case 'transaction.deleted': {
      const view = (await transactionData(db, row.programId, programType, row.entityKey)) ?? { key: row.entityKey };
      // refunded, dispute_lost or deleted_via_api
      return { ...view, deleted_reason: detail.reason ?? null };
    }
    case 'customer.created':
    case 'customer.updated':
    case 'customer.archived':
    case 'customer.deleted': {
      const c = await customerByKey(db, row.programId, row.entityKey);
      return c ? customerView(c) : { key: row.entityKey };
    }
    case 'partner.created':
    case 'partner.updated':
    case 'partner.archived':
    case 'partner.deleted': {
      const [p] = await db
        .select()
        .from(partners)
        .where(and(eq(partners.programId, row.programId), eq(partners.key, row.entityKey)));
      return p ? partnerView(p) : { key: row.entityKey };
    }
    case 'reward.status_changed': {
      const change = { from: detail.from ?? null, to: detail.to ?? null, reason: detail.reason ?? null };
      const [r] = await db
        .select({ transactionKey: transactions.key })
        .from(rewards)
        .innerJoin(transactions, eq(transactions.id, rewards.transactionId))
        .where(and(eq(rewards.programId, row.programId), eq(rewards.key, row.entityKey)));
      const transactionKey = r?.transactionKey ?? (typeof detail.transaction_key === 'string' ? detail.transaction_key : null);
      const t = transactionKey ? await transactionData(db, row.programId, programType, transactionKey) : null;
      const reward = t?.rewards.find((w) => w.key === row.entityKey) ?? { key: row.entityKey };
      return { ...reward, transaction_key: transactionKey, ...change };
    }
    case 'payout_request.created':
    case 'payout_request.approved':
    case 'payout_request.rejected':
    case 'payout_request.paid': {
      const r = /^\d{1,19}$/.test(row.entityKey) ? await payoutRequestById(db, row.programId, BigInt(row.entityKey)) : null;
      return r ? payoutRequestView(r) : { id: Number(row.entityKey), ...detail };
    }
    default:
      return { key: row.entityKey, ...detail };
  }
}

export async function eventBody(
  db: Db,
  row: OutboxRow,
  programType: 'affiliate' | 'refer_a_friend',
  subscription?: { url: string; key: string },
): Promise<EventBody> {
  const body: EventBody = { event: row.event, created_at: timestamp(row.createdAt), data: await eventData(db, row, programType) };
  return subscription ? { ...body, url: subscription.url, webhook_key: subscription.key } : body;
}
