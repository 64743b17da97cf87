// A batch looks up the few customers it names through their indexes, never by reading the customers
// table whole: with a few thousand customers stored, PostgreSQL took each lookup list for 100 rows and
// chose to scan the table and hash-join (6 of a small batch's 6.4 ms at 7,500 customers, growing with
// the table until the planner changed its mind).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Database } from '../../src/db/client.js';
import { applyBatchSetBased } from '../../src/db/ledger-batch.js';
import type { JobEvents } from '../../src/db/ledger.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { createPartner, createProgram, payment } from '../support/ledger.js';

let t: TestDatabase;
/** One connection: the batch's backend, whose table statistics are flushed on demand. */
let worker: Database;
beforeAll(async () => {
  t = await createTestDatabase();
  worker = connect(t.url, { max: 1 });
});
afterAll(async () => {
  await worker.close();
  await t.drop();
});

/** Whole-table reads of customers so far, with the batch connection's counts flushed first. */
async function customerTableScans(): Promise<number> {
  await worker.pool.query('select pg_stat_force_next_flush()');
  // flushed when that backend goes idle after the statement: ask until the figure settles
  let last = -1;
  for (let i = 0; i < 50; i++) {
    const { rows } = await t.pool.query(`select pg_stat_clear_snapshot(), (select seq_scan from pg_stat_user_tables where relname = 'customers')::int as n`);
    const n = rows[0].n as number;
    if (n === last) return n;
    last = n;
    await new Promise((r) => setTimeout(r, 100));
  }
  return last;
}

describe('a batch with thousands of customers stored', () => {
  it('reads and updates the customers it names by index, without scanning the table', async () => {
    const program = await createProgram(t.db);
    await createPartner(t.db, program.id, 'P1');
    await t.pool.query(
      `insert into customers (program_id, key, email, gateway, gateway_customer_id, first_payment_at)
       select $1, 'cus_' || g, 'buyer' || g || '@example.com', 'stripe', 'cus_' || g, timestamptz '2026-10-01'
       from generate_series(1, 5000) g`,
      [program.id],
    );
    await t.pool.query('analyze customers');
    const jobs: JobEvents[] = [
      // stored customers found by gateway id and email, and given an earlier first payment
      payment({ customer: { id: 'cus_17', email: 'buyer17@example.com' }, occurredAt: '2026-09-01T00:00:00.000Z', partnerKey: { value: 'P1', place: 'stripe_charge_metadata' } }),
      payment({ customer: { email: 'BUYER42@example.com' }, occurredAt: '2026-09-02T00:00:00.000Z' }),
      payment({ customer: { id: 'cus_new', email: 'new@example.com' } }),
    ].map((e) => ({ program, events: [e] }));
    const before = await customerTableScans();

    const results = await applyBatchSetBased(worker.db, jobs, new Date('2026-11-10T00:00:00.000Z'), () => Promise.reject(new Error('fell back')));

    expect(results.map((r) => r.ok)).toEqual([true, true, true]);
    expect(await customerTableScans()).toBe(before);
    const { rows } = await t.pool.query(
      `select key, first_payment_at::date::text as first from customers where program_id = $1 and key in ('cus_17', 'cus_42', 'cus_new') order by key`,
      [program.id],
    );
    expect(rows).toEqual([
      { key: 'cus_17', first: '2026-09-01' },
      { key: 'cus_42', first: '2026-09-02' },
      { key: 'cus_new', first: '2026-11-01' },
    ]);
  });
});
