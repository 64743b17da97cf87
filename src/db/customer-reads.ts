// Customers as the API and the outbound webhooks read them: with their partner's and referrer's keys.
import { and, asc, eq, or, sql } from 'drizzle-orm';
import { alias } from 'drizzle-orm/pg-core';
import type { Db } from './client.js';
import { micros, UUID } from './columns.js';
import { customers, partners } from './schema.js';

const referrer = alias(customers, 'referrer');
export const selectCustomer = (db: Db) =>
  db
    .select({ c: customers, partnerKey: partners.key, referringKey: referrer.key, micros: micros(customers.createdAt) })
    .from(customers)
    .leftJoin(partners, eq(partners.id, customers.partnerId))
    .leftJoin(referrer, eq(referrer.id, customers.referringCustomerId));

export type CustomerRow = Awaited<ReturnType<ReturnType<typeof selectCustomer>['execute']>>[number];
type Row = CustomerRow;

/** A customer of a program by its key, deleted ones too. */
export async function customerByKey(db: Db, programId: string, key: string): Promise<Row | null> {
  const [row] = await selectCustomer(db).where(and(eq(customers.programId, programId), eq(customers.key, key)));
  return row ?? null;
}

/**
 * A customer by what a request names: its key (or, when none has it, the one per-partner record
 * made for it: `{key}__pkey_{partner}`, or a gateway customer's `stripe_cus_123__pkey_{partner}` by
 * `cus_123`), else its id, else its email.
 */
export async function customerByRef(db: Db, programId: string, ref: { key?: string | null; id?: string | null; email?: string | null }): Promise<Row | null> {
  const inProgram = eq(customers.programId, programId);
  const live = sql`${customers.deletedAt} is not null`;
  if (ref.key) {
    const exact = await customerByKey(db, programId, ref.key);
    if (exact) return exact;
    const perPartner = await selectCustomer(db)
      .where(
        and(
          inProgram,
          eq(customers.perPartner, true),
          or(sql`${customers.key} like ${`${ref.key.replace(/[\\%_]/g, (c) => `\\${c}`)}\\_\\_pkey\\_%`}`, eq(customers.gatewayCustomerId, ref.key)),
        ),
      )
      .orderBy(live, asc(customers.createdAt))
      .limit(2);
    if (perPartner.length === 1) return perPartner[0]!;
  }
  if (ref.id) {
    const [row] = await selectCustomer(db).where(and(inProgram, UUID.test(ref.id) ? eq(customers.id, ref.id) : eq(customers.key, ref.id)));
    if (row) return row;
  }
  if (ref.email) {
    const [row] = await selectCustomer(db)
      .where(and(inProgram, sql`lower(${customers.email}) = ${ref.email.toLowerCase()}`))
      .orderBy(live, asc(customers.createdAt))
      .limit(1);
    if (row) return row;
  }
  return null;
}
