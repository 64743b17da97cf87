// Duplicates and races: the database, not the queue, decides.
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyEvents } from '../../src/db/ledger.js';
import { customers, rewards, transactionRefs, transactions } from '../../src/db/schema.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { count, createPartner, createProgram, payment, refund, stored } from '../support/ledger.js';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t.drop();
});

describe('exactly one transaction per payment', () => {
  it('the same event delivered 5 times concurrently yields one transaction and one set of rewards', async () => {
    const program = await createProgram(t.db);
    await createPartner(t.db, program.id, 'P1');
    const e = payment({ customer: { id: 'cus_dup' }, partnerKey: { value: 'P1', place: 'stripe_charge_metadata' } });
    const outcomes = await Promise.all(Array.from({ length: 5 }, () => applyEvents(t.db, program, [e])));
    expect(outcomes.map((o) => o[0]!.kind === 'payment' && o[0]!.result).sort()).toEqual([
      'created',
      'merged',
      'merged',
      'merged',
      'merged',
    ]);
    expect(await count(t.db, transactions, program.id)).toBe(1);
    expect(await count(t.db, rewards, program.id)).toBe(1);
    expect(await count(t.db, customers, program.id)).toBe(1);
  });

  it('different events of one payment merge into it through its ids, in every order', async () => {
    const key = { value: 'P1', place: 'stripe_charge_metadata' } as const;
    const orders = [
      [0, 1, 2],
      [0, 2, 1],
      [1, 0, 2],
      [1, 2, 0],
      [2, 0, 1],
      [2, 1, 0],
    ];
    // The three events of one Stripe invoice payment as the Stripe adapter emits them: every two share
    // an id, so whichever comes first, the others find it. (The ledger never joins two payments it has
    // already stored as different ones: an event naming both is merged into one of them.)
    const events = () => [
      // payment_intent.succeeded names its latest charge
      payment({ transactionKey: 'pi_m', aliases: ['ch_m'], customer: { id: 'cus_m' }, partnerKey: key }),
      // charge.succeeded names its intent and invoice (its partner key found on the customer by the enrich step)
      payment({ eventType: 'charge.succeeded', transactionKey: 'pi_m', aliases: ['ch_m', 'in_m'], customer: { id: 'cus_m' }, partnerKey: { value: 'P1', place: 'stripe_customer_metadata' } }),
      // an invoice whose payment intent is not known (none in the payload, none found by the enrich
      // step): keyed by the invoice, found through its charge
      payment({ eventType: 'invoice.paid', transactionKey: 'in_m', aliases: ['ch_m'], customer: { id: 'cus_m' }, partnerKey: key }),
    ];
    const refs = ['pi_m', 'ch_m', 'in_m'];
    for (const [n, order] of orders.entries()) {
      const program = await createProgram(t.db);
      await createPartner(t.db, program.id, 'P1');
      const list = events();
      const outcomes = [];
      for (const i of order) outcomes.push(...(await applyEvents(t.db, program, [list[i]!])));
      const label = `order ${order.join('')}`;
      expect(outcomes.map((o) => o.kind === 'payment' && o.result), label).toEqual(['created', 'merged', 'merged']);
      expect(await count(t.db, transactions, program.id), label).toBe(1);
      expect(await count(t.db, rewards, program.id), label).toBe(1);
      const [row] = await t.db.select().from(transactions).where(eq(transactions.programId, program.id));
      // keyed by the event that came first; every id of the payment leads to it
      expect(row?.key, label).toBe(list[order[0]!]!.transactionKey);
      const linked = await t.db.select({ ref: transactionRefs.ref }).from(transactionRefs).where(eq(transactionRefs.transactionId, row!.id));
      expect(linked.map((r) => r.ref).sort(), label).toEqual([...refs].sort());
      // a refund naming any one of its ids finds it
      const [refunded] = await applyEvents(t.db, program, [refund([refs[n % refs.length]!])]);
      expect(refunded, label).toMatchObject({ kind: 'refund', result: 'applied', transactionKey: row!.key, deleted: true });
      const [after] = await t.db.select().from(transactions).where(eq(transactions.programId, program.id));
      expect(after?.deletedAt, label).not.toBeNull();
    }
  });

  it('two payments of one new customer, processed at once, make one customer record', async () => {
    const program = await createProgram(t.db);
    await createPartner(t.db, program.id, 'P1');
    const events = Array.from({ length: 6 }, () =>
      payment({ customer: { id: 'cus_race', email: 'race@example.com' }, partnerKey: { value: 'P1', place: 'stripe_charge_metadata' } }),
    );
    await Promise.all(events.map((e) => applyEvents(t.db, program, [e])));
    expect(await count(t.db, customers, program.id)).toBe(1);
    expect(await count(t.db, transactions, program.id)).toBe(6);
    expect(await count(t.db, rewards, program.id)).toBe(6);
  });

  it('a payment and its refund racing each other end refunded, whichever lands first', async () => {
    const program = await createProgram(t.db);
    await createPartner(t.db, program.id, 'P1');
    for (let i = 0; i < 10; i++) {
      const p = payment({ aliases: [`ch_r${i}`], customer: { id: `cus_r${i}` }, partnerKey: { value: 'P1', place: 'stripe_charge_metadata' } });
      const r = refund([`ch_r${i}`]);
      await Promise.all(i % 2 ? [applyEvents(t.db, program, [p]), applyEvents(t.db, program, [r])] : [applyEvents(t.db, program, [r]), applyEvents(t.db, program, [p])]);
      const s = await stored(t.db, program.id, p.transactionKey);
      expect(s?.deletedAt, `payment ${i}`).not.toBeNull();
      expect(s?.rewards.every((w) => w.deletedAt !== null)).toBe(true);
    }
  });

  it('a job whose second event fails writes nothing at all', async () => {
    const program = await createProgram(t.db);
    const good = payment({ customer: { id: 'cus_atomic' } });
    const bad = payment({ customer: { id: 'cus_atomic' }, amount: { minor: '100', currency: 'ZZZ' } });
    await expect(applyEvents(t.db, program, [good, bad])).rejects.toThrow(/unknown currency code "ZZZ"/);
    expect(await stored(t.db, program.id, good.transactionKey)).toBeNull();
    expect(await count(t.db, customers, program.id)).toBe(0);
  });
});
