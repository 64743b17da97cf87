// Writing outbox events inside the database transaction that causes them. Only programs with an
// active subscription to the event get a row, decided in the same statement (no extra round trip,
// no stale cache).
import { sql } from 'drizzle-orm';
import type { Tx } from './ledger.js';

export const OUTBOUND_EVENTS = [
  'transaction.created',
  'transaction.deleted',
  'customer.created',
  'customer.updated',
  'customer.deleted',
  'partner.created',
  'partner.updated',
  'partner.deleted',
  'reward.status_changed',
] as const;
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
