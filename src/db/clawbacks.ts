// Recording clawbacks (core/clawback.ts) for rewards the ledger just reduced or deleted: only those in
// an approved or finished payout request; a reward reduced before approval is just reduced.
import { sql } from 'drizzle-orm';
import { clawbackOwed } from '../core/clawback.js';
import { executePrepared, type Tx } from './ledger-base.js';

export type ClawbackCause = { refundId?: string | null; disputeId?: string | null };

/** After a write that reduced or deleted these rewards: a clawback for each whose payout was fixed. */
export async function recordClawbacks(tx: Tx, rewardIds: string[], cause: ClawbackCause = {}, causeOf?: (rewardId: string) => ClawbackCause): Promise<number> {
  if (!rewardIds.length) return 0;
  const res = await executePrepared(tx, sql`
    select r.id::text as reward_id, r.program_id, r.partner_id, upper(r.units) as currency, i.payout_request_id::text as payout_request_id,
      i.amount::text as paid,
      case when r.deleted_at is null and r.status <> 'rejected' then r.amount else 0 end::text as worth,
      coalesce((select sum(c.amount) from clawbacks c where c.reward_id = r.id and c.cancelled_at is null), 0)::text as already
    from rewards r
    join payout_request_rewards i on i.reward_id = r.id and not i.released
    join payout_requests pr on pr.id = i.payout_request_id and pr.status in ('approved', 'finished')
    where r.id = any(${sql.param(rewardIds)}::bigint[]) and r.is_currency and r.partner_id is not null`);
  const owed = (res.rows as { reward_id: string; program_id: string; partner_id: string; currency: string; payout_request_id: string; paid: string; worth: string; already: string }[])
    .map((r) => ({ ...r, amount: clawbackOwed(r.paid, r.worth, r.already, r.currency), ...(causeOf?.(r.reward_id) ?? cause) }))
    .filter((r) => r.amount !== null);
  if (!owed.length) return 0;
  await executePrepared(tx, sql`
    insert into clawbacks (program_id, partner_id, amount, currency, reward_id, refund_id, dispute_id, payout_request_id)
    select x.program_id, x.partner_id, x.amount, x.currency, x.reward_id, x.refund_id, x.dispute_id, x.payout_request_id
    from jsonb_to_recordset(${JSON.stringify(owed.map((o) => ({ program_id: o.program_id, partner_id: o.partner_id, amount: o.amount, currency: o.currency, reward_id: o.reward_id, refund_id: o.refundId ?? null, dispute_id: o.disputeId ?? null, payout_request_id: o.payout_request_id })))}::jsonb)
      as x(program_id uuid, partner_id uuid, amount numeric, currency text, reward_id bigint, refund_id bigint, dispute_id bigint, payout_request_id bigint)`);
  return owed.length;
}

/**
 * A reversal made these rewards worth more again: the open clawbacks the refunds (or, with a dispute
 * id, that dispute) caused for them are cancelled; the caller records what is still owed. One that a
 * later approved or finished request already netted (the partner was paid that much less) stays, and
 * a credit (a negative clawback) pays it back through the next request.
 */
export async function cancelRefundClawbacks(tx: Tx, rewardIds: string[], now: Date, disputeId?: string): Promise<number> {
  if (!rewardIds.length) return 0;
  const res = await executePrepared(tx, sql`
    with caused as (
      select c.* from clawbacks c
      where c.reward_id = any(${sql.param(rewardIds)}::bigint[]) and c.cancelled_at is null and c.amount > 0
        and (case when ${sql.param(disputeId ?? null)}::bigint is null then c.refund_id is not null else c.dispute_id = ${sql.param(disputeId ?? null)}::bigint end)
    ),
    fixed as (
      select c.* from caused c join payout_requests s on s.id = c.settled_payout_request_id and s.status in ('approved', 'finished')
    ),
    cancelled as (
      update clawbacks k set cancelled_at = ${now.toISOString()}::timestamptz
      from caused c where k.id = c.id and not exists (select 1 from fixed f where f.id = c.id)
      returning 1
    ),
    credited as (
      insert into clawbacks (program_id, partner_id, amount, currency, reward_id, refund_id, dispute_id, payout_request_id)
      select f.program_id, f.partner_id, -f.amount, f.currency, f.reward_id, f.refund_id, f.dispute_id, f.payout_request_id
      from fixed f
      -- once: a credit already made for the same cause and reward stands
      where not exists (
        select 1 from clawbacks k where k.reward_id = f.reward_id and k.amount < 0 and k.cancelled_at is null
          and k.refund_id is not distinct from f.refund_id and k.dispute_id is not distinct from f.dispute_id
      )
      returning 1
    )
    select (select count(*) from cancelled) + (select count(*) from credited) as n`);
  return Number((res.rows[0] as { n: string | number }).n);
}
