// Writing outbox events inside the database transaction that causes them. Only programs with an
// active subscription to the event get a row, decided in the same statement (no extra round trip,
// no stale cache).
import { sql } from 'drizzle-orm';
import type { Tx } from './ledger-base.js';

export const OUTBOUND_EVENTS = [
  'transaction.created',
  'transaction.deleted',
  // a reversal (a refund the gateway took back, a dispute won after it was lost) brought it back
  'transaction.restored',
  'customer.created',
  'customer.updated',
  'customer.deleted',
  'customer.archived',
  'partner.created',
  'partner.updated',
  'partner.deleted',
  'partner.archived',
  'reward.status_changed',
  'payout_request.created',
  'payout_request.approved',
  'payout_request.rejected',
  'payout_request.paid',
  // Partnero's other event names: a subscription accepts them (clients subscribe to them unchanged),
  // this service has nothing that produces them (NEVER_EMITTED)
  'partner.approved',
  'partner.rejected',
  'customer.credited',
  'customer.rewarded',
  'lead.submitted',
  'lead.converted',
  'lead.rejected',
  'subscriber.created',
  'subscriber.updated',
  'subscriber.deleted',
  'subscriber.rewarded',
] as const;

/** Events a subscription may name that this service never sends, and why. */
export const NEVER_EMITTED: Partial<Record<(typeof OUTBOUND_EVENTS)[number], string>> = {
  'partner.approved': 'partners are active when created: there is no approval step',
  'partner.rejected': 'partners are active when created: there is no approval step',
  'customer.credited': 'customer balances are not kept here',
  'customer.rewarded': 'rewards are announced by transaction.created and reward.status_changed',
  'lead.submitted': 'leads are not kept here',
  'lead.converted': 'leads are not kept here',
  'lead.rejected': 'leads are not kept here',
  'subscriber.created': 'newsletter programs are not supported',
  'subscriber.updated': 'newsletter programs are not supported',
  'subscriber.deleted': 'newsletter programs are not supported',
  'subscriber.rewarded': 'newsletter programs are not supported',
};
export type OutboundEvent = (typeof OUTBOUND_EVENTS)[number];

export type OutboxEntry = { event: OutboundEvent; entityKey: string; detail?: Record<string, unknown> };

export async function emit(tx: Pick<Tx, 'execute'>, programId: string, entries: OutboxEntry[]): Promise<void> {
  if (!entries.length) return;
  const values = sql.join(
    entries.map((e) => sql`(${e.event}, ${e.entityKey}, ${JSON.stringify(e.detail ?? {})}::jsonb)`),
    sql`, `,
  );
  await tx.execute(sql`
    insert into outbox (program_id, event, entity_key, detail)
    select ${programId}::uuid, v.event, v.entity_key, v.detail
    from (values ${values}) as v(event, entity_key, detail)
    where exists (
      select 1 from webhook_subscriptions s
      where s.program_id = ${programId}::uuid and s.is_active and s.deleted_at is null and v.event = any(s.events)
    )`);
}
