// What the schema itself guarantees about a program's ledger, whatever code writes to it: a reward
// or a ref always belongs to a stored transaction, and deleting a program takes its whole ledger.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyEvents } from '../../src/db/ledger.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { createPartner, createProgram, payment } from '../support/ledger.js';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t.drop();
});

const rowsOf = async (programId: string) => {
  const n = async (table: string) => Number((await t.pool.query(`select count(*) from ${table} where program_id = $1`, [programId])).rows[0].count);
  return { transactions: await n('transactions'), refs: await n('transaction_refs'), rewards: await n('rewards'), customers: await n('customers') };
};

describe('the ledger schema', () => {
  it('refuses a reward or a ref whose transaction does not exist', async () => {
    const program = await createProgram(t.db);
    const reward = t.pool.query(
      `insert into rewards (program_id, transaction_id, key, amount, original_amount, units, status) values ($1, 999999999, 'rw_x', 1, 1, 'USD', 'ok')`,
      [program.id],
    );
    await expect(reward).rejects.toMatchObject({ code: '23503' });
    const ref = t.pool.query(`insert into transaction_refs (program_id, ref, transaction_id) values ($1, 'ch_x', 999999999)`, [program.id]);
    await expect(ref).rejects.toMatchObject({ code: '23503' });
  });

  it("deletes a program's transactions, refs, rewards and customers with it, and leaves other programs alone", async () => {
    const gone = await createProgram(t.db);
    const kept = await createProgram(t.db);
    for (const p of [gone, kept]) {
      await createPartner(t.db, p.id, 'P1');
      await applyEvents(t.db, p, [payment({ transactionKey: 'pi_1', aliases: ['ch_1'], partnerKey: { value: 'P1', place: 'stripe_payment_intent_metadata' } })]);
    }
    expect(await rowsOf(gone.id)).toEqual({ transactions: 1, refs: 2, rewards: 1, customers: 1 });

    await t.pool.query('delete from programs where id = $1', [gone.id]);
    expect(await rowsOf(gone.id)).toEqual({ transactions: 0, refs: 0, rewards: 0, customers: 0 });
    expect(await rowsOf(kept.id)).toEqual({ transactions: 1, refs: 2, rewards: 1, customers: 1 });
  });
});
