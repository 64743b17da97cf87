// Whole-ledger consistency checks: what "never a half-written row" means, as SQL. Each query lists
// the rows that break one rule; an empty result everywhere is a consistent ledger.
import { sql } from 'drizzle-orm';
import type { Db } from '../../src/db/client.js';

const RULES: Record<string, ReturnType<typeof sql>> = {
  'a transaction without any payment ref': sql`select t.key from transactions t where not exists (select 1 from transaction_refs r where r.transaction_id = t.id) limit 5`,
  'a transaction with a negative or over-refunded amount': sql`select key from transactions where amount_minor < 0 or refunded_minor < 0 or refunded_minor > amount_minor limit 5`,
  'a deleted transaction with a live reward': sql`select t.key from transactions t join rewards w on w.transaction_id = t.id where t.deleted_at is not null and w.deleted_at is null limit 5`,
  'a reward that is negative, or larger than before refunds': sql`select key from rewards where amount < 0 or original_amount < 0 or amount > original_amount limit 5`,
  'a reward in another program than its transaction': sql`select w.key from rewards w join transactions t on t.id = w.transaction_id where w.program_id <> t.program_id limit 5`,
  'a payment ref in another program than its transaction': sql`select r.ref from transaction_refs r join transactions t on t.id = r.transaction_id where r.program_id <> t.program_id limit 5`,
  'an applied refund without its transaction': sql`select refund_id from refunds where applied_at is not null and transaction_id is null limit 5`,
  'an inbox row failed without a reason': sql`select event_id from webhook_events where status = 'failed' and (last_error is null or last_error = '') limit 5`,
  'an inbox row processed without an outcome': sql`select event_id from webhook_events where status = 'processed' and outcome is null limit 5`,
  'a customer linked to a partner of another program': sql`select c.key from customers c join partners p on p.id = c.partner_id where p.program_id <> c.program_id limit 5`,
};

/** Every broken rule, with up to five offending keys each; {} when the ledger is consistent. */
export async function integrityViolations(db: Db): Promise<Record<string, string[]>> {
  const found: Record<string, string[]> = {};
  for (const [rule, query] of Object.entries(RULES)) {
    const rows = (await db.execute(query)).rows as Record<string, unknown>[];
    if (rows.length) found[rule] = rows.map((r) => String(Object.values(r)[0]));
  }
  return found;
}
