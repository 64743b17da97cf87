// Payments, set-based: for a run of payments (of one job or of a whole batch) one statement reads what
// the planner needs (stored refs, partners, customers with their referrers, waiting refunds and
// disputes), the planner (core/plan.ts) decides every payment in order in memory, and one statement
// writes the plan. Refunds and disputes that were waiting for a created payment apply after it.
import { randomUUID } from 'node:crypto';
import { and, arrayOverlaps, eq, isNull, sql } from 'drizzle-orm';
import { perPartnerKey } from '../core/attribution.js';
import { identityOf, planPayments, PlanFailure, refsOf, type EnrichedPayment, type PaymentOutcome, type PaymentPlan, type PlanInput, type Snapshot } from '../core/plan.js';
import { monthOf, needsStats, type LimitStats } from '../core/limits.js';
import { DEFAULT_FRAUD } from '../core/program.js';
import { executePrepared, OUTBOX_INSERT, type Tx } from './ledger-base.js';
import { applyWaitingRefunds } from './ledger-refunds.js';
import { applyDisputeRow } from './ledger-reversals.js';
import { disputes } from './schema.js';



/**
 * Apply a run of payments, in order. A payment that fails on its own data throws PlanFailure naming
 * it (`at`), before anything is written; a refund or dispute waiting for it that fails throws one too.
 */
export async function applyPayments<T>(tx: Tx, list: PlanInput<T>[], now: Date): Promise<[T, PaymentOutcome][]> {
  const snapshot = await load(tx, list);
  if (list.some((x) => needsStats(x.program))) snapshot.limits = await loadLimitStats(tx, list, snapshot);
  const plan = planPayments(snapshot, list, now, randomUUID);
  await write(tx, plan, now);

  // refunds and disputes that arrived before their payment apply now
  // (a refund in another currency stays waiting: it is not this payment's to take back)
  if (plan.waitingRefs.size) {
    const waited = plan.created.filter((c) => c.refs.some((r) => plan.waitingRefs.has(`${c.program.id}|${r}`)));
    await applyWaitingRefunds(tx, waited.map((c) => ({ programId: c.program.id, refs: c.refs })), now);
    for (const c of waited) {
      try {
        const ds = await tx
          .select()
          .from(disputes)
          .where(and(eq(disputes.programId, c.program.id), isNull(disputes.appliedAt), arrayOverlaps(disputes.paymentRefs, c.refs)));
        for (const d of ds) await applyDisputeRow(tx, d, now);
      } catch (error) {
        throw new PlanFailure(c.at, error);
      }
    }
  }
  return plan.outcomes;
}

// ---- what the planner needs, in one statement ----

type Loaded = {
  now: number;
  refs: [string, string, string, string][]; // program, ref, transaction id, transaction key
  partners: [string, string, string, string | null, boolean, string | null][]; // id, program, key, referral code, archived, email
  links: [string, string, string][]; // program, referral link key, partner id
  coupons?: [string, string, string][]; // program, lower(promotion code), partner id
  customers: [
    string, // id
    string, // program
    string, // key
    string | null, // lower(email)
    string | null, // gateway
    string | null, // gateway customer id
    boolean, // per partner
    boolean, // created by a browser
    boolean, // deleted
    number, // created at, ms
    number | null, // first payment at, ms
    string | null, // partner id
    string | null, // partner key
    string | null, // referring customer id
    string | null, // referring customer key
    boolean, // archived
    boolean, // its partner archived
    boolean, // its referring customer archived
    string | null, // its partner's email
    string | null, // how its link was made (linked_by)
  ][];
  waiting: [string, string[]][]; // program, payment refs of a waiting refund or dispute
};

// Each recordset is limited to its real length, given as a parameter: the planner otherwise takes a
// recordset for 100 rows and, below some 20,000 customers, read the customers table whole three times
// (by key, gateway id and email) to hash-join a batch's handful of them (6 of a small batch's 6.4 ms
// at 7,500 customers). With the count it looks each one up through its index.
const LOAD = (probe: Probe) => {
  const rows = (kind: keyof Probe, columns: string) =>
    sql`(select x.* from probe, jsonb_to_recordset(probe.j->${sql.raw(`'${kind}'`)}) as x(${sql.raw(columns)}) limit ${probe[kind].length}) as x`;
  return sql`
  with probe as (select ${JSON.stringify(probe)}::jsonb as j),
  refs as (
    select x.p, x.ref, t.id, t.key
    from ${rows('refs', 'p uuid, ref text')}
    join transaction_refs r on r.program_id = x.p and r.ref = x.ref
    join transactions t on t.id = r.transaction_id
  ),
  found_partners as (
    select p.id, p.program_id, p.key, p.referral_code, p.archived_at is not null as archived, p.email
    from ${rows('partnerKeys', 'p uuid, v text')}
    join partners p on p.program_id = x.p and p.key = x.v and p.deleted_at is null
    union
    select p.id, p.program_id, p.key, p.referral_code, p.archived_at is not null as archived, p.email
    from ${rows('partnerCodes', 'p uuid, v text')}
    join partners p on p.program_id = x.p and p.referral_code = x.v and p.deleted_at is null
    union
    select p.id, p.program_id, p.key, p.referral_code, p.archived_at is not null as archived, p.email
    from ${rows('partnerKeys', 'p uuid, v text')}
    join partner_referral_links l on l.program_id = x.p and l.key = x.v
    join partners p on p.id = l.partner_id and p.deleted_at is null
    union
    select p.id, p.program_id, p.key, p.referral_code, p.archived_at is not null as archived, p.email
    from ${rows('coupons', 'p uuid, v text')}
    join promotion_codes pc on pc.program_id = x.p and lower(pc.code) = x.v
    join partners p on p.id = pc.partner_id and p.deleted_at is null
  ),
  -- a promotion code a partner owns (matched case-insensitively through its unique index)
  found_coupons as (
    select pc.program_id, lower(pc.code) as code, pc.partner_id
    from ${rows('coupons', 'p uuid, v text')}
    join promotion_codes pc on pc.program_id = x.p and lower(pc.code) = x.v
    where pc.partner_id is not null
  ),
  -- a referral link's key names its partner
  found_links as (
    select l.program_id, l.key, l.partner_id
    from ${rows('partnerKeys', 'p uuid, v text')}
    join partner_referral_links l on l.program_id = x.p and l.key = x.v
  ),
  customer_ids as (
    select c.id from ${rows('keys', 'p uuid, v text')}
    join customers c on c.program_id = x.p and c.key = x.v
    union
    select c.id from ${rows('codeKeys', 'p uuid, base text, v text')}
    join partners p on p.program_id = x.p and p.referral_code = x.v and p.deleted_at is null
    join customers c on c.program_id = x.p and c.key = x.base || '__pkey_' || p.key
    union
    select c.id from ${rows('linkKeys', 'p uuid, base text, v text')}
    join partner_referral_links l on l.program_id = x.p and l.key = x.v
    join partners p on p.id = l.partner_id and p.deleted_at is null
    join customers c on c.program_id = x.p and c.key = x.base || '__pkey_' || p.key
    union
    select c.id from ${rows('couponKeys', 'p uuid, base text, v text')}
    join promotion_codes pc on pc.program_id = x.p and lower(pc.code) = x.v
    join partners p on p.id = pc.partner_id and p.deleted_at is null
    join customers c on c.program_id = x.p and c.key = x.base || '__pkey_' || p.key
    union
    select c.id from ${rows('gatewayIds', 'p uuid, g text, v text')}
    join customers c on c.program_id = x.p and c.gateway = x.g and c.gateway_customer_id = x.v
    union
    select c.id from ${rows('emails', 'p uuid, v text')}
    join customers c on c.program_id = x.p and lower(c.email) = x.v
  ),
  found_customers as (
    select c.id, c.program_id, c.key, lower(c.email) as email_lower, c.gateway, c.gateway_customer_id,
      c.per_partner, c.origin = 'browser' as from_browser, c.deleted_at is not null as deleted,
      floor(extract(epoch from c.created_at) * 1000)::float8 as created_at,
      floor(extract(epoch from c.first_payment_at) * 1000)::float8 as first_payment_at,
      c.partner_id, p.key as partner_key, c.referring_customer_id, rc.key as referring_key,
      c.archived_at is not null as archived, coalesce(p.archived_at is not null, false) as partner_archived,
      coalesce(rc.archived_at is not null, false) as referring_archived, p.email as partner_email, c.linked_by
    from customer_ids i
    join customers c on c.id = i.id
    left join partners p on p.id = c.partner_id
    left join customers rc on rc.id = c.referring_customer_id
  ),
  -- Waiting refunds and disputes are found through their partial GIN index with every ref of the batch
  -- as one array. Joined to the recordset instead, as guessed at 100 rows (it has one per program),
  -- the planner read the whole table: 20 ms a batch at 200,000 refunds, growing with every refund.
  wanted as (select x.p, x.refs from ${rows('waiting', 'p uuid, refs text[]')}),
  all_wanted as (select coalesce(array_agg(u.ref), '{}') as refs from wanted, unnest(wanted.refs) as u(ref)),
  waiting as (
    select r.program_id as p, r.payment_refs from refunds r
    where r.applied_at is null and r.payment_refs && (select refs from all_wanted)
      and exists (select 1 from wanted w where w.p = r.program_id and r.payment_refs && w.refs)
    union all
    select d.program_id as p, d.payment_refs from disputes d
    where d.applied_at is null and d.payment_refs && (select refs from all_wanted)
      and exists (select 1 from wanted w where w.p = d.program_id and d.payment_refs && w.refs)
  )
  select
    floor(extract(epoch from now()) * 1000)::float8 as now,
    (select coalesce(json_agg(json_build_array(p, ref, id::text, key)), '[]') from refs) as refs,
    (select coalesce(json_agg(json_build_array(id, program_id, key, referral_code, archived, email)), '[]') from found_partners) as partners,
    (select coalesce(json_agg(json_build_array(program_id, key, partner_id)), '[]') from found_links) as links,
    (select coalesce(json_agg(json_build_array(program_id, code, partner_id)), '[]') from found_coupons) as coupons,
    (select coalesce(json_agg(json_build_array(id, program_id, key, email_lower, gateway, gateway_customer_id, per_partner,
      from_browser, deleted, created_at, first_payment_at, partner_id, partner_key, referring_customer_id, referring_key,
      archived, partner_archived, referring_archived, partner_email, linked_by)), '[]') from found_customers) as customers,
    (select coalesce(json_agg(json_build_array(p, payment_refs)), '[]') from waiting) as waiting`;
};

/** What a batch looks up, by kind: each a list of rows for jsonb_to_recordset. */
type Probe = Record<'refs' | 'partnerKeys' | 'partnerCodes' | 'keys' | 'codeKeys' | 'linkKeys' | 'coupons' | 'couponKeys' | 'gatewayIds' | 'emails' | 'waiting', unknown[]>;

const byCode = (e: EnrichedPayment) => e.partnerKey?.place === 'chargebee_cf_referral_code';

/** The loaded rows as the planner takes them. */
function snapshotOf(loaded: Loaded): Snapshot {
  const refs = new Map<string, { id: string | null; key: string }>();
  for (const [p, ref, id, key] of loaded.refs) refs.set(`${p}|${ref}`, { id, key });
  const waitingRefs = new Set<string>();
  for (const [p, list] of loaded.waiting) for (const r of list) waitingRefs.add(`${p}|${r}`);
  return {
    now: loaded.now,
    refs,
    waitingRefs,
    links: new Map(loaded.links.map(([p, key, partnerId]) => [`${p}|${key}`, partnerId])),
    coupons: new Map((loaded.coupons ?? []).map(([p, code, partnerId]) => [`${p}|${code}`, partnerId])),
    partners: loaded.partners.map(([id, programId, key, referralCode, archived, email]) => ({ id, programId, key, referralCode, archived, email })),
    customers: loaded.customers.map((c) => {
      const [id, programId, key, emailLower, gateway, gatewayCustomerId, perPartner, fromBrowser, deleted, createdAt, firstPaymentAt, partnerId, partnerKey, referringId, referringKey, archived, partnerArchived, referringArchived, partnerEmail, linkedBy] = c;
      return {
        id,
        programId,
        key,
        emailLower,
        gateway,
        gatewayCustomerId,
        perPartner,
        fromBrowser,
        deleted,
        archived,
        linkedBy: linkedBy === 'referral_link' ? linkedBy : null,
        createdAt,
        firstPaymentAt: firstPaymentAt === null ? null : new Date(firstPaymentAt),
        // the partner when linked to one, else the referring customer
        referrer: partnerId
          ? partnerKey !== null
            ? { kind: 'partner' as const, id: partnerId, key: partnerKey, archived: partnerArchived, email: partnerEmail }
            : null
          : referringId && referringKey !== null
            ? { kind: 'customer' as const, id: referringId, key: referringKey, archived: referringArchived }
            : null,
      };
    }),
  };
}

async function load<T>(tx: Tx, list: PlanInput<T>[]): Promise<Snapshot> {
  const probe: Probe = { refs: [], partnerKeys: [], partnerCodes: [], keys: [], codeKeys: [], linkKeys: [], coupons: [], couponKeys: [], gatewayIds: [], emails: [], waiting: [] };
  const waiting = new Map<string, Set<string>>();
  for (const { e, program } of list) {
    const p = program.id;
    const refs = refsOf(e);
    for (const ref of refs) probe.refs.push({ p, ref });
    let w = waiting.get(p);
    if (!w) waiting.set(p, (w = new Set()));
    for (const ref of refs) w.add(ref);
    const { who, baseCustomerKey, perPartner } = identityOf(e);
    const bases = perPartner.older ? [perPartner.base, perPartner.older] : [perPartner.base];
    if (who.key) probe.keys.push({ p, v: who.key });
    probe.keys.push({ p, v: baseCustomerKey });
    if (who.gatewayId) {
      probe.gatewayIds.push({ p, g: e.gateway, v: who.gatewayId });
      // a customer signed up under the gateway's customer id as its key (core/plan.ts CustomerStore.find)
      if (who.key) probe.keys.push({ p, v: who.gatewayId });
    }
    if (who.email) probe.emails.push({ p, v: who.email.toLowerCase() });
    if (e.partnerKey) {
      const v = e.partnerKey.value;
      if (program.type === 'refer_a_friend') probe.keys.push({ p, v });
      else {
        probe.partnerKeys.push({ p, v });
        if (byCode(e)) probe.partnerCodes.push({ p, v });
      }
      if (program.attributionModel === 'transaction') {
        for (const base of bases) {
          probe.keys.push({ p, v: perPartnerKey(base, v) });
          if (program.type !== 'refer_a_friend' && byCode(e)) probe.codeKeys.push({ p, base, v });
          if (program.type !== 'refer_a_friend') probe.linkKeys.push({ p, base, v });
        }
      }
    }
    // promotion codes: a partner's one stands in for a key naming nobody (its per-partner record too)
    if (program.type !== 'refer_a_friend') {
      for (const code of new Set((e.coupons ?? []).map((c) => c.toLowerCase()))) {
        probe.coupons.push({ p, v: code });
        if (program.attributionModel === 'transaction') for (const base of bases) probe.couponKeys.push({ p, base, v: code });
      }
    }
  }
  for (const [p, refs] of waiting) probe.waiting.push({ p, refs: [...refs] });
  const res = await executePrepared(tx, LOAD(probe));
  return snapshotOf(res.rows[0] as unknown as Loaded);
}

/**
 * What holds and caps count against, for the partners and customers a run of payments may credit
 * (only for programs that set such limits): each partner's payments in its refund-rate window with
 * what was taken back (refunds; a payment deleted by a full refund, a lost dispute or the API, whole), and
 * its rewards so far per customer and per month of the run's payments.
 */
export async function loadLimitStats<T>(tx: Tx, list: PlanInput<T>[], snapshot: Snapshot): Promise<LimitStats> {
  const limited = new Map<string, { days: number; months: Set<string> }>();
  for (const { program, e } of list) {
    if (!needsStats(program)) continue;
    let l = limited.get(program.id);
    if (!l) limited.set(program.id, (l = { days: (program.fraud ?? DEFAULT_FRAUD).refund_rate_hold?.days ?? 0, months: new Set() }));
    l.months.add(monthOf(new Date(e.occurredAt)));
  }
  const partnerIds = new Set<string>();
  for (const p of snapshot.partners) if (limited.has(p.programId)) partnerIds.add(p.id);
  for (const c of snapshot.customers) if (limited.has(c.programId) && c.referrer?.kind === 'partner') partnerIds.add(c.referrer.id);
  const customerIds = snapshot.customers.filter((c) => limited.has(c.programId)).map((c) => c.id);
  const windows = [...limited].map(([p, l]) => ({ p, since: new Date(snapshot.now - l.days * 86_400_000).toISOString(), months: [...l.months] }));
  const stats: LimitStats = { refunds: new Map(), perCustomer: new Map(), perMonth: new Map() };
  if (!partnerIds.size) return stats;
  const res = await executePrepared(tx, sql`
    with w as (select x.p, x.since, x.months from jsonb_to_recordset(${JSON.stringify(windows)}::jsonb) as x(p uuid, since timestamptz, months text[])),
    ids as (select unnest(${sql.param([...partnerIds])}::uuid[]) as id),
    live as (
      select r.partner_id, r.units, r.amount, r.created_at, t.customer_id
      from rewards r join transactions t on t.id = r.transaction_id
      where r.partner_id in (select id from ids) and r.deleted_at is null and r.status <> 'rejected'
    )
    select
      (select coalesce(json_agg(json_build_array(t.partner_id, t.currency, sum_amount::text, sum_refunded::text, n)), '[]') from (
        select t.partner_id, t.currency, sum(t.amount_minor) as sum_amount, sum(case when t.deleted_at is not null then t.amount_minor else t.refunded_minor end) as sum_refunded, count(*) as n
        from transactions t join w on w.p = t.program_id
        where t.partner_id in (select id from ids) and t.created_at >= w.since
        group by t.partner_id, t.currency) t) as refunds,
      (select coalesce(json_agg(json_build_array(partner_id, customer_id, units, total::text)), '[]') from (
        select partner_id, customer_id, units, sum(amount) as total from live
        where customer_id = any(${sql.param(customerIds)}::uuid[]) group by partner_id, customer_id, units) c) as per_customer,
      (select coalesce(json_agg(json_build_array(partner_id, units, m, total::text)), '[]') from (
        select partner_id, units, to_char(created_at at time zone 'UTC', 'YYYY-MM') as m, sum(amount) as total from live
        where to_char(created_at at time zone 'UTC', 'YYYY-MM') in (select unnest(months) from w)
        group by 1, 2, 3) m) as per_month`);
  const row = res.rows[0] as {
    refunds: [string, string, string, string, number][];
    per_customer: [string, string, string, string][];
    per_month: [string, string, string, string][];
  };
  for (const [partner, currency, amount, refunded, n] of row.refunds) {
    stats.refunds.set(`${partner}|${currency}`, { amountMinor: BigInt(amount), refundedMinor: BigInt(refunded), count: Number(n) });
  }
  for (const [partner, customer, units, total] of row.per_customer) stats.perCustomer.set(`${partner}|${customer}|${units}`, total);
  for (const [partner, units, m, total] of row.per_month) stats.perMonth.set(`${partner}|${units}|${m}`, total);
  return stats;
}

// ---- the plan, in one statement ----

async function write(
  tx: Tx,
  plan: PaymentPlan<unknown>,
  now: Date,
) {
  const { created, refInserts, outbox } = plan;
  const newCustomers = plan.customers
    .filter((r) => r.fresh)
    .map((r) => ({
      id: r.id,
      p: r.programId,
      key: r.key,
      email: r.fresh!.email,
      name: r.fresh!.name,
      surname: r.fresh!.surname,
      partner_id: r.referrer?.kind === 'partner' ? r.referrer.id : null,
      referring_customer_id: r.referrer?.kind === 'customer' ? r.referrer.id : null,
      gateway: r.gateway,
      gateway_customer_id: r.gatewayCustomerId,
      per_partner: r.perPartner,
      origin: r.fromBrowser ? 'browser' : 'server',
      first_payment_at: r.firstPaymentAt?.toISOString() ?? null,
    }));
  const touched = plan.customers
    .filter((r) => !r.fresh && r.touched)
    .map((r) => ({
      id: r.id,
      at: r.firstPaymentAt!.toISOString(),
      partner_id: r.linkedNow && r.referrer?.kind === 'partner' ? r.referrer.id : null,
      referring_customer_id: r.linkedNow && r.referrer?.kind === 'customer' ? r.referrer.id : null,
      gateway: r.gatewayNow ? r.gateway : null,
      gateway_customer_id: r.gatewayNow ? r.gatewayCustomerId : null,
    }));
  const rewardRows = created.flatMap((c) =>
    c.rewards.map((r, i) => ({
      p: c.program.id,
      key: c.key,
      n: i + 1,
      action: c.action,
      partner_id: c.credited?.kind === 'partner' ? c.credited.id : null,
      customer_id: c.credited?.kind === 'customer' ? c.credited.id : null,
      amount: r.amount,
      units: r.units,
      is_currency: r.isCurrency,
      status: r.status,
      review_ends_at: r.reviewEndsAt?.toISOString() ?? null,
      basis: r.basis,
      hold_reason: r.holdReason ?? null,
      capped_from: r.cappedFrom ?? null,
      created_at: c.occurredAt.toISOString(),
    })),
  );
  const data = JSON.stringify({
    customers: newCustomers,
    touched,
    // ord: inserted in event order (ids follow it)
    transactions: created.map((c, ord) => ({ ...c.row, ord })),
    refs: refInserts,
    rewards: rewardRows.map((r, ord) => ({ ...r, ord })),
    outbox: outbox.map((o, ord) => ({ ...o, ord })),
  });
  const at = now.toISOString();
  // one statement: the sub-statements run on one snapshot, so a new customer gets its first payment
  // in its insert and only stored ones are updated; foreign keys are checked at its end
  await executePrepared(tx, sql`
    with d as (select ${data}::jsonb as j),
    new_customers as (
      insert into customers (id, program_id, key, email, name, surname, partner_id, referring_customer_id, gateway,
        gateway_customer_id, per_partner, origin, first_payment_at, updated_at)
      select x.id, x.p, x.key, x.email, x.name, x.surname, x.partner_id, x.referring_customer_id, x.gateway,
        x.gateway_customer_id, x.per_partner, x.origin, x.first_payment_at, ${at}::timestamptz
      from d, jsonb_to_recordset(d.j->'customers') as x(id uuid, p uuid, key text, email text, name text, surname text,
        partner_id uuid, referring_customer_id uuid, gateway text, gateway_customer_id text, per_partner boolean,
        origin text, first_payment_at timestamptz)
      returning id
    ),
    touched_customers as (
      update customers c set first_payment_at = least(c.first_payment_at, x.at), updated_at = ${at}::timestamptz,
        -- a customer linked to nobody is linked now; a link is never moved
        partner_id = case when c.partner_id is null and c.referring_customer_id is null then x.partner_id else c.partner_id end,
        referring_customer_id = case when c.partner_id is null and c.referring_customer_id is null then x.referring_customer_id else c.referring_customer_id end,
        -- a customer made without a gateway (po.js, the API) keeps the gateway id its first payment named
        gateway = coalesce(c.gateway, x.gateway),
        gateway_customer_id = case when c.gateway is null and x.gateway is not null then x.gateway_customer_id else c.gateway_customer_id end
      -- limited to its length, as in LOAD: taken for 100 rows, the update read every customer to join a few
      from (select x.* from d, jsonb_to_recordset(d.j->'touched') as x(id uuid, at timestamptz, partner_id uuid, referring_customer_id uuid,
        gateway text, gateway_customer_id text) limit ${touched.length}) as x
      where c.id = x.id
      returning c.id
    ),
    new_transactions as (
      insert into transactions (program_id, key, action, amount_minor, currency, is_currency, tax_minor, customer_id,
        partner_id, gateway, product_id, product_type, attribution, details, created_at)
      select x.p, x.key, x.action, x.amount_minor, x.currency, x.is_currency, x.tax_minor, x.customer_id, x.partner_id,
        x.gateway, x.product_id, x.product_type, x.attribution, x.details, x.created_at
      from d, jsonb_to_recordset(d.j->'transactions') as x(p uuid, key text, action text,
        amount_minor bigint, currency text, is_currency boolean, tax_minor bigint, customer_id uuid, partner_id uuid,
        gateway text, product_id text, product_type text, attribution jsonb, details jsonb, created_at timestamptz, ord bigint)
      order by x.ord
      returning id, program_id, key
    ),
    new_refs as (
      insert into transaction_refs (program_id, ref, transaction_id)
      select x.p, x.ref, coalesce(x.tid, t.id)
      from d, jsonb_to_recordset(d.j->'refs') as x(p uuid, ref text, tid bigint, key text)
      left join new_transactions t on x.tid is null and t.program_id = x.p and t.key = x.key
      on conflict do nothing
      returning 1
    ),
    new_rewards as (
      insert into rewards (program_id, transaction_id, key, action, partner_id, customer_id, amount, original_amount, units,
        is_currency, status, review_ends_at, basis, hold_reason, capped_from, created_at)
      select x.p, t.id, 'rw_' || t.id || '_' || x.n, x.action, x.partner_id, x.customer_id, x.amount, x.amount, x.units,
        x.is_currency, x.status::reward_status, x.review_ends_at, x.basis, x.hold_reason, x.capped_from, x.created_at
      from d, jsonb_to_recordset(d.j->'rewards') as x(p uuid, key text, n int, action text, partner_id uuid,
        customer_id uuid, amount numeric, units text, is_currency boolean, status text, review_ends_at timestamptz,
        basis jsonb, hold_reason text, capped_from numeric, created_at timestamptz, ord bigint)
      join new_transactions t on t.program_id = x.p and t.key = x.key
      order by x.ord
      returning 1
    ),
    new_outbox as (${OUTBOX_INSERT})
    select (select count(*) from new_customers) as customers, (select count(*) from new_transactions) as transactions`);
}
