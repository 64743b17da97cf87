// Payout requests: the one owner of their states (requested → approved → finished; requested or
// approved → rejected). A request takes a partner's available rewards in one currency; a reward is in
// at most one request that is not rejected, which the partial unique index on payout_request_rewards
// enforces whatever the callers do, and a per-partner transaction lock makes a second concurrent
// request see the first one's rewards as taken (it then takes what is left, or nothing).
import { sql, type SQL } from 'drizzle-orm';
import type { Db, Queryable } from './client.js';
import { emit, type OutboundEvent } from './outbox.js';

export const PAYOUT_STATUSES = ['requested', 'approved', 'rejected', 'finished'] as const;
export type PayoutStatus = (typeof PAYOUT_STATUSES)[number];
export const PAYOUT_GATEWAYS = ['paypal', 'wise', 'bank', 'crypto', 'manual'] as const;
export type PayoutGateway = (typeof PAYOUT_GATEWAYS)[number];

/** A request this store refuses, with the API's status and stable code. */
export class PayoutRefused extends Error {
  constructor(
    readonly httpStatus: 404 | 409 | 422,
    readonly code: string,
    message: string,
    readonly fields?: Record<string, string>,
  ) {
    super(message);
    this.name = 'PayoutRefused';
  }
}

export type PayoutRewardRow = { id: string; key: string; amount: string; transaction_key: string };
export type PayoutRequestRow = {
  id: string;
  program_id: string;
  status: PayoutStatus;
  amount: string;
  currency: string;
  gateway: string;
  payout_settings: Record<string, unknown>;
  note: string | null;
  reference: string | null;
  partner_id: string;
  partner_key: string;
  partner_email: string | null;
  partner_name: string | null;
  partner_surname: string | null;
  created_at: string;
  created_micros: string;
  updated_at: string;
  approved_at: string | null;
  rejected_at: string | null;
  paid_at: string | null;
  rewards: PayoutRewardRow[];
};

const iso = (col: SQL) => sql`to_char(${col} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/** A request as the API shows it: a `requested` one's amount follows its rewards as they stand, less the clawbacks it nets. */
const SELECT = sql`
  select pr.id::text as id, pr.program_id, pr.status,
    case when pr.status = 'requested' then trim_scale(coalesce((
      select sum(r.amount) from payout_request_rewards i join rewards r on r.id = i.reward_id
      where i.payout_request_id = pr.id and not i.released and r.deleted_at is null and r.status <> 'rejected'), 0)
      -- less what the partner owed back and this request nets
      - coalesce((select sum(c.amount) from clawbacks c where c.settled_payout_request_id = pr.id and c.cancelled_at is null), 0))::text
    else trim_scale(pr.amount)::text end as amount,
    pr.currency, pr.gateway, pr.payout_settings, pr.note, pr.reference,
    p.id as partner_id, p.key as partner_key, p.email as partner_email, p.name as partner_name, p.surname as partner_surname,
    ${iso(sql`pr.created_at`)} as created_at, (extract(epoch from pr.created_at) * 1000000)::bigint::text as created_micros,
    ${iso(sql`pr.updated_at`)} as updated_at, ${iso(sql`pr.approved_at`)} as approved_at,
    ${iso(sql`pr.rejected_at`)} as rejected_at, ${iso(sql`pr.paid_at`)} as paid_at,
    coalesce((
      select json_agg(json_build_object('id', r.id::text, 'key', r.key,
               'amount', trim_scale(case when pr.status = 'requested' then r.amount else i.amount end)::text, 'transaction_key', t.key) order by r.id)
      from payout_request_rewards i join rewards r on r.id = i.reward_id left join transactions t on t.id = r.transaction_id
      where i.payout_request_id = pr.id and (not i.released or pr.status = 'rejected')), '[]'::json) as rewards
  from payout_requests pr join partners p on p.id = pr.partner_id`;

export async function payoutRequestById(db: Queryable, programId: string, id: bigint): Promise<PayoutRequestRow | null> {
  const { rows } = await db.execute<PayoutRequestRow>(sql`${SELECT} where pr.program_id = ${programId}::uuid and pr.id = ${id.toString()}::bigint`);
  return rows[0] ?? null;
}

export type PayoutFilters = {
  status?: PayoutStatus;
  currency?: string;
  partnerKey?: string;
  partnerEmail?: string;
  partnerId?: string;
  /** Partial matches (the search form): key and email anywhere. */
  partnerKeyLike?: string;
  partnerEmailLike?: string;
};
export type PayoutCursor = { micros: bigint; id: bigint };

const like = (v: string) => `%${v.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

/** A page of a program's requests, newest first (or oldest), keyset-paged on (created_at, id). */
export async function listPayoutRequests(
  db: Queryable,
  programId: string,
  f: PayoutFilters,
  page: { limit: number; offset: number; sort: 'asc' | 'desc'; cursor?: PayoutCursor },
): Promise<{ rows: PayoutRequestRow[]; total: number; hasMore: boolean }> {
  const where: SQL[] = [sql`pr.program_id = ${programId}::uuid`];
  if (f.status) where.push(sql`pr.status = ${f.status}`);
  if (f.currency) where.push(sql`pr.currency = ${f.currency.toUpperCase()}`);
  if (f.partnerKey) where.push(sql`p.key = ${f.partnerKey}`);
  if (f.partnerEmail) where.push(sql`lower(p.email) = ${f.partnerEmail.toLowerCase()}`);
  if (f.partnerId) where.push(sql`p.id::text = ${f.partnerId.toLowerCase()}`);
  if (f.partnerKeyLike) where.push(sql`p.key ilike ${like(f.partnerKeyLike)}`);
  if (f.partnerEmailLike) where.push(sql`p.email ilike ${like(f.partnerEmailLike)}`);
  const filtered = sql.join(where, sql` and `);
  const at = page.cursor && sql`timestamptz 'epoch' + ${page.cursor.micros.toString()}::bigint * interval '1 microsecond'`;
  const after = page.cursor
    ? page.sort === 'desc'
      ? sql` and (pr.created_at, pr.id) < (${at}, ${page.cursor.id.toString()}::bigint)`
      : sql` and (pr.created_at, pr.id) > (${at}, ${page.cursor.id.toString()}::bigint)`
    : sql``;
  const dir = page.sort === 'desc' ? sql`desc` : sql`asc`;
  const [{ rows }, { rows: counted }] = await Promise.all([
    db.execute<PayoutRequestRow>(sql`${SELECT} where ${filtered}${after} order by pr.created_at ${dir}, pr.id ${dir} limit ${page.limit + 1} offset ${page.cursor ? 0 : page.offset}`),
    db.execute<{ n: number }>(sql`select count(*)::int as n from payout_requests pr join partners p on p.id = pr.partner_id where ${filtered}`),
  ]);
  return { rows: rows.slice(0, page.limit), total: counted[0]?.n ?? 0, hasMore: rows.length > page.limit };
}

export type NewPayoutRequest = {
  programId: string;
  partner: { id: string; key: string };
  /** ISO 4217 code; needed only when the partner has available rewards in several currencies. */
  currency?: string;
  /** Only these rewards (ids, or keys): each must be the partner's and available. */
  rewards?: (bigint | string)[];
  gateway: PayoutGateway;
  payoutSettings: Record<string, unknown>;
  note: string | null;
};

/** Serializes the requests of one partner: the second sees what the first took. */
const lockPartner = (tx: Queryable, partnerId: string) => tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`payout:${partnerId}`}, 0))`);

/** Take a partner's available rewards (all, or the listed ones) in one currency into a new request. */
export async function createPayoutRequest(db: Db, r: NewPayoutRequest): Promise<bigint> {
  return db.transaction(async (tx) => {
    await lockPartner(tx, r.partner.id);
    const ids = (r.rewards ?? []).filter((x): x is bigint => typeof x === 'bigint').map(String);
    const keys = (r.rewards ?? []).filter((x): x is string => typeof x === 'string');
    const listed = r.rewards ? sql` and (r.id = any(${`{${ids.join(',')}}`}::bigint[]) or r.key in (select jsonb_array_elements_text(${JSON.stringify(keys)}::jsonb)) or r.id::text in (select jsonb_array_elements_text(${JSON.stringify(keys)}::jsonb)))` : sql``;
    const { rows: candidates } = await tx.execute<{ id: string; key: string; currency: string }>(sql`
      select r.id::text as id, r.key, upper(r.units) as currency from rewards r
      where r.program_id = ${r.programId}::uuid and r.partner_id = ${r.partner.id}::uuid and r.is_currency
        and r.deleted_at is null and r.status = 'ok'
        and not exists (select 1 from payout_request_rewards i where i.reward_id = r.id and not i.released)${listed}
      order by r.id`);
    if (r.rewards) {
      const found = new Set(candidates.flatMap((c) => [c.id, c.key]));
      const missing = r.rewards.map(String).filter((x) => !found.has(x));
      if (missing.length) {
        throw new PayoutRefused(422, 'reward_not_available', `not available to pay: ${missing.join(', ')} (not this partner's, not ok, deleted, or in another payout request)`, {
          reward_ids: `not available: ${missing.join(', ')}`,
        });
      }
    }
    if (!candidates.length) throw new PayoutRefused(422, 'nothing_available', `partner "${r.partner.key}" has no available rewards${r.currency ? ` in ${r.currency.toUpperCase()}` : ''}`);
    const currencies = [...new Set(candidates.map((c) => c.currency))].sort();
    const currency = r.currency?.toUpperCase() ?? (currencies.length > 1 ? undefined : currencies[0]);
    if (!currency) {
      throw new PayoutRefused(422, 'currency_required', `partner "${r.partner.key}" has available rewards in ${currencies.join(', ')}: name one in amount_units`, {
        amount_units: `one of ${currencies.join(', ')}`,
      });
    }
    const taken = candidates.filter((c) => c.currency === currency);
    if (r.rewards && taken.length !== candidates.length) {
      throw new PayoutRefused(422, 'mixed_currencies', `the listed rewards are not all in ${currency}: a request pays one currency`, { reward_ids: `not all in ${currency}` });
    }
    if (!taken.length) throw new PayoutRefused(422, 'nothing_available', `partner "${r.partner.key}" has no available rewards in ${currency}`);
    const { rows: created } = await tx.execute<{ id: string }>(sql`
      insert into payout_requests (program_id, partner_id, amount, currency, gateway, payout_settings, note)
      values (${r.programId}::uuid, ${r.partner.id}::uuid, 0, ${currency}, ${r.gateway}, ${JSON.stringify(r.payoutSettings)}::jsonb, ${r.note})
      returning id::text as id`);
    const id = created[0]!.id;
    // the unique index is the last word: a reward another request holds is left out, never taken twice
    const { rows: inserted } = await tx.execute<{ reward_id: string }>(sql`
      insert into payout_request_rewards (payout_request_id, reward_id, amount)
      select ${id}::bigint, r.id, r.amount from rewards r where r.id = any(${`{${taken.map((c) => c.id).join(',')}}`}::bigint[])
      on conflict (reward_id) where not released do nothing
      returning reward_id::text`);
    if (!inserted.length) throw new PayoutRefused(422, 'nothing_available', `partner "${r.partner.key}" has no available rewards in ${currency}`);
    // what the partner owes back in this currency (clawbacks no standing request netted) is netted here
    const { rows: net } = await tx.execute<{ rewards: string; owed: string; net: string; owes: boolean; covered: boolean; clawbacks: string[] | null }>(sql`
      with owed as (
        select c.id, c.amount from clawbacks c left join payout_requests s on s.id = c.settled_payout_request_id
        where c.program_id = ${r.programId}::uuid and c.partner_id = ${r.partner.id}::uuid and c.currency = ${currency}
          and c.cancelled_at is null and (c.settled_payout_request_id is null or s.status = 'rejected')
      ),
      t as (
        select (select sum(amount) from payout_request_rewards where payout_request_id = ${id}::bigint) as rewards,
          coalesce((select sum(amount) from owed), 0) as owed
      )
      select trim_scale(rewards)::text as rewards, trim_scale(owed)::text as owed, trim_scale(rewards - owed)::text as net,
        owed > 0 as owes, rewards - owed > 0 as covered, (select array_agg(id::text) from owed) as clawbacks
      from t`);
    const { rewards: gross, owed, owes, covered, clawbacks: netted } = net[0]!;
    if (owes && !covered) throw new PayoutRefused(422, 'nothing_available', `partner "${r.partner.key}" owes ${owed} ${currency} back (clawbacks), more than its ${gross} ${currency} available`);
    // credits (negative clawbacks: a netted clawback whose refund was reversed) are paid out here too
    if (netted?.length) await tx.execute(sql`update clawbacks set settled_payout_request_id = ${id}::bigint where id = any(${`{${netted.join(',')}}`}::bigint[])`);
    await tx.execute(sql`update payout_requests set amount = ${net[0]!.net}::numeric where id = ${id}::bigint`);
    await emit(tx, r.programId, [{ event: 'payout_request.created', entityKey: id, detail: { partner_key: r.partner.key, currency } }]);
    return BigInt(id);
  });
}

export type PayoutAction = 'approve' | 'reject' | 'mark_as_paid';
const FROM: Record<PayoutAction, readonly PayoutStatus[]> = { approve: ['requested'], reject: ['requested', 'approved'], mark_as_paid: ['approved'] };
const TO: Record<PayoutAction, PayoutStatus> = { approve: 'approved', reject: 'rejected', mark_as_paid: 'finished' };
const EVENT: Record<PayoutAction, OutboundEvent> = { approve: 'payout_request.approved', reject: 'payout_request.rejected', mark_as_paid: 'payout_request.paid' };

/**
 * Move a request along; a move its status does not allow is a 409 `invalid_status_transition`.
 * Approval fixes the amounts: each reward at its amount now, a deleted or rejected one left out.
 * Rejection frees the rewards (they are available again).
 */
export async function movePayoutRequest(
  db: Db,
  programId: string,
  id: bigint,
  action: PayoutAction,
  paid: { paidAt?: Date; reference?: string | null } = {},
): Promise<void> {
  await db.transaction(async (tx) => {
    const { rows } = await tx.execute<{ status: PayoutStatus; partner_key: string; currency: string }>(sql`
      select pr.status, p.key as partner_key, pr.currency from payout_requests pr join partners p on p.id = pr.partner_id
      where pr.program_id = ${programId}::uuid and pr.id = ${id.toString()}::bigint for update of pr`);
    const row = rows[0];
    if (!row) throw new PayoutRefused(404, 'not_found', `no payout request with id "${id}"`);
    if (!FROM[action].includes(row.status)) {
      throw new PayoutRefused(409, 'invalid_status_transition', `a ${row.status} payout request cannot be ${TO[action] === 'finished' ? 'marked as paid' : TO[action]} (allowed from: ${FROM[action].join(', ')})`);
    }
    const req = sql`${id.toString()}::bigint`;
    const now = new Date();
    if (action === 'approve') {
      await tx.execute(sql`
        update payout_request_rewards i
        set amount = r.amount, released = (r.deleted_at is not null or r.status = 'rejected')
        from rewards r where r.id = i.reward_id and i.payout_request_id = ${req} and not i.released`);
      const { rows: sum } = await tx.execute<{ amount: string | null }>(sql`select sum(amount)::text as amount from payout_request_rewards where payout_request_id = ${req} and not released`);
      if (!sum[0]?.amount) throw new PayoutRefused(409, 'nothing_to_pay', `every reward of payout request ${id} was deleted or rejected since it was requested: reject it`);
      await tx.execute(sql`update payout_requests set status = 'approved', amount = ${sum[0].amount}::numeric - coalesce((select sum(amount) from clawbacks where settled_payout_request_id = ${req} and cancelled_at is null), 0), approved_at = ${now.toISOString()}::timestamptz, updated_at = ${now.toISOString()}::timestamptz where id = ${req}`);
    } else if (action === 'reject') {
      await tx.execute(sql`update payout_request_rewards set released = true where payout_request_id = ${req} and not released`);
      // an approved request rejected pays nothing: what reductions after its approval made the partner
      // owe back against it (its rewards are available again at their amounts now) is owed no more
      await tx.execute(sql`update clawbacks set cancelled_at = ${now.toISOString()}::timestamptz where payout_request_id = ${req} and cancelled_at is null`);
      await tx.execute(sql`update payout_requests set status = 'rejected', rejected_at = ${now.toISOString()}::timestamptz, updated_at = ${now.toISOString()}::timestamptz where id = ${req}`);
    } else {
      await tx.execute(sql`
        update payout_requests set status = 'finished', paid_at = ${(paid.paidAt ?? now).toISOString()}::timestamptz, reference = ${paid.reference ?? null},
          updated_at = ${now.toISOString()}::timestamptz
        where id = ${req}`);
    }
    await emit(tx, programId, [{ event: EVENT[action], entityKey: id.toString(), detail: { partner_key: row.partner_key, currency: row.currency, from: row.status, to: TO[action] } }]);
  });
}

export type Payable = { programId: string; partnerId: string; partnerKey: string; available: string };

/**
 * Partners whose available balance in `currency` reaches `minimum` (a decimal string), active ones
 * only, for a payout run: one program or all.
 */
export async function payablePartners(db: Queryable, q: { currency: string; minimum: string; programId?: string }): Promise<Payable[]> {
  const { rows } = await db.execute<Payable>(sql`
    select r.program_id as "programId", p.id as "partnerId", p.key as "partnerKey", trim_scale(sum(r.amount))::text as available
    from rewards r join partners p on p.id = r.partner_id
    where r.is_currency and upper(r.units) = ${q.currency.toUpperCase()} and r.deleted_at is null and r.status = 'ok'
      and p.deleted_at is null and p.archived_at is null
      ${q.programId ? sql`and r.program_id = ${q.programId}::uuid` : sql``}
      and not exists (select 1 from payout_request_rewards i where i.reward_id = r.id and not i.released)
    group by r.program_id, p.id, p.key
    having sum(r.amount) >= ${q.minimum}::numeric and sum(r.amount) > 0
    order by r.program_id, p.key`);
  return rows;
}

/** Requests by id, in the order given, any program (the operator's export); missing ids are left out. */
export async function payoutRequestsByIds(db: Queryable, ids: bigint[]): Promise<PayoutRequestRow[]> {
  if (!ids.length) return [];
  const { rows } = await db.execute<PayoutRequestRow>(sql`${SELECT} where pr.id = any(${`{${ids.join(',')}}`}::bigint[]) order by pr.id`);
  return rows;
}
