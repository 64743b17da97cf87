// /v1/customers: the payers. In affiliate programs each is linked to a partner, for good; in
// refer-a-friend programs to the customer who referred them. Besides the REST paths, the forms
// Partnero's clients use: GET /v1/customers:search, PUT with the key in the body and the changes under
// `update`, the PHP SDK's older /v1/customer, and every /{key} path taking the id or email as well.
import { Router, type Request, type Response } from 'express';
import { and, eq, ilike, isNotNull, isNull, or, sql, type SQL } from 'drizzle-orm';
import { z } from 'zod';
import type { ProgramRules } from '../../core/program.js';
import type { Db } from '../../db/client.js';
import { emit } from '../../db/outbox.js';
import { customers, partners } from '../../db/schema.js';
import { ApiError } from '../errors.js';
import { customerByKey, customerByRef, selectCustomer, type CustomerRow } from '../../db/customer-reads.js';
import { customerView } from '../../views/customer.js';
import { containing, listParams, sendRowPage, UUID } from './list-page.js';
import { bodyRef, isUniqueViolation, partnerByRef, pathRef } from './partners.js';
import { ok, parse, parseQuery, queryText } from './respond.js';

const text = (max = 255) => z.string().trim().min(1).max(max);
const Ref = z
  .object({ key: text().nullish(), id: text().nullish(), email: z.email().nullish() })
  .refine((r) => r.key || r.id || r.email, { message: 'name a key, an id or an email' });
export const CustomerFields = z.object({ email: z.email().nullish(), name: text().nullish(), surname: text().nullish() });
const CustomerKey = text().regex(/^[^/?#\s]+$/, 'no spaces, slashes, ? or #');
export const CreateCustomer = CustomerFields.extend({
  key: CustomerKey,
  partner: Ref.nullish(),
  referring_customer: Ref.nullish(),
  /** Partnero's create-with-a-sale: the customer's first transaction, recorded with it. */
  transaction: z.record(z.string(), z.unknown()).nullish(),
});
export const UpdateCustomer = CustomerFields.extend({ key: CustomerKey.nullish() });
const CustomerLookup = z
  .object({ key: queryText().optional(), email: queryText().optional(), id: queryText().optional() })
  .refine((r) => r.key || r.email || r.id, { message: 'name the customer by key, email or id', path: ['key'] });
export const ListQuery = z.object({
  ...listParams(),
  key: queryText().optional(),
  email: queryText().optional(),
  partner_key: queryText().optional(),
  partner_email: queryText().optional(),
  partner_id: queryText().optional(),
  status: z.enum(['active', 'archived', 'deleted', 'all']).default('active'),
});
/** Other names of the list's parameters: the PHP SDK sends `partner: {key | email}` in a GET body. */
export const LIST_ALIASES = { 'partner.key': 'partner_key', 'partner.email': 'partner_email', 'partner.id': 'partner_id' } as const;
export const SearchQuery = z.object({
  ...listParams(),
  key: queryText().optional(),
  id: queryText().optional(),
  email: queryText().optional(),
  name: queryText().optional(),
});


export function customersRouter(deps: {
  db: Db;
  /** Records a customer's first sale (POST /v1/customers with `transaction`): the transactions module's create. */
  createTransaction?: (p: ProgramRules, body: unknown) => Promise<unknown>;
}) {
  const { db } = deps;
  const router = Router();
  const program = (res: Response) => res.locals.program as ProgramRules;
  const find = async (pid: string, ref: { key?: string | null; id?: string | null; email?: string | null }, said: string) => {
    const row = await customerByRef(db, pid, ref);
    if (!row) throw new ApiError(404, 'not_found', `no customer with key, id or email "${said}"`);
    return row;
  };
  const byPath = (req: Request, res: Response) => find(program(res).id, pathRef(String(req.params.key)), String(req.params.key));
  const lookup = (req: Request, res: Response) => {
    const q = parseQuery(CustomerLookup, req.method === 'PUT' ? { ...bodyRef(req.body), ...req.query } : req.query);
    return find(program(res).id, q, (q.key ?? q.email ?? q.id)!);
  };

  /** The partner or referring customer a request names; unknown is a 422 naming the field. */
  async function resolve(table: 'partners' | 'customers', pid: string, ref: z.infer<typeof Ref>, field: string) {
    const live = <T extends { id: string; deletedAt: Date | null }>(row: T | null) => (row && !row.deletedAt ? row : null);
    const found = table === 'partners' ? live(await partnerByRef(db, pid, ref)) : live((await customerByRef(db, pid, ref))?.c ?? null);
    if (!found) {
      const what = table === 'partners' ? 'partner' : 'customer';
      throw new ApiError(422, 'unknown_partner', `no ${what} matches ${field}`, { [field]: `no such ${what}` });
    }
    return found.id;
  }

  async function create(res: Response, raw: unknown) {
    const p = program(res);
    const body = parse(CreateCustomer, raw, 'customer');
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
    if (body.transaction && deps.createTransaction) await deps.createTransaction(p, { ...body.transaction, customer: { key: body.key } });
    ok(res, customerView((await customerByKey(db, p.id, body.key))!), 201);
  }

  async function update(res: Response, row: CustomerRow, raw: unknown) {
    const given = (raw ?? {}) as Record<string, unknown>;
    const changes = (given.update && typeof given.update === 'object' ? given.update : given) as Record<string, unknown>;
    const { partner: partnerRef, referring_customer: referringRef, ...rest } = changes;
    const body = parse(UpdateCustomer, rest, 'customer');
    const pid = program(res).id;
    if (row.c.deletedAt) throw new ApiError(409, 'deleted', `the customer "${row.c.key}" is deleted`);
    const set: Record<string, unknown> = Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined));
    // a customer linked to nobody may be linked once (its payments came before its partner existed);
    // a link, once made, is never moved
    const field = program(res).type === 'affiliate' ? 'partner' : 'referring_customer';
    const named = field === 'partner' ? partnerRef : referringRef;
    if ((field === 'partner' ? referringRef : partnerRef) !== undefined && (field === 'partner' ? referringRef : partnerRef) !== null) {
      throw new ApiError(422, 'validation_failed', `a customer of this program has no ${field === 'partner' ? 'referring_customer' : 'partner'}`, {
        [field === 'partner' ? 'referring_customer' : 'partner']: 'not in this program type',
      });
    }
    let linking = false;
    if (named !== undefined && named !== null && named !== '') {
      const ref = parse(Ref, named, field);
      const id = await resolve(field === 'partner' ? 'partners' : 'customers', pid, ref, field);
      const current = field === 'partner' ? row.c.partnerId : row.c.referringCustomerId;
      if (current !== id && (row.c.partnerId || row.c.referringCustomerId)) {
        throw new ApiError(422, 'validation_failed', "a customer's partner link is permanent", { [field]: 'cannot be changed once set' });
      }
      if (current !== id) {
        set[field === 'partner' ? 'partnerId' : 'referringCustomerId'] = id;
        linking = true;
      }
    }
    try {
      await db.transaction(async (tx) => {
        const updated = await tx
          .update(customers)
          .set({ ...set, updatedAt: new Date() })
          .where(linking ? and(eq(customers.id, row.c.id), isNull(customers.partnerId), isNull(customers.referringCustomerId)) : eq(customers.id, row.c.id))
          .returning({ id: customers.id });
        // linked meanwhile by a payment: the link stands
        if (linking && !updated.length) throw new ApiError(409, 'already_linked', `the customer "${row.c.key}" was linked meanwhile`);
        if (Object.keys(set).length) await emit(tx, pid, [{ event: 'customer.updated', entityKey: body.key ?? row.c.key }]);
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new ApiError(409, 'duplicate_key', `a customer with key "${body.key}" exists`);
      throw err;
    }
    ok(res, customerView((await customerByKey(db, pid, body.key ?? row.c.key))!));
  }

  // A soft delete: the customer and its history stay readable; it is no longer listed or matched.
  async function remove(res: Response, row: CustomerRow) {
    const pid = program(res).id;
    const now = new Date();
    await db.transaction(async (tx) => {
      const [deleted] = await tx
        .update(customers)
        .set({ deletedAt: now, updatedAt: now })
        .where(and(eq(customers.id, row.c.id), isNull(customers.deletedAt)))
        .returning({ key: customers.key });
      if (deleted) await emit(tx, pid, [{ event: 'customer.deleted', entityKey: deleted.key }]);
    });
    ok(res, customerView((await customerByKey(db, pid, row.c.key))!));
  }

  async function list(req: Request, res: Response, where: (SQL | undefined)[], q: { limit: number; page: number; sort: 'asc' | 'desc'; cursor?: string }) {
    const pid = program(res).id;
    const listed = and(eq(customers.programId, pid), ...where);
    await sendRowPage(req, res, q, {
      db,
      table: customers,
      createdAt: customers.createdAt,
      id: customers.id,
      listed,
      rows: (where, orderBy, limit, offset) =>
        selectCustomer(db)
          .where(where)
          .orderBy(...orderBy)
          .limit(limit)
          .offset(offset),
      idOf: (r) => r.c.id,
      data: (served) => served.map(customerView),
    });
  }

  /** Customers of the partner a list names (by key, email or id); a partner that does not exist has none. */
  const ofPartner = (q: { partner_key?: string; partner_email?: string; partner_id?: string }): SQL | undefined => {
    const conditions = [
      q.partner_key ? sql`${partners.key} = ${q.partner_key}` : undefined,
      q.partner_email ? sql`lower(${partners.email}) = ${q.partner_email.toLowerCase()}` : undefined,
      q.partner_id ? (UUID.test(q.partner_id) ? eq(customers.partnerId, q.partner_id) : sql`false`) : undefined,
    ].filter((c) => c !== undefined);
    if (!conditions.length) return undefined;
    return sql`${customers.partnerId} in (select ${partners.id} from ${partners} where ${partners.programId} = ${customers.programId} and ${and(...conditions)})`;
  };

  router.post('/v1/customers', (req, res) => create(res, req.body));
  // the PHP SDK's older Customer endpoint: { customer, partner, transaction? }
  router.post('/v1/customer', (req, res) => {
    const b = (req.body ?? {}) as Record<string, unknown>;
    const inner = b.customer && typeof b.customer === 'object' ? (b.customer as Record<string, unknown>) : {};
    return create(res, { ...inner, partner: b.partner, transaction: b.transaction });
  });

  router.get('/v1/customers', async (req, res) => {
    const q = parseQuery(ListQuery, req.query, LIST_ALIASES);
    const status = {
      active: and(isNull(customers.deletedAt), isNull(customers.archivedAt)),
      archived: and(isNull(customers.deletedAt), isNotNull(customers.archivedAt)),
      deleted: isNotNull(customers.deletedAt),
      all: undefined,
    }[q.status];
    await list(req, res, [
      status,
      // per-partner records (`{key}__pkey_{partner}`) are listed under their partner, and by the key the
      // merchant knows them by; otherwise they are left out, as before
      q.partner_key || q.partner_email || q.partner_id ? ofPartner(q) : q.key ? undefined : eq(customers.perPartner, false),
      // a per-partner record answers to its customer's key (`{key}__pkey_…`) and to its gateway customer
      // id (`stripe_cus_123__pkey_…` to `cus_123`)
      q.key
        ? or(
            eq(customers.key, q.key),
            and(eq(customers.perPartner, true), or(sql`${customers.key} like ${`${q.key.replace(/[\\%_]/g, (c) => `\\${c}`)}\\_\\_pkey\\_%`}`, eq(customers.gatewayCustomerId, q.key))),
          )
        : undefined,
      q.email ? sql`lower(${customers.email}) = ${q.email.toLowerCase()}` : undefined,
    ], q);
  });

  // Partnero's search: each given field matches partially (an id exactly), deleted customers left out
  router.get('/v1/customers\\:search', async (req, res) => {
    const q = parseQuery(SearchQuery, req.query);
    const fullName = sql`coalesce(${customers.name}, '') || ' ' || coalesce(${customers.surname}, '')`;
    await list(req, res, [
      isNull(customers.deletedAt),
      q.key ? ilike(customers.key, containing(q.key)) : undefined,
      q.id ? (UUID.test(q.id) ? eq(customers.id, q.id) : sql`false`) : undefined,
      q.email ? ilike(customers.email, containing(q.email)) : undefined,
      q.name ? ilike(fullName, containing(q.name)) : undefined,
    ], q);
  });

  router.get('/v1/customer', async (req, res) => ok(res, customerView(await lookup(req, res))));
  router.put('/v1/customers', async (req, res) => update(res, await lookup(req, res), req.body));
  router.put('/v1/customer', async (req, res) => update(res, await lookup(req, res), req.body));
  router.delete('/v1/customers', async (req, res) => remove(res, await lookup(req, res)));
  router.delete('/v1/customer', async (req, res) => remove(res, await lookup(req, res)));

  router.get('/v1/customers/:key', async (req, res) => ok(res, customerView(await byPath(req, res))));
  router.patch('/v1/customers/:key', async (req, res) => update(res, await byPath(req, res), req.body));
  router.put('/v1/customers/:key', async (req, res) => update(res, await byPath(req, res), req.body));
  router.delete('/v1/customers/:key', async (req, res) => remove(res, await byPath(req, res)));

  for (const [path, archived] of [
    ['archive', true],
    ['revoke-archive', false],
  ] as const) {
    router.post(`/v1/customers/:key/${path}`, async (req, res) => {
      const row = await byPath(req, res);
      if (row.c.deletedAt) throw new ApiError(409, 'deleted', `the customer "${row.c.key}" is deleted`);
      const pid = program(res).id;
      const now = new Date();
      await db.transaction(async (tx) => {
        const [u] = await tx
          .update(customers)
          .set({ archivedAt: archived ? now : null, updatedAt: now })
          .where(and(eq(customers.id, row.c.id), archived ? isNull(customers.archivedAt) : isNotNull(customers.archivedAt)))
          .returning({ key: customers.key });
        if (u) await emit(tx, pid, [{ event: archived ? 'customer.archived' : 'customer.updated', entityKey: u.key }]);
      });
      ok(res, customerView((await customerByKey(db, pid, row.c.key))!));
    });
  }
  return router;
}
