// The worker's set-based batch path: applying N jobs as one batch stores the same rows (transactions,
// customers, rewards, refunds, disputes, refs, outbox) and gives the same outcomes as applying them
// one job at a time, including events of one batch that affect each other.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PaymentEventInput } from '../../src/core/payment-event.js';
import type { CommissionSettings, ProgramRules } from '../../src/core/program.js';
import { applyEvents, type JobEvents, type LedgerEvent } from '../../src/db/ledger.js';
import { applyBatchSetBased, segmentsOf } from '../../src/db/ledger-batch.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { createPartner, createProgram, dispute, payment, refund } from '../support/ledger.js';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t.drop();
});

const NOW = new Date('2026-11-10T00:00:00.000Z');
type Settings = Partial<Omit<ProgramRules, 'id' | 'commission'>> & { commission?: Partial<CommissionSettings> };

/** Two programs set up alike: one gets the events job by job, the other as one batch. */
async function twins(settings: Settings = {}, setup?: (program: ProgramRules) => Promise<void>) {
  const made: ProgramRules[] = [];
  for (let i = 0; i < 2; i++) {
    const p = await createProgram(t.db, settings);
    for (const key of ['P1', 'P2']) await createPartner(t.db, p.id, key, { referralCode: `CODE_${key}` });
    await t.pool.query(
      `insert into webhook_subscriptions (program_id, key, url, events, secret) values ($1, 'sub', 'https://example.com/hook', $2, 's')`,
      [p.id, ['transaction.created', 'transaction.deleted', 'transaction.restored', 'customer.created', 'reward.status_changed']],
    );
    if (setup) await setup(p);
    made.push(p);
  }
  return made as [ProgramRules, ProgramRules];
}

/** Everything a program's ledger holds, without ids or wall-clock times. */
async function snapshot(programId: string) {
  const q = async (text: string) => (await t.pool.query(text, [programId])).rows;
  return {
    transactions: await q(`
      select t.key, t.action, t.amount_minor, t.currency, t.refunded_minor, t.tax_minor, c.key as customer, p.key as partner,
        t.attribution, t.details, t.created_at, t.dispute_status, t.deleted_at is not null as deleted, t.deleted_reason,
        t.deleted_by, t.reduced_by
      from transactions t left join customers c on c.id = t.customer_id left join partners p on p.id = t.partner_id
      where t.program_id = $1 order by t.key`),
    customers: await q(`
      select c.key, c.email, c.name, c.gateway, c.gateway_customer_id, c.per_partner, c.first_payment_at,
        p.key as partner, rc.key as referring
      from customers c left join partners p on p.id = c.partner_id left join customers rc on rc.id = c.referring_customer_id
      where c.program_id = $1 order by c.key`),
    rewards: await q(`
      select t.key as transaction, r.action, p.key as partner, c.key as customer, r.amount, r.original_amount, r.units,
        r.is_currency, r.status, r.held_from_status, r.review_ends_at, r.basis, r.created_at, r.deleted_at is not null as deleted,
        r.deleted_reason, r.key = 'rw_' || t.id || '_1' as keyed
      from rewards r join transactions t on t.id = r.transaction_id left join partners p on p.id = r.partner_id
      left join customers c on c.id = r.customer_id
      where r.program_id = $1 order by t.key, r.key`),
    refs: await q(`select r.ref, t.key from transaction_refs r join transactions t on t.id = r.transaction_id where r.program_id = $1 order by r.ref`),
    refunds: await q(`
      select r.refund_id, r.amount_minor, r.applied_at is not null as applied, r.reversed_at is not null as reversed, t.key as transaction
      from refunds r left join transactions t on t.id = r.transaction_id where r.program_id = $1 order by r.refund_id`),
    disputes: await q(`
      select d.dispute_id, d.status, d.applied_at is not null as applied, t.key as transaction
      from disputes d left join transactions t on t.id = d.transaction_id where d.program_id = $1 order by d.dispute_id`),
    // a reward is named by its key, which holds an id: name it by its transaction instead
    outbox: await q(`
      select o.event, coalesce('reward of ' || t.key, o.entity_key) as entity, o.detail
      from outbox o left join rewards r on r.program_id = o.program_id and r.key = o.entity_key
      left join transactions t on t.id = r.transaction_id
      where o.program_id = $1 order by 1, 2, 3::text`),
  };
}

type Result = { ok: true; outcomes: unknown } | { ok: false; error: string };

/** Apply the jobs one by one to the first program and as one batch to the second; compare. */
async function compare(programs: [ProgramRules, ProgramRules], jobs: LedgerEvent[][]) {
  const [single, batched] = programs;
  const one: Result[] = [];
  for (const events of jobs) {
    try {
      one.push({ ok: true, outcomes: await applyEvents(t.db, single, events, { now: NOW }) });
    } catch (err) {
      one.push({ ok: false, error: (err as Error).message });
    }
  }
  // the set-based path itself: it must not hand the batch to the one-at-a-time path
  const fallback = () => Promise.reject(new Error('fell back to the one-at-a-time path'));
  const batch: Result[] = (await applyBatchSetBased(t.db, jobs.map((events): JobEvents => ({ program: batched, events })), NOW, fallback)).map((r) =>
    r.ok ? { ok: true, outcomes: r.outcomes } : { ok: false, error: (r.error as Error).message },
  );
  expect(batch).toEqual(one);
  expect(await snapshot(batched.id)).toEqual(await snapshot(single.id));
  return { one, batch };
}

const key = (value: string, place: 'stripe_charge_metadata' | 'chargebee_cf_referral_code' = 'stripe_charge_metadata') => ({ value, place });
const pay = (over: Partial<PaymentEventInput & { kind: 'payment' }>) => payment({ customer: { id: 'cus_1', email: 'Buyer@Example.com' }, ...over });

describe('applyBatch (set-based) gives what one job at a time gives', () => {
  it('two payments of the same new customer: one customer record, first payment first', async () => {
    const programs = await twins({ commission: { lifetime: { kind: 'first' } } });
    await compare(programs, [
      [pay({ transactionKey: 'pi_late', occurredAt: '2026-11-05T10:00:00.000Z', partnerKey: key('P1') })],
      [pay({ transactionKey: 'pi_early', occurredAt: '2026-11-01T10:00:00.000Z', partnerKey: key('P2') })],
      [pay({ transactionKey: 'pi_third', occurredAt: '2026-11-03T10:00:00.000Z', customer: { email: 'buyer@example.COM' } })],
    ]);
    const s = await snapshot(programs[1].id);
    expect(s.customers).toHaveLength(1);
    expect(s.customers[0]).toMatchObject({ key: 'cus_1', partner: 'P1' });
  });

  it('a payment and its duplicate or alias event in one batch merge into one', async () => {
    const programs = await twins();
    const first = pay({ transactionKey: 'pi_m', aliases: ['ch_m'], partnerKey: key('P1') });
    await compare(programs, [
      [first],
      [{ ...first, eventId: 'evt_again' }],
      [pay({ transactionKey: 'in_m', aliases: ['ch_m', 'in_m2'], eventType: 'invoice.paid' })],
      [pay({ transactionKey: 'pi_other', aliases: ['in_m2'] })],
    ]);
    const s = await snapshot(programs[1].id);
    expect(s.transactions.map((r) => r.key)).toEqual(['pi_m']);
    expect(s.refs.map((r) => [r.ref, r.key])).toEqual([
      ['ch_m', 'pi_m'],
      ['in_m', 'pi_m'],
      ['in_m2', 'pi_m'],
      ['pi_m', 'pi_m'],
      ['pi_other', 'pi_m'],
    ]);
  });

  it('refunds and disputes in the batch, after and before their payment', async () => {
    const programs = await twins();
    const p1 = pay({ transactionKey: 'pi_r1', aliases: ['ch_r1'], customer: { id: 'cus_r1' }, partnerKey: key('P1') });
    const p2 = pay({ transactionKey: 'pi_r2', aliases: ['ch_r2'], customer: { id: 'cus_r2' }, partnerKey: key('P2') });
    const p3 = pay({ transactionKey: 'pi_r3', customer: { id: 'cus_r3' }, partnerKey: key('P2') });
    await compare(programs, [
      [p1],
      [refund(['ch_r1'], { refundId: 're_1', amount: { minor: '1000', currency: 'USD' } })],
      [refund(['ch_r2'], { refundId: 're_2' })], // before its payment: waits, then applies
      [dispute(['pi_r3'], 'opened', { disputeId: 'dp_3' })],
      [pay({ transactionKey: 'pi_between', customer: { id: 'cus_x' } })],
      [p2],
      [p3, refund(['pi_r3'], { refundId: 're_3', amount: { minor: '99', currency: 'USD' } })],
      [refund(['ch_r1'], { refundId: 're_1b', amount: { minor: '500', currency: 'USD' } })],
      [dispute(['ch_r1'], 'lost', { disputeId: 'dp_1' })],
      [refund(['ch_r1'], { refundId: 're_1', amount: { minor: '1000', currency: 'USD' } })], // duplicate
    ]);
    const s = await snapshot(programs[1].id);
    expect(s.refunds.every((r) => r.applied)).toBe(true);
    expect(s.transactions.find((r) => r.key === 'pi_r2')).toMatchObject({ deleted: true, deleted_reason: 'refunded' });
    expect(s.transactions.find((r) => r.key === 'pi_r3')).toMatchObject({ dispute_status: 'opened', refunded_minor: '99' });
  });

  it('a run of refunds: partial ones add up to a delete, a repeat is a duplicate, running totals count once', async () => {
    const programs = await twins({}, async (p) => {
      await applyEvents(t.db, p, [pay({ eventId: 'evt_s1', transactionKey: 'pi_s1', aliases: ['ch_s1'], customer: { id: 'cus_s' }, partnerKey: key('P1') })], { now: NOW });
    });
    await compare(programs, [
      [refund(['ch_s1'], { refundId: 're_s1', amount: { minor: '1000', currency: 'USD' } })],
      [refund(['pi_s1', 'ch_s1'], { refundId: 'ch_s1@2000', amount: { minor: '2000', currency: 'USD' }, cumulative: true })],
      [refund(['ch_s1'], { refundId: 're_s1', amount: { minor: '1000', currency: 'USD' } })],
      [refund(['pi_nothing'], { refundId: 're_s0' })],
      [refund(['pi_s1'], { refundId: 're_s2', amount: { minor: '5000', currency: 'USD' } })],
      [refund(['pi_s1'], { refundId: 're_s3', amount: { minor: '5000', currency: 'USD' } })],
      [refund(['pi_s1'], { refundId: 're_s4', amount: { minor: '1', currency: 'JPY' } })],
    ]);
  });

  it('a refund in another currency than its payment in the batch fails its job alone', async () => {
    const programs = await twins();
    const { batch } = await compare(programs, [
      [pay({ transactionKey: 'pi_c1', customer: { id: 'cus_c1' }, partnerKey: key('P1') })],
      [refund(['pi_c1'], { refundId: 're_c1', amount: { minor: '100', currency: 'EUR' } })],
      [pay({ transactionKey: 'pi_c2', customer: { id: 'cus_c2' }, amount: { minor: '100', currency: 'ZZZ' } })],
      [pay({ transactionKey: 'pi_c3', customer: { id: 'cus_c2' }, partnerKey: key('P2') })],
    ]);
    expect(batch.map((r) => r.ok)).toEqual([true, false, false, true]);
  });

  it('a job of several events is all or nothing inside the batch', async () => {
    const programs = await twins();
    await compare(programs, [
      [pay({ transactionKey: 'pi_j1', customer: { id: 'cus_j' }, partnerKey: key('P1') })],
      [pay({ transactionKey: 'pi_j2', customer: { id: 'cus_j2' }, partnerKey: key('P2') }), pay({ transactionKey: 'pi_j3', amount: { minor: '1', currency: 'QQQ' } })],
      [pay({ transactionKey: 'pi_j4', customer: { id: 'cus_j2' } })],
    ]);
    const s = await snapshot(programs[1].id);
    // the failed job made no customer: pi_j4's payer is created unlinked
    expect(s.customers.find((c) => c.key === 'cus_j2')).toMatchObject({ partner: null });
  });

  it('customers stored before the batch: links are permanent, matched by gateway id then email', async () => {
    const programs = await twins({}, async (p) => {
      await applyEvents(t.db, p, [pay({ eventId: 'evt_old', transactionKey: 'pi_old', customer: { id: 'cus_old', email: 'Old@Example.com' }, partnerKey: key('P1'), occurredAt: '2026-10-01T00:00:00.000Z' })], { now: NOW });
    });
    await compare(programs, [
      [pay({ transactionKey: 'pi_n1', customer: { id: 'cus_old' }, partnerKey: key('P2') })],
      [pay({ transactionKey: 'pi_n2', customer: { email: 'OLD@example.com' }, occurredAt: '2026-09-01T00:00:00.000Z' })],
      [pay({ transactionKey: 'pi_n3', customer: {} })],
      [pay({ transactionKey: 'pi_n4', customer: { key: 'cus_old' }, createCustomer: false })],
      [pay({ transactionKey: 'pi_n5', customer: { key: 'nobody' }, createCustomer: false, partnerKey: key('P1') })],
    ]);
  });

  it('transaction-based: per-partner records made and reused within the batch', async () => {
    const programs = await twins({ attributionModel: 'transaction', commission: { lifetime: { kind: 'first' } } });
    await compare(programs, [
      [pay({ transactionKey: 'pi_t1', customer: { id: 'cus_t' }, partnerKey: key('P1') })],
      [pay({ transactionKey: 'pi_t2', customer: { id: 'cus_t' }, partnerKey: key('P1'), occurredAt: '2026-10-01T00:00:00.000Z' })],
      [pay({ transactionKey: 'pi_t3', customer: { id: 'cus_t' }, partnerKey: key('P2') })],
      [pay({ transactionKey: 'pi_t4', customer: { id: 'cus_t' }, partnerKey: key('CODE_P2', 'chargebee_cf_referral_code'), gateway: 'chargebee' })],
      [pay({ transactionKey: 'pi_t5', customer: { id: 'cus_t' }, partnerKey: key('NOBODY') })],
      [pay({ transactionKey: 'pi_t6', customer: { id: 'cus_t' } })],
    ]);
    const s = await snapshot(programs[1].id);
    // a gateway's customer is named with its gateway: the same id at another gateway is another payer
    expect(s.customers.map((c) => c.key)).toEqual(['chargebee_cus_t__pkey_P2', 'cus_t', 'stripe_cus_t__pkey_P1', 'stripe_cus_t__pkey_P2']);
  });

  it("a referral link's key names its partner: customer- and transaction-based, per-partner record shared with the partner key", async () => {
    const withLink = async (p: ProgramRules) => {
      await t.pool.query(
        `insert into partner_referral_links (program_id, partner_id, key) select $1, id, 'LINK_P1' from partners where program_id = $1 and key = 'P1'`,
        [p.id],
      );
    };
    const customerBased = await twins({}, withLink);
    const { one } = await compare(customerBased, [
      [pay({ transactionKey: 'pi_l1', customer: { id: 'cus_l1' }, partnerKey: key('LINK_P1') })],
      [pay({ transactionKey: 'pi_l2', customer: { id: 'cus_l2' }, partnerKey: key('LINK_NOBODY') })],
    ]);
    expect(one).toMatchObject([{ ok: true, outcomes: [{ rewards: 1 }] }, { ok: true, outcomes: [{ rewards: 0, reason: 'no_partner' }] }]);
    const perSale = await twins({ attributionModel: 'transaction' }, withLink);
    await compare(perSale, [
      [pay({ transactionKey: 'pi_l3', customer: { id: 'cus_l' }, partnerKey: key('P1') })],
      [pay({ transactionKey: 'pi_l4', customer: { id: 'cus_l' }, partnerKey: key('LINK_P1') })],
    ]);
    const s = await snapshot(perSale[1].id);
    expect(s.customers.map((c) => c.key)).toEqual(['stripe_cus_l__pkey_P1']);
  });

  it("a partner's promotion code credits it after the partner key: customer- and transaction-based, per-partner record shared with the key", async () => {
    const withCodes = async (p: ProgramRules) => {
      await t.pool.query(`insert into promotion_codes (program_id, partner_id, code) select $1, id, 'P1SAVE' from partners where program_id = $1 and key = 'P1'`, [p.id]);
      await t.pool.query(`insert into promotion_codes (program_id, partner_id, code) select $1, id, 'P2SAVE' from partners where program_id = $1 and key = 'P2'`, [p.id]);
      await t.pool.query(`insert into promotion_codes (program_id, partner_id, code) values ($1, null, 'NOBODYS')`, [p.id]);
    };
    const customerBased = await twins({}, withCodes);
    const { one } = await compare(customerBased, [
      [pay({ transactionKey: 'pi_c1', customer: { id: 'cus_c1' }, coupons: ['p1save'] })],
      [pay({ transactionKey: 'pi_c2', customer: { id: 'cus_c2' }, coupons: ['NOBODYS', 'UNKNOWN'] })],
      [pay({ transactionKey: 'pi_c3', customer: { id: 'cus_c3' }, partnerKey: key('P2'), coupons: ['P1SAVE'] })],
      [pay({ transactionKey: 'pi_c4', customer: { id: 'cus_c4' }, partnerKey: key('NOBODY'), coupons: ['UNKNOWN', 'P2SAVE'] })],
      // the customer cus_c1 is linked to P1 now: its link outranks another partner's code
      [pay({ transactionKey: 'pi_c5', customer: { id: 'cus_c1' }, coupons: ['P2SAVE'] })],
    ]);
    expect(one).toMatchObject([
      { ok: true, outcomes: [{ rewards: 1 }] },
      { ok: true, outcomes: [{ rewards: 0, reason: 'no_partner' }] },
      { ok: true, outcomes: [{ rewards: 1 }] },
      { ok: true, outcomes: [{ rewards: 1 }] },
      { ok: true, outcomes: [{ rewards: 1 }] },
    ]);
    const s = await snapshot(customerBased[1].id);
    expect(s.transactions.map((r) => [r.key, r.partner, r.attribution.decided_by, r.attribution.coupon])).toEqual([
      ['pi_c1', 'P1', 'coupon', 'p1save'],
      ['pi_c2', null, 'none', null],
      ['pi_c3', 'P2', 'partner_key', 'P1SAVE'],
      ['pi_c4', 'P2', 'coupon', 'P2SAVE'],
      ['pi_c5', 'P1', 'customer_link', 'P2SAVE'],
    ]);
    const perSale = await twins({ attributionModel: 'transaction' }, withCodes);
    await compare(perSale, [
      [pay({ transactionKey: 'pi_c6', customer: { id: 'cus_c' }, partnerKey: key('P1') })],
      [pay({ transactionKey: 'pi_c7', customer: { id: 'cus_c' }, coupons: ['P1SAVE'] })],
      [pay({ transactionKey: 'pi_c8', customer: { id: 'cus_c' }, coupons: ['P2SAVE'] })],
      // a payer named by key alone: its per-partner record is found under its name only
      [pay({ transactionKey: 'pi_c9', customer: { key: 'cust_k' }, partnerKey: key('P1') })],
      [pay({ transactionKey: 'pi_c10', customer: { key: 'cust_k' }, coupons: ['P1SAVE'] })],
    ]);
    const ps = await snapshot(perSale[1].id);
    expect(ps.customers.map((c) => c.key)).toEqual(['cust_k__pkey_P1', 'stripe_cus_c__pkey_P1', 'stripe_cus_c__pkey_P2']);
    expect(ps.transactions.map((r) => [r.key, r.partner, r.attribution.customer_match, r.attribution.partner_key_place])).toEqual([
      ['pi_c10', 'P1', 'per_partner_record', 'coupon'],
      ['pi_c6', 'P1', 'created', 'stripe_charge_metadata'],
      ['pi_c7', 'P1', 'per_partner_record', 'coupon'],
      ['pi_c8', 'P2', 'created', 'coupon'],
      ['pi_c9', 'P1', 'created', 'stripe_charge_metadata'],
    ]);
  });

  it('transaction-based: a per-partner record under the older name (cus_o__pkey_P1) is found, not made again', async () => {
    const programs = await twins({ attributionModel: 'transaction' }, async (p) => {
      await t.pool.query(
        `insert into customers (program_id, key, gateway, gateway_customer_id, per_partner, partner_id)
         select $1, 'cus_o__pkey_P1', 'stripe', 'cus_o', true, id from partners where program_id = $1 and key = 'P1'`,
        [p.id],
      );
    });
    const { one } = await compare(programs, [
      [pay({ transactionKey: 'pi_o1', customer: { id: 'cus_o' }, partnerKey: key('P1') })],
      [pay({ transactionKey: 'pi_o2', customer: { id: 'cus_o' }, partnerKey: key('CODE_P1', 'chargebee_cf_referral_code') })],
      [pay({ transactionKey: 'pi_o3', customer: { id: 'cus_o' }, partnerKey: key('P2') })],
    ]);
    expect(one.map((r) => r.ok)).toEqual([true, true, true]);
    const s = await snapshot(programs[1].id);
    expect(s.customers.map((c) => c.key)).toEqual(['cus_o__pkey_P1', 'stripe_cus_o__pkey_P2']);
  });

  it('refer-a-friend: a customer made earlier in the batch refers a later one', async () => {
    const programs = await twins({ type: 'refer_a_friend' });
    await compare(programs, [
      [pay({ transactionKey: 'pi_f1', customer: { id: 'cus_friend', email: 'friend@example.com' } })],
      [pay({ transactionKey: 'pi_f2', customer: { id: 'cus_new', email: 'new@example.com' }, partnerKey: key('cus_friend') })],
      [pay({ transactionKey: 'pi_f3', customer: { id: 'cus_new2', email: 'new2@example.com' }, partnerKey: key('cus_unknown') })],
    ]);
  });

  it('refunds and their reversals in one batch, in either order, before and after their payment', async () => {
    const programs = await twins();
    const amt = (minor: string) => ({ minor, currency: 'USD' });
    await compare(programs, [
      [pay({ transactionKey: 'pi_r0' })],
      [pay({ transactionKey: 'pi_r1', aliases: ['ch_r1'] })],
      [refund(['pi_r1'], { refundId: 're_r1', amount: amt('300') })],
      [refund(['ch_r1'], { refundId: 're_r2' })],
      // the whole-payment refund taken back: the payment comes back, reduced by re_r1
      [refund(['pi_r1'], { refundId: 're_r2', reversed: true })],
      // a reversal naming another payment still reverses its refund where it was stored
      [refund(['pi_r0'], { refundId: 're_r1', amount: amt('300'), reversed: true })],
      [refund(['pi_r1'], { refundId: 're_r1', reversed: true })],
      // reversed before the refund and its payment arrive
      [refund(['pi_r2'], { refundId: 're_r3', amount: amt('500'), reversed: true })],
      [refund(['pi_r2'], { refundId: 're_r3', amount: amt('500') })],
      [pay({ transactionKey: 'pi_r2' })],
      [{ gateway: 'stripe', eventId: 'evt_list', eventType: 'order.updated', occurredAt: '2030-01-01T00:00:00.000Z', kind: 'refunds_standing', paymentRefs: ['pi_r2'], prefix: 're_', refundIds: [] }],
    ]);
  });

  it('random batches over a few customers, payments, refunds and disputes', async () => {
    let seed = Number(process.env.TWIN_SEED ?? 42);
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (const model of ['customer', 'transaction'] as const) {
      for (let round = 0; round < 4; round++) {
        const programs = await twins({ attributionModel: model, reviewPeriodDays: round % 2 ? 30 : 0, commission: { lifetime: round === 2 ? { kind: 'first' } : { kind: 'all' } } });
        const jobs: LedgerEvent[][] = [];
        for (let i = 0; i < 40; i++) {
          const kind = rnd(10);
          const n = rnd(12);
          if (kind < 7) {
            const c = rnd(5);
            const customer = [{ id: `cus_${c}` }, { email: `Buyer${c}@Example.com` }, { id: `cus_${c}`, email: `buyer${c}@example.com` }, {}][rnd(4)]!;
            const partnerKey = [key('P1'), key('P2'), key('NOPE'), undefined][rnd(4)];
            jobs.push([
              pay({
                transactionKey: `pi_${n}`,
                aliases: rnd(2) ? [`ch_${n}`] : [],
                customer,
                partnerKey,
                amount: { minor: String(1000 + rnd(5000)), currency: 'USD' },
                occurredAt: new Date(Date.UTC(2026, 10, 1 + rnd(9))).toISOString(),
              }),
            ]);
          } else if (kind < 9) {
            // a refund, or (one in three) its reversal: the gateway took it back, before or after it came
            jobs.push([refund([rnd(2) ? `ch_${n}` : `pi_${n}`], { refundId: `re_${rnd(20)}`, amount: rnd(3) ? { minor: String(100 + rnd(1500)), currency: 'USD' } : undefined, reversed: rnd(3) === 0 })]);
          } else if (rnd(4) === 0) {
            // a store's list of the refunds standing: the others of its payment are reversed
            jobs.push([{ gateway: 'stripe', eventId: `evt_list_${i}`, eventType: 'order.updated', occurredAt: new Date(Date.UTC(2030, 0, 1)).toISOString(), kind: 'refunds_standing', paymentRefs: [`pi_${n}`, `ch_${n}`], prefix: 're_', refundIds: [`re_${rnd(20)}`] }]);
          } else {
            jobs.push([dispute([`pi_${n}`], (['opened', 'won', 'lost'] as const)[rnd(3)]!, { disputeId: `dp_${rnd(4)}` })]);
          }
        }
        await compare(programs, jobs);
      }
    }
  });
});

describe('segmentsOf', () => {
  it('defers refunds and disputes after the payments, unless a later payment names them', () => {
    const items = [
      { job: 0, seq: 0, e: payment({ transactionKey: 'a' }) },
      { job: 1, seq: 0, e: refund(['a']) },
      { job: 2, seq: 0, e: payment({ transactionKey: 'b' }) },
      { job: 3, seq: 0, e: refund(['c']) },
      { job: 4, seq: 0, e: payment({ transactionKey: 'd', aliases: ['c'] }) },
    ];
    const segments = segmentsOf(items, () => 'p');
    expect(segments.map((s) => [s.payments.map((i) => i.job), s.others.map((i) => i.job)])).toEqual([
      [[0, 2], [1, 3]],
      [[4], []],
    ]);
  });
});
