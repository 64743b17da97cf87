// Refunds and chargebacks are deletes; partial refunds reduce rewards in proportion. Every case runs
// through both write paths: one event at a time, and the worker's batch path (set-based), with the
// same expected results.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyEvents, LedgerDataError, type EventOutcome, type LedgerEvent } from '../../src/db/ledger.js';
import { applyBatchSetBased } from '../../src/db/ledger-batch.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { createPartner, createProgram, dispute, payment, refund, stored } from '../support/ledger.js';
import type { ProgramRules } from '../../src/core/program.js';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t.drop();
});

type Apply = (db: TestDatabase['db'], program: ProgramRules, events: LedgerEvent[]) => Promise<EventOutcome[]>;

// the worker applies a job through LedgerBatcher → applyBatch → applyBatchSetBased; here without its
// fallback to the one-at-a-time path, so a case that would only pass through the fallback fails
const noFallback = () => Promise.reject(new Error('the batch fell back to the one-at-a-time path'));
const inBatch: Apply = async (db, program, events) => {
  const [r] = await applyBatchSetBased(db, [{ program, events }], new Date(), noFallback);
  if (!r!.ok) throw r!.error;
  return r!.outcomes;
};

const paths: [string, Apply][] = [
  ['one event at a time', (db, program, events) => applyEvents(db, program, events)],
  ["the worker's batch path (set-based)", inBatch],
];

describe.each(paths)('%s', (_path, apply) => {
  let program: ProgramRules;
  beforeAll(async () => {
    // a program for each path: the cases use fixed refund and dispute ids
    program = await createProgram(t.db);
    await createPartner(t.db, program.id, 'P1');
  });

  const paid = (over: Parameters<typeof payment>[0] = {}) =>
    payment({
      amount: { minor: '4900', currency: 'USD' },
      aliases: [],
      customer: { id: `cus_${Math.random()}` },
      partnerKey: { value: 'P1', place: 'stripe_charge_metadata' },
      ...over,
    });

  describe('refunds', () => {
    it('a full refund deletes the transaction and its rewards (soft delete)', async () => {
      const p = paid();
      await apply(t.db, program, [p]);
      const [o] = await apply(t.db, program, [refund([p.transactionKey])]);
      expect(o).toMatchObject({ kind: 'refund', result: 'applied', deleted: true });
      const s = await stored(t.db, program.id, p.transactionKey);
      expect(s?.deletedAt).not.toBeNull();
      expect(s?.deletedReason).toBe('refunded');
      expect(s?.refundedMinor).toBe(4900n);
      expect(s?.rewards.every((r) => r.deletedAt !== null)).toBe(true);
    });

    it('partial refunds reduce rewards in proportion, add up, and reaching the full amount deletes', async () => {
      const p = paid({ aliases: ['ch_partial'] });
      await apply(t.db, program, [p]); // 30% of 49.00 = 14.7
      await apply(t.db, program, [refund(['ch_partial'], { refundId: 're_p1', amount: { minor: '1500', currency: 'USD' } })]);
      let s = await stored(t.db, program.id, p.transactionKey);
      expect(s?.refundedMinor).toBe(1500n);
      expect(s?.deletedAt).toBeNull();
      expect(s?.rewards.map((r) => [r.amount, r.originalAmount])).toEqual([['10.2', '14.7']]);

      await apply(t.db, program, [refund([p.transactionKey], { refundId: 're_p2', amount: { minor: '2000', currency: 'USD' } })]);
      s = await stored(t.db, program.id, p.transactionKey);
      expect(s?.refundedMinor).toBe(3500n);
      expect(s?.rewards[0]?.amount).toBe('4.2');

      await apply(t.db, program, [refund([p.transactionKey], { refundId: 're_p3', amount: { minor: '1400', currency: 'USD' } })]);
      s = await stored(t.db, program.id, p.transactionKey);
      expect(s?.deletedAt).not.toBeNull();
      expect(s?.rewards[0]?.deletedAt).not.toBeNull();
    });

    it('each refund is applied once, by its gateway id', async () => {
      const p = paid();
      await apply(t.db, program, [p]);
      const r = refund([p.transactionKey], { refundId: 're_once', amount: { minor: '1000', currency: 'USD' } });
      await apply(t.db, program, [r]);
      const [again] = await apply(t.db, program, [{ ...r, eventId: 'evt_other_delivery', eventType: 'charge.refunded' }]);
      expect(again).toMatchObject({ result: 'duplicate' });
      expect((await stored(t.db, program.id, p.transactionKey))?.refundedMinor).toBe(1000n);
    });

    it("Stripe's running total (charge.refunded) and the refund by id (refund.created) count once, in either order", async () => {
      for (const order of ['running-first', 'id-first']) {
        const p = paid({ aliases: [`ch_${order}`] });
        await apply(t.db, program, [p]);
        const byId = refund([p.transactionKey, `ch_${order}`], { refundId: `re_${order}_1`, amount: { minor: '1500', currency: 'USD' } });
        const total = refund([p.transactionKey, `ch_${order}`], { refundId: `ch_${order}@1500`, amount: { minor: '1500', currency: 'USD' }, cumulative: true });
        for (const e of order === 'running-first' ? [total, byId] : [byId, total]) await apply(t.db, program, [e]);
        let s = await stored(t.db, program.id, p.transactionKey);
        expect(s?.refundedMinor, order).toBe(1500n);
        expect(s?.rewards[0]?.amount).toBe('10.2');
        // a second refund of 1000: by id, then the running total 2500
        await apply(t.db, program, [refund([`ch_${order}`], { refundId: `re_${order}_2`, amount: { minor: '1000', currency: 'USD' } })]);
        await apply(t.db, program, [refund([`ch_${order}`], { refundId: `ch_${order}@2500`, amount: { minor: '2500', currency: 'USD' }, cumulative: true })]);
        s = await stored(t.db, program.id, p.transactionKey);
        expect(s?.refundedMinor, order).toBe(2500n);
        expect(s?.rewards[0]?.amount).toBe('7.2');
      }
    });

    it('a refund that arrives before its payment is kept, and the payment lands already refunded', async () => {
      const p = paid({ aliases: ['ch_early'] });
      const [early] = await apply(t.db, program, [refund(['ch_early'], { amount: { minor: '4900', currency: 'USD' } })]);
      expect(early).toMatchObject({ result: 'pending_payment' });
      expect(await stored(t.db, program.id, p.transactionKey)).toBeNull();
      await apply(t.db, program, [p]);
      const s = await stored(t.db, program.id, p.transactionKey);
      expect(s?.deletedAt).not.toBeNull();
      expect(s?.rewards[0]?.deletedAt).not.toBeNull();
    });

    it('a partial refund before its payment reduces the reward when the payment lands', async () => {
      const p = paid();
      await apply(t.db, program, [refund([p.transactionKey], { amount: { minor: '2450', currency: 'USD' } })]);
      await apply(t.db, program, [p]);
      const s = await stored(t.db, program.id, p.transactionKey);
      expect(s?.deletedAt).toBeNull();
      expect(s?.rewards[0]?.amount).toBe('7.35');
    });

    it('a refund in another currency than its payment is refused as bad data, changing nothing', async () => {
      const p = paid();
      await apply(t.db, program, [p]);
      await expect(
        apply(t.db, program, [refund([p.transactionKey], { amount: { minor: '100', currency: 'EUR' } })]),
      ).rejects.toBeInstanceOf(LedgerDataError);
      expect((await stored(t.db, program.id, p.transactionKey))?.refundedMinor).toBe(0n);
    });
  });

  describe('disputes', () => {
    it('opened holds the rewards, won restores them', async () => {
      const p = paid({ aliases: ['ch_won'] });
      await apply(t.db, program, [p]);
      await apply(t.db, program, [dispute(['ch_won'], 'opened', { disputeId: 'dp_won' })]);
      let s = await stored(t.db, program.id, p.transactionKey);
      expect(s?.disputeStatus).toBe('opened');
      expect(s?.rewards.map((r) => [r.status, r.heldFromStatus])).toEqual([['review_period', 'ok']]);
      await apply(t.db, program, [dispute(['ch_won'], 'won', { disputeId: 'dp_won' })]);
      s = await stored(t.db, program.id, p.transactionKey);
      expect(s?.disputeStatus).toBe('won');
      expect(s?.deletedAt).toBeNull();
      expect(s?.rewards.map((r) => [r.status, r.heldFromStatus])).toEqual([['ok', null]]);
    });

    it('lost deletes the transaction and its rewards; a late "opened" changes nothing', async () => {
      const p = paid({ aliases: ['ch_lost'] });
      await apply(t.db, program, [p]);
      await apply(t.db, program, [dispute(['ch_lost'], 'opened', { disputeId: 'dp_lost' })]);
      await apply(t.db, program, [dispute(['ch_lost'], 'lost', { disputeId: 'dp_lost' })]);
      const [late] = await apply(t.db, program, [dispute(['ch_lost'], 'opened', { disputeId: 'dp_lost' })]);
      expect(late).toMatchObject({ result: 'unchanged' });
      const s = await stored(t.db, program.id, p.transactionKey);
      expect(s?.deletedReason).toBe('dispute_lost');
      expect(s?.rewards.every((r) => r.deletedAt !== null)).toBe(true);
    });

    it('a lost dispute that arrives before its payment deletes it on arrival', async () => {
      const p = paid({ aliases: ['ch_dearly'] });
      const [o] = await apply(t.db, program, [dispute(['ch_dearly'], 'lost', { disputeId: 'dp_early' })]);
      expect(o).toMatchObject({ result: 'pending_payment' });
      await apply(t.db, program, [p]);
      expect((await stored(t.db, program.id, p.transactionKey))?.deletedReason).toBe('dispute_lost');
    });
  });
});
