// /v1/transactions: create (through the worker's own attribution, commission and persistence),
// list, get, delete, archive and revoke-archive.
import { createHash, randomBytes } from 'node:crypto';
import { Router, type Request, type Response } from 'express';
import { and, eq, isNull } from 'drizzle-orm';
import { z } from 'zod';
import { MoneyError, isCurrencyCode, toMinorOf, unitOrCurrency } from '../../core/money.js';
import { PaymentFact, type PartnerKeyPlace } from '../../core/payment-event.js';
import type { ProgramRules } from '../../core/program.js';
import type { Db } from '../../db/client.js';
import { applyEvents } from '../../db/ledger.js';
import { emit } from '../../db/outbox.js';
import { customers, rewards, transactions } from '../../db/schema.js';
import { listTransactions, transactionByKey, type Cursor } from '../../db/transaction-reads.js';
import { ApiError } from '../errors.js';
import { dateTimeInput, LATEST_DAY, notFound, ok, pagination, parse, parseQuery, queryDate, queryText } from './respond.js';
import { recordClawbacks } from '../../db/clawbacks.js';
import { customerByRef } from '../../db/customer-reads.js';
import { sendPage, UUID } from './list-page.js';
import { partnerByRef, pathRef } from './partners.js';
import { transactionView } from '../../views/transaction.js';

const text = (max = 255) => z.string().trim().min(1).max(max);
const Ref = z
  .object({ key: text().nullish(), id: text().nullish(), email: z.email().nullish() })
  .refine((r) => r.key || r.id || r.email, { message: 'name a key, an id or an email' });
const Amount = z.union([z.number(), text(40)]);

export const CreateTransaction = z.object({
  key: text().nullish(),
  customer: z
    .object({
      key: text().nullish(),
      id: text().nullish(),
      email: z.email().nullish(),
      name: text().nullish(),
      surname: text().nullish(),
      partner: Ref.nullish(),
      referring_customer: Ref.nullish(),
    })
    .refine((c) => c.key || c.id || c.email, { message: 'name the customer by key, id or email' }),
  amount: Amount,
  amount_units: text(32).nullish(),
  action: text(64).nullish(),
  product_id: text().nullish(),
  product_type: text().nullish(),
  options: z.object({ create_customer: z.boolean().nullish() }).nullish(),
  partner: Ref.nullish(),
  rewardable: z.boolean().nullish(),
  created_at: z.union([dateTimeInput(), z.iso.date(), z.number().int().positive()]).nullish(),
  gross_amount: Amount.nullish(),
  discount_amount: Amount.nullish(),
  discount_code: text().nullish(),
});
export type CreateTransaction = z.infer<typeof CreateTransaction>;

const MAX_BIGINT = 9_223_372_036_854_775_807n;
/** The last microsecond of LATEST_DAY since the epoch: the latest created_at a cursor can name. */
const MAX_CURSOR_MICROS = BigInt(Date.parse(`${LATEST_DAY}T23:59:59.999Z`)) * 1000n + 999n;
const CURSOR = /^(\d{1,20})\.(\d{1,20})$/;

/** `<created_at in microseconds>.<id>`, as links.next writes it; null unless both fit the columns. */
export function parseCursor(value: string): Cursor | null {
  const m = CURSOR.exec(value);
  if (!m) return null;
  const cursor = { createdAtMicros: BigInt(m[1]!), id: BigInt(m[2]!) };
  return cursor.createdAtMicros <= MAX_CURSOR_MICROS && cursor.id <= MAX_BIGINT ? cursor : null;
}

export const ListQuery = z.object({
  ...pagination(),
  sort: z.enum(['asc', 'desc']).default('desc'),
  key: queryText().optional(),
  customer: queryText().optional(),
  partner_key: queryText().optional(),
  partner_email: queryText().optional(),
  status: z.enum(['active', 'deleted', 'archived', 'all']).default('active'),
  date_after: queryDate().optional(),
  // the bound is the day after it, which must exist too
  date_before: queryDate('9999-12-30').optional(),
  cursor: z
    .string()
    .regex(CURSOR, 'a cursor from a links.next URL')
    .refine((c) => parseCursor(c) !== null, 'a cursor from a links.next URL')
    .meta({ description: "from links.next: the last row's created_at in microseconds since the epoch, then its id" })
    .optional(),
});

/** A stable fingerprint of a create request: the same body under the same key is the same request. */
function fingerprint(body: CreateTransaction): string {
  const canonical = (v: unknown): unknown =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>)
            .filter(([, x]) => x !== null && x !== undefined)
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([k, x]) => [k, canonical(x)]),
        )
      : v;
  return createHash('sha256').update(JSON.stringify(canonical(body))).digest('hex');
}

function amountMinor(value: string | number, units: string, isCurrency: boolean, field: string): bigint {
  try {
    const minor = toMinorOf(value, unitOrCurrency(units, isCurrency));
    if (minor < 0n) throw new MoneyError('invalid_amount', 'must not be negative');
    return minor;
  } catch (err) {
    if (err instanceof MoneyError) throw new ApiError(422, 'validation_failed', `${field}: ${err.message}`, { [field]: err.message });
    throw err;
  }
}

/** The key of the live partner a request names (by key, id or email), or null. */
async function partnerKeyOf(db: Db, programId: string, ref: z.infer<typeof Ref>) {
  const row = await partnerByRef(db, programId, ref);
  return row && !row.deletedAt ? row.key : null;
}

/** The key of the live customer a request names (by key, id or email), or null. */
async function customerKeyOf(db: Db, programId: string, ref: z.infer<typeof Ref>) {
  const row = await customerByRef(db, programId, ref);
  return row && !row.c.deletedAt && !row.c.perPartner ? row.c.key : null;
}

/**
 * `customer: {id}`: the id every read returns (a uuid) names that customer, whose key the ledger
 * matches; an id that is no customer's id is taken as a key, as it always was.
 */
async function customerKeyById(db: Db, programId: string, id: string): Promise<string> {
  if (!UUID.test(id)) return id;
  const [row] = await db.select({ key: customers.key }).from(customers).where(and(eq(customers.programId, programId), eq(customers.id, id)));
  return row?.key ?? id;
}

/** Who the request credits: the partner (or referring customer) it names, checked to exist. */
async function referrerKey(db: Db, program: ProgramRules, body: CreateTransaction) {
  const named: [z.infer<typeof Ref> | null | undefined, PartnerKeyPlace, string][] =
    program.type === 'refer_a_friend'
      ? [[body.customer.referring_customer, 'api_customer_partner', 'customer.referring_customer']]
      : [
          [body.partner, 'api_partner', 'partner'],
          [body.customer.partner, 'api_customer_partner', 'customer.partner'],
        ];
  // a partner key no partner has falls back (Partnero: "Partner not found. Falls back to standard
  // customer-based attribution"): to the next partner the request names, else to the ledger with the
  // unknown key, which it notes as ignored and never credits; by id or email it is a 422
  let unknownKey: { value: string; place: PartnerKeyPlace } | undefined;
  for (const [ref, place, field] of named) {
    if (!ref) continue;
    const key =
      program.type === 'refer_a_friend' ? await customerKeyOf(db, program.id, ref) : await partnerKeyOf(db, program.id, ref);
    if (key) return { value: key, place };
    if (program.type === 'affiliate' && ref.key && !ref.id && !ref.email) {
      unknownKey ??= { value: ref.key, place };
      continue;
    }
    const what = program.type === 'refer_a_friend' ? 'customer' : 'partner';
    throw new ApiError(422, 'unknown_partner', `no ${what} matches ${field}`, { [field]: `no such ${what}` });
  }
  return unknownKey;
}

function createdAt(value: CreateTransaction['created_at'], now: Date): Date {
  if (value === null || value === undefined) return now;
  const d = typeof value === 'number' ? new Date(value * 1000) : new Date(value);
  if (d.getTime() > now.getTime() + 60_000) {
    throw new ApiError(422, 'validation_failed', 'created_at must not be in the future', { created_at: 'must not be in the future' });
  }
  return d;
}

/**
 * Create a transaction from a request body, through the ledger the worker uses. The same body under
 * the same key is the same request (returned, not repeated); a different one is a 409.
 */
export async function createTransaction(
  db: Db,
  p: ProgramRules,
  raw: unknown,
  opts: { eventType: string; holdForReview?: boolean; fromBrowser?: boolean },
): Promise<{ key: string; created: boolean }> {
  const body = parse(CreateTransaction, raw, 'transaction');
  const hash = fingerprint(body);
  // a browser's keys live apart (js_…): named after a real payment's id (a Stripe PaymentIntent's is in
  // the page), a browser's sale would otherwise take over that payment when its webhook arrives
  const key = body.key ? (opts.fromBrowser ? `js_${body.key}` : body.key) : `${opts.fromBrowser ? 'js' : 'txn'}_${randomBytes(12).toString('hex')}`;

  const existing = async () => {
    const [row] = await db
      .select({ details: transactions.details })
      .from(transactions)
      .where(and(eq(transactions.programId, p.id), eq(transactions.key, key)));
    if (!row) return false;
    if ((row.details as { request_hash?: string }).request_hash !== hash) {
      throw new ApiError(409, 'duplicate_key', `a different transaction with key "${key}" exists (keys are unique and never reused)`);
    }
    return true;
  };
  if (await existing()) return { key, created: false };

  const units = body.amount_units ?? p.currency;
  const isCurrency = isCurrencyCode(units);
  const currency = isCurrency ? units.toUpperCase() : units;
  const now = new Date();
  const details: Record<string, string | number | boolean | null> = { request_hash: hash };
  for (const field of ['gross_amount', 'discount_amount'] as const) {
    const value = body[field];
    if (value === null || value === undefined) continue;
    amountMinor(value, currency, isCurrency, field); // validated like the amount itself
    details[field] = Number(value);
  }
  if (body.discount_code) details.discount_code = body.discount_code;

  const fact = PaymentFact.parse({
    kind: 'payment',
    gateway: 'api',
    eventId: `api-${key}`,
    eventType: opts.eventType,
    occurredAt: createdAt(body.created_at, now).toISOString(),
    transactionKey: key,
    amount: { minor: amountMinor(body.amount, currency, isCurrency, 'amount').toString(), currency, isCurrency },
    action: body.action ?? 'sale',
    customer: {
      key: body.customer.key ?? (body.customer.id ? await customerKeyById(db, p.id, body.customer.id) : undefined),
      email: body.customer.email ?? undefined,
      name: body.customer.name ?? undefined,
      surname: body.customer.surname ?? undefined,
    },
    createCustomer: body.options?.create_customer ?? false,
    rewardable: body.rewardable ?? true,
    holdForReview: opts.holdForReview ?? false,
    fromBrowser: opts.fromBrowser ?? false,
    product: body.product_id || body.product_type ? { id: body.product_id ?? undefined, type: body.product_type ?? undefined } : undefined,
    partnerKey: await referrerKey(db, p, body),
    details,
  });
  const [outcome] = await applyEvents(db, p, [fact], { now });
  if (outcome?.kind === 'payment' && outcome.result === 'merged') {
    // the same key landed meanwhile (a concurrent retry): same body → that one, else a conflict
    await existing();
    return { key, created: false };
  }
  return { key, created: true };
}

export function transactionsRouter(deps: { db: Db }) {
  const { db } = deps;
  const router = Router();
  const program = (res: Response) => res.locals.program as ProgramRules;

  async function respondWith(res: Response, key: string, httpStatus = 200) {
    const t = await transactionByKey(db, program(res).id, key);
    if (!t) throw notFound('transaction', key);
    ok(res, transactionView(t, program(res).type), httpStatus);
  }

  router.post('/v1/transactions', async (req: Request, res: Response) => {
    const { key, created } = await createTransaction(db, program(res), req.body, { eventType: 'api.transactions.create' });
    return respondWith(res, key, created ? 201 : 200);
  });

  /** A page of transactions; `customerKey` set: only that customer's (GET /v1/customers/{key}/transactions). */
  async function sendList(req: Request, res: Response, customerKey?: string) {
    const p = program(res);
    const q = parseQuery(ListQuery, req.query, { 'customer.key': 'customer', 'partner.key': 'partner_key' });
    const cursor = q.cursor ? (parseCursor(q.cursor) ?? undefined) : undefined;
    const dayAfter = (d: string) => new Date(Date.parse(`${d}T00:00:00Z`) + 86_400_000);
    const { rows, total, hasMore } = await listTransactions(
      db,
      p.id,
      {
        key: q.key,
        customer: customerKey ?? q.customer,
        partnerKey: q.partner_key,
        partnerEmail: q.partner_email,
        status: q.status,
        dateAfter: q.date_after ? new Date(`${q.date_after}T00:00:00Z`) : undefined,
        dateBefore: q.date_before ? dayAfter(q.date_before) : undefined,
      },
      { limit: q.limit, offset: (q.page - 1) * q.limit, cursor, sort: q.sort },
    );
    const last = rows.at(-1);
    // a keyset cursor in links.next: the next page is read through the index, however deep
    sendPage(req, res, {
      data: rows.map((t) => transactionView(t, p.type)),
      total,
      limit: q.limit,
      page: q.page,
      cursor: q.cursor,
      hasMore,
      last: last && { micros: String(last.createdAtMicros), id: String(last.id) },
    });
  }
  router.get('/v1/transactions', (req: Request, res: Response) => sendList(req, res));

  // a customer's transactions (n8n's Get Transactions), the customer named by key, id or email
  router.get('/v1/customers/:key/transactions', async (req: Request, res: Response) => {
    const said = String(req.params.key);
    const customer = await customerByRef(db, program(res).id, pathRef(said));
    if (!customer) throw new ApiError(404, 'not_found', `no customer with key, id or email "${said}"`);
    await sendList(req, res, customer.c.key);
  });

  router.get('/v1/transactions/:key', async (req: Request, res: Response) => {
    await respondWith(res, String(req.params.key));
  });

  async function remove(req: Request, res: Response, key: string) {
    const p = program(res);
    const now = new Date();
    await db.transaction(async (tx) => {
      const [t] = await tx
        .update(transactions)
        .set({ deletedAt: now, deletedReason: 'deleted_via_api', updatedAt: now })
        .where(and(eq(transactions.programId, p.id), eq(transactions.key, key), isNull(transactions.deletedAt)))
        .returning({ id: transactions.id });
      if (!t) return;
      const gone = await tx
        .update(rewards)
        .set({ deletedAt: now, deletedReason: 'deleted_via_api', updatedAt: now })
        .where(and(eq(rewards.transactionId, t.id), isNull(rewards.deletedAt)))
        .returning({ id: rewards.id });
      // a reward already in an approved or paid payout: the partner owes it back
      await recordClawbacks(tx, gone.map((g) => g.id.toString()));
      await emit(tx, p.id, [{ event: 'transaction.deleted', entityKey: key, detail: { reason: 'deleted_via_api' } }]);
    });
    await respondWith(res, key);
  }
  router.delete('/v1/transactions/:key', (req, res) => remove(req, res, String(req.params.key)));
  // Partnero's older form: DELETE /v1/transactions with { "key": ... }
  router.delete('/v1/transactions', (req, res) => remove(req, res, parse(z.object({ key: text() }), req.body).key));

  for (const [path, archived] of [
    ['archive', true],
    ['revoke-archive', false],
  ] as const) {
    router.post(`/v1/transactions/:key/${path}`, async (req: Request, res: Response) => {
      const p = program(res);
      const key = String(req.params.key);
      const now = new Date();
      await db.transaction(async (tx) => {
        const [t] = await tx
          .update(transactions)
          .set({ archivedAt: archived ? now : null, updatedAt: now })
          .where(and(eq(transactions.programId, p.id), eq(transactions.key, key), isNull(transactions.deletedAt)))
          .returning({ id: transactions.id });
        if (!t) throw notFound('transaction', key);
        await tx
          .update(rewards)
          .set({ archivedAt: archived ? now : null, updatedAt: now })
          .where(and(eq(rewards.transactionId, t.id), isNull(rewards.deletedAt)));
      });
      await respondWith(res, key);
    });
  }
  return router;
}
