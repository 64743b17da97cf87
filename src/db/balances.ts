// What partners are owed, per currency, read from their rewards, payout requests and clawbacks. Never
// converted between currencies; exact decimals (numeric) summed in PostgreSQL and handed on as text.
//
// Where a reward counts (each in one place, so nothing is counted twice):
//   - in no standing payout request: `pending` while in review, `available` when `ok`; rejected or
//     deleted rewards count nowhere;
//   - in a `requested` request: `in_payout`, at its amount as it stands (a reward reduced before
//     approval is just reduced; a deleted or rejected one counts nowhere);
//   - in an `approved` request: `in_payout`, at the amount the approval fixed;
//   - in a `finished` request: `paid`, at the amount paid.
// A reduction after approval is the ledger's business: it records a clawback, which `clawback` sums
// while open; once a later request nets it, it lowers that request's in_payout (then paid) instead.
// So for every partner and currency: pending + available + in_payout + paid − clawback is the sum of
// the live rewards as they stand, once the ledger records each reduction after approval as a clawback.
import { sql, type SQL } from 'drizzle-orm';
import type { Queryable } from './client.js';

export type Balance = { currency: string; pending: string; available: string; in_payout: string; paid: string; clawback: string };
export const BALANCE_STATES = ['pending', 'available', 'in_payout', 'paid', 'clawback'] as const;

/** Each reward of the partners matched by `where` (on `r`), with the state it counts in and its amount there. */
const rewardStates = (where: SQL) => sql`
  select r.program_id, r.partner_id, r.units as currency,
    case
      when pr.status is null then case when r.deleted_at is null and r.status = 'review_period' then 'pending'
                                       when r.deleted_at is null and r.status = 'ok' then 'available' end
      when pr.status = 'requested' then case when r.deleted_at is null and r.status <> 'rejected' then 'in_payout' end
      when pr.status = 'approved' then 'in_payout'
      when pr.status = 'finished' then 'paid'
    end as state,
    case when pr.status in ('approved', 'finished') then i.amount else r.amount end as amount
  from rewards r
  left join payout_request_rewards i on i.reward_id = r.id and not i.released
  left join payout_requests pr on pr.id = i.payout_request_id
  where r.is_currency and r.partner_id is not null and ${where}`;

/**
 * Clawbacks not cancelled: open ones count as `clawback`; one a later request netted (paid less by it)
 * counts against that request's state instead, so in_payout and paid are what the partner gets.
 */
const openClawbacks = (where: SQL) => sql`
  select c.program_id, c.partner_id, c.currency,
    case when s.id is null or s.status = 'rejected' then 'clawback' when s.status = 'finished' then 'paid' else 'in_payout' end as state,
    case when s.id is null or s.status = 'rejected' then c.amount else -c.amount end as amount
  from clawbacks c
  left join payout_requests s on s.id = c.settled_payout_request_id
  where c.cancelled_at is null and ${where}`;

const totals = sql`
  trim_scale(coalesce(sum(amount) filter (where state = 'pending'), 0))::text as pending,
  trim_scale(coalesce(sum(amount) filter (where state = 'available'), 0))::text as available,
  trim_scale(coalesce(sum(amount) filter (where state = 'in_payout'), 0))::text as in_payout,
  trim_scale(coalesce(sum(amount) filter (where state = 'paid'), 0))::text as paid,
  trim_scale(coalesce(sum(amount) filter (where state = 'clawback'), 0))::text as clawback`;

/**
 * The balances of some partners of a program, in one grouped query (a list page's partners at once):
 * partner id → its balances by currency, sorted by currency. A partner with no rewards has none.
 */
export async function partnerBalances(db: Queryable, programId: string, partnerIds: readonly string[]): Promise<Map<string, Balance[]>> {
  const out = new Map<string, Balance[]>(partnerIds.map((id) => [id, []]));
  if (!partnerIds.length) return out;
  const ids = sql`${`{${partnerIds.join(',')}}`}::uuid[]`;
  const { rows } = await db.execute<Balance & { partner_id: string }>(sql`
    select partner_id, currency, ${totals}
    from (
      ${rewardStates(sql`r.program_id = ${programId}::uuid and r.partner_id = any(${ids})`)}
      union all
      ${openClawbacks(sql`c.program_id = ${programId}::uuid and c.partner_id = any(${ids})`)}
    ) x
    where state is not null
    group by partner_id, currency
    order by partner_id, currency`);
  for (const { partner_id, ...b } of rows) out.get(partner_id)?.push(b);
  return out;
}

export type ProgramBalance = Balance & { program_id: string };

/**
 * Every program's totals per currency, for the metrics. A whole-table aggregate: callers bound how
 * often it runs, and `limit` bounds the series it can make.
 */
export async function programBalanceTotals(db: Queryable, limit = 2000): Promise<ProgramBalance[]> {
  const { rows } = await db.execute<ProgramBalance>(sql`
    select program_id, currency, ${totals}
    from (${rewardStates(sql`true`)} union all ${openClawbacks(sql`true`)}) x
    where state is not null
    group by program_id, currency
    order by program_id, currency
    limit ${limit}`);
  return rows;
}
