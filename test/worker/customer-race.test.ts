// A customer created by someone who does not take the ledger's locks (the REST API's POST
// /v1/customers) between the ledger's read and its write: the payment is booked against that
// customer, not failed, and no second customer is made.
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
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

it('a customer made meanwhile by the API is the one the payment is booked against', async () => {
  const program = await createProgram(t.db);
  const partner = await createPartner(t.db, program.id, 'P1');
  const other = new pg.Client({ connectionString: t.url });
  await other.connect();
  try {
    // the API's insert, not yet committed: the ledger reads no such customer, then its insert waits on it
    await other.query('begin');
    await other.query(`insert into customers (program_id, key, email, partner_id) values ($1, 'cust_race', 'race@example.com', $2)`, [
      program.id,
      partner.id,
    ]);
    const booking = applyEvents(t.db, program, [payment({ customer: { key: 'cust_race', email: 'race@example.com' } })]);
    // the ledger's insert is now blocked on the API's row
    for (let i = 0; i < 100; i++) {
      const { rows } = await t.pool.query(`select count(*)::int as n from pg_locks where not granted and database = (select oid from pg_database where datname = current_database())`);
      if (rows[0].n > 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    await other.query('commit');
    const [outcome] = await booking;
    expect(outcome).toMatchObject({ kind: 'payment', result: 'created', rewards: 1 });
    const { rows } = await t.pool.query(
      `select c.key, p.key as partner, (select count(*)::int from customers where program_id = $1) as customers
       from transactions t join customers c on c.id = t.customer_id left join partners p on p.id = t.partner_id where t.program_id = $1`,
      [program.id],
    );
    expect(rows).toEqual([{ key: 'cust_race', partner: 'P1', customers: 1 }]);
  } finally {
    await other.end();
  }
});
