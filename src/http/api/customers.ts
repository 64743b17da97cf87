// /v1/customers: the payers. In affiliate programs each is linked to a partner, for good; in
// refer-a-friend programs to the customer who referred them.
import { Router, type Response } from 'express';
import { and, asc, eq, isNull, sql } from 'drizzle-orm';
import { alias } from 'drizzle-orm/pg-core';
import { z } from 'zod';
import type { ProgramRules } from '../../core/program.js';
import type { Db } from '../../db/client.js';
import { emit } from '../../db/outbox.js';
import { customers, partners } from '../../db/schema.js';
import { ApiError } from '../errors.js';
import { isUniqueViolation } from './partners.js';
import { notFound, ok, pagination, parse, parseQuery, timestamp } from './respond.js';

const text = (max = 255) => z.string().trim().min(1).max(max);
const Ref = z
  .object({ key: text().nullish(), id: text().nullish(), email: z.email().nullish() })
  .refine((r) => r.key || r.id || r.email, { message: 'name a key, an id or an email' });
export const CustomerFields = z.object({ email: z.email().nullish(), name: text().nullish(), surname: text().nullish() });
export const CreateCustomer = CustomerFields.extend({
  key: text().regex(/^[^/?#\s]+$/, 'no spaces, slashes, ? or #'),
  partner: Ref.nullish(),
  referring_customer: Ref.nullish(),
});
export const ListQuery = z.object(pagination());

const referrer = alias(customers, 'referrer');
const selectCustomer = (db: Db) =>
  db
    .select({ c: customers, partnerKey: partners.key, referringKey: referrer.key })
    .from(customers)
    .leftJoin(partners, eq(partners.id, customers.partnerId))
    .leftJoin(referrer, eq(referrer.id, customers.referringCustomerId));

type Row = Awaited<ReturnType<ReturnType<typeof selectCustomer>['execute']>>[number];
export type CustomerRow = Row;

/** A customer of a program by its key, deleted ones too. */
export async function customerByKey(db: Db, programId: string, key: string): Promise<Row | null> {
  const [row] = await selectCustomer(db).where(and(eq(customers.programId, programId), eq(customers.key, key)));
  return row ?? null;
}

export const customerView = (r: Row) => ({
  id: r.c.id,
  key: r.c.key,
  email: r.c.email,
  name: r.c.name,
  surname: r.c.surname,
  partner: r.partnerKey,
  referring_customer: r.referringKey,
  created_at: timestamp(r.c.createdAt),
  updated_at: timestamp(r.c.updatedAt),
  deleted_at: timestamp(r.c.deletedAt),
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function customersRouter(deps: { db: Db }) {
  const { db } = deps;
  const router = Router();
  const program = (res: Response) => res.locals.program as ProgramRules;
  const byKey = async (pid: string, key: string) => {
    const row = await customerByKey(db, pid, key);
    if (!row) throw notFound('customer', key);
    return row;
  };

  async function resolve(table: 'partners' | 'customers', pid: string, ref: z.infer<typeof Ref>, field: string) {
    const t = table === 'partners' ? partners : customers;
    const match = ref.key
      ? eq(t.key, ref.key)
      : ref.id && UUID.test(ref.id)
        ? eq(t.id, ref.id)
        : ref.email
          ? sql`lower(${t.email}) = ${ref.email.toLowerCase()}`
          : ref.id
            ? eq(t.key, ref.id)
            : sql`false`;
    const [row] = await db.select({ id: t.id }).from(t).where(and(eq(t.programId, pid), isNull(t.deletedAt), match)).limit(1);
    if (!row) {
      const what = table === 'partners' ? 'partner' : 'customer';
      throw new ApiError(422, 'unknown_partner', `no ${what} matches ${field}`, { [field]: `no such ${what}` });
    }
    return row.id;
  }

  router.post('/v1/customers', async (req, res) => {
    const p = program(res);
    const body = parse(CreateCustomer, req.body, 'customer');
    let partnerId: string | null = null;
    let referringCustomerId: string | null = null;
    if (p.type === 'affiliate') {
      if (!body.partner) throw new ApiError(422, 'validation_failed', 'a customer of an affiliate program names its partner', { partner: 'required' });
      partnerId = await resolve('partners', p.id, body.partner, 'partner');
    } else if (body.referring_customer) {
      referringCustomerId = await resolve('customers', p.id, body.referring_customer, 'referring_customer');
    }
    try {
      await db.transaction(async (tx) => {
        await tx.insert(customers).values({
          programId: p.id,
          key: body.key,
          email: body.email ?? null,
          name: body.name ?? null,
          surname: body.surname ?? null,
          partnerId,
          referringCustomerId,
        });
        await emit(tx, p.id, [{ event: 'customer.created', entityKey: body.key }]);
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new ApiError(409, 'duplicate_key', `a customer with key "${body.key}" exists`);
      throw err;
    }
    ok(res, customerView(await byKey(p.id, body.key)), 201);
  });

  router.get('/v1/customers', async (req, res) => {
    const q = parseQuery(ListQuery, req.query);
    const pid = program(res).id;
    const visible = and(eq(customers.programId, pid), eq(customers.perPartner, false), isNull(customers.deletedAt));
    const [rows, [counted]] = await Promise.all([
      selectCustomer(db).where(visible).orderBy(asc(customers.createdAt), asc(customers.key)).limit(q.limit).offset((q.page - 1) * q.limit),
      db.select({ n: sql<number>`count(*)::int` }).from(customers).where(visible),
    ]);
    const total = counted?.n ?? 0;
    res.json({
      data: rows.map(customerView),
      meta: { current_page: q.page, last_page: Math.max(1, Math.ceil(total / q.limit)), per_page: q.limit, total },
      status: 1,
    });
  });

  router.get('/v1/customers/:key', async (req, res) => {
    ok(res, customerView(await byKey(program(res).id, String(req.params.key))));
  });

  router.patch('/v1/customers/:key', async (req, res) => {
    const raw = (req.body ?? {}) as Record<string, unknown>;
    if ('partner' in raw || 'referring_customer' in raw) {
      throw new ApiError(422, 'validation_failed', "a customer's partner link is permanent", { partner: 'cannot be changed' });
    }
    const body = parse(CustomerFields, raw, 'customer');
    const pid = program(res).id;
    const row = await byKey(pid, String(req.params.key));
    if (row.c.deletedAt) throw new ApiError(409, 'deleted', `the customer "${row.c.key}" is deleted`);
    const set = Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined));
    await db.transaction(async (tx) => {
      await tx.update(customers).set({ ...set, updatedAt: new Date() }).where(eq(customers.id, row.c.id));
      if (Object.keys(set).length) await emit(tx, pid, [{ event: 'customer.updated', entityKey: row.c.key }]);
    });
    ok(res, customerView(await byKey(pid, String(req.params.key))));
  });

  // A soft delete: the customer and its history stay readable; it is no longer listed or matched.
  router.delete('/v1/customers/:key', async (req, res) => {
    const pid = program(res).id;
    const row = await byKey(pid, String(req.params.key));
    const now = new Date();
    await db.transaction(async (tx) => {
      const [deleted] = await tx
        .update(customers)
        .set({ deletedAt: now, updatedAt: now })
        .where(and(eq(customers.id, row.c.id), isNull(customers.deletedAt)))
        .returning({ key: customers.key });
      if (deleted) await emit(tx, pid, [{ event: 'customer.deleted', entityKey: deleted.key }]);
    });
    ok(res, customerView(await byKey(pid, row.c.key)));
  });
  return router;
}
