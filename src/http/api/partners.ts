// /v1/partners: the people who earn commissions in affiliate programs. Besides the REST paths, the
// forms Partnero's clients use: GET /v1/partner?key=|email=|id=, GET /v1/partners:search, PUT with the
// key in the body and the changes under `update`, DELETE /v1/partners with key or email in the body.
// Every /{key} path also takes the partner's id (n8n sends the id there) or its email.
import { randomBytes } from 'node:crypto';
import { Router, type Request, type Response } from 'express';
import { and, asc, eq, ilike, isNotNull, isNull, or, sql, type SQL } from 'drizzle-orm';
import { z } from 'zod';
import type { ProgramRules } from '../../core/program.js';
import type { Db } from '../../db/client.js';
import { partnerBalances } from '../../db/balances.js';
import { emit } from '../../db/outbox.js';
import { partners } from '../../db/schema.js';
import { partnerView } from '../../views/partner.js';
import { balancesView } from '../../views/balance.js';
import { ApiError } from '../errors.js';
import { MoneyError, decimalText, isCurrencyCode, minorToDecimal, toMinorOf, unitOrCurrency } from '../../core/money.js';
import { addManualReward, listPartnerRewards, partnerEarnings } from '../../db/partner-rewards.js';
import { earningsView, rewardView } from '../../views/reward.js';
import { pendingAttribution, reattributePartner } from '../../db/reattribute.js';
import { rewardTotals } from '../../core/reattribute.js';
import { reattributionView } from '../../views/reattribution.js';
import { containing, listParams, micros, sendPage, sendRowPage, UUID } from './list-page.js';
import { dateTimeInput, ok, pagination, parse, parseQuery, queryText } from './respond.js';
import { parseCursor } from './transactions.js';

const text = (max = 255) => z.string().trim().min(1).max(max);
/** Tags as a list, or as n8n's comma-separated text; each trimmed, blanks dropped, at most 50. */
export const Tags = z
  .union([z.array(z.string().max(64)), z.string().max(4096)])
  .transform((v) => [...new Set((Array.isArray(v) ? v : v.split(',')).map((t) => t.trim()).filter(Boolean))])
  .pipe(z.array(z.string().max(64)).max(50));
const PartnerKey = text().regex(/^[^/?#\s]+$/, 'no spaces, slashes, ? or #');
export const PartnerFields = z.object({
  email: z.email().nullish(),
  name: text().nullish(),
  surname: text().nullish(),
  referral_code: text(64).nullish(),
  tags: Tags.nullish(),
  /** Partnero's portal password: there is no partner portal here, so it is accepted and not kept. */
  password: z.string().max(255).nullish(),
});
export const CreatePartner = PartnerFields.extend({ key: PartnerKey.nullish() });
/** Changes: the fields, and a new key (Partnero's update may rename it). */
export const UpdatePartner = PartnerFields.extend({ key: PartnerKey.nullish() });
/** Who a request names by body or query: Partnero's `key`, `email` or `id`. */
export const PartnerLookup = z
  .object({ key: queryText().optional(), email: queryText().optional(), id: queryText().optional() })
  .refine((r) => r.key || r.email || r.id, { message: 'name the partner by key, email or id', path: ['key'] });
export const ListQuery = z.object({
  ...listParams(),
  key: queryText().optional(),
  email: queryText().optional(),
  tag: queryText(64).optional(),
  status: z.enum(['active', 'archived', 'deleted', 'all']).default('active'),
});
export const SearchQuery = z.object({
  ...listParams(),
  key: queryText().optional(),
  id: queryText().optional(),
  email: queryText().optional(),
  name: queryText().optional(),
});

/**
 * A manual reward, as n8n's Add Reward sends it (`amount`, and `date`, `note` when filled in): a bonus
 * in the program's currency unless `currency` (or Partnero's `amount_units`) names another.
 */
export const ManualRewardBody = z.object({
  amount: z.union([z.number(), text(40)]),
  currency: text(32).nullish(),
  amount_units: text(32).nullish(),
  date: z.union([dateTimeInput(), z.iso.date(), z.number().int().positive()]).nullish(),
  note: z.string().trim().max(1000).nullish(),
});
/** POST /v1/partners/{key}/reattribute: the payments made from `from` on (default: all); `dry_run` lists them only. */
export const ReattributeBody = z.object({
  from: z.union([dateTimeInput(), z.iso.date()]).nullish(),
  dry_run: z.boolean().nullish(),
});
export const RewardsQuery = z.object({
  ...pagination(),
  cursor: z
    .string()
    .refine((c) => parseCursor(c) !== null, 'a cursor from a links.next URL')
    .meta({ description: "from links.next: the last row's created_at in microseconds since the epoch, then its id" })
    .optional(),
});

type PartnerRow = typeof partners.$inferSelect;


const isUniqueViolation = (err: unknown) => (err as { cause?: { code?: string }; code?: string }).code === '23505' || (err as { cause?: { code?: string } }).cause?.code === '23505';

/** A partner of a program by what a path segment holds: its key, else its id, else its email. */
export async function partnerByRef(db: Db, programId: string, ref: { key?: string | null; id?: string | null; email?: string | null }): Promise<PartnerRow | null> {
  const inProgram = eq(partners.programId, programId);
  const tries: SQL[] = [];
  if (ref.key) tries.push(eq(partners.key, ref.key));
  if (ref.id) tries.push(UUID.test(ref.id) ? eq(partners.id, ref.id) : eq(partners.key, ref.id));
  if (ref.email) tries.push(sql`lower(${partners.email}) = ${ref.email.toLowerCase()}`);
  for (const match of tries) {
    // a live partner before a deleted one with the same email
    const [row] = await db.select().from(partners).where(and(inProgram, match)).orderBy(sql`${partners.deletedAt} is not null`, asc(partners.createdAt)).limit(1);
    if (row) return row;
  }
  return null;
}

/** The key, email and id a body names (strings only: anything else is left to the validation). */
export function bodyRef(body: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!body || typeof body !== 'object') return out;
  for (const name of ['key', 'email', 'id'] as const) {
    const v = (body as Record<string, unknown>)[name];
    if (typeof v === 'string' && v !== '') out[name] = v;
  }
  return out;
}

/** A path segment as Partnero's clients fill it: a key, an id (n8n) or an email. */
export const pathRef = (value: string) => ({ key: value, id: UUID.test(value) ? value : null, email: value.includes('@') ? value : null });

export function partnersRouter(deps: { db: Db }) {
  const { db } = deps;
  const router = Router();
  const programId = (res: Response) => (res.locals.program as ProgramRules).id;
  const find = async (pid: string, ref: { key?: string | null; id?: string | null; email?: string | null }, said: string) => {
    const row = await partnerByRef(db, pid, ref);
    if (!row) throw new ApiError(404, 'not_found', `no partner with key, id or email "${said}"`);
    return row;
  };
  /** A partner as a read shows it: with its balance per currency, and the payments waiting for it. */
  const withBalance = async (row: PartnerRow, res: Response) => {
    const [balances, pending] = await Promise.all([partnerBalances(db, row.programId, [row.id]), pendingOf(row, res.locals.program as ProgramRules)]);
    return { ...partnerView(row), balance: balancesView(balances.get(row.id) ?? []), pending_attribution: pending };
  };
  /** Payments that named this partner before it existed, booked to nobody: `reattribute` credits them. */
  const pendingOf = (row: PartnerRow, program: ProgramRules) => (row.deletedAt ? Promise.resolve(0) : pendingAttribution(db, program, row));
  const byPath = (req: Request, res: Response) => find(programId(res), pathRef(String(req.params.key)), String(req.params.key));
  // GET and DELETE read the body into the query already (bodyParams); a PUT names the partner in its body
  const lookup = (req: Request, res: Response) => {
    const q = parseQuery(PartnerLookup, req.method === 'PUT' ? { ...bodyRef(req.body), ...req.query } : req.query);
    return find(programId(res), q, (q.key ?? q.email ?? q.id)!);
  };

  async function create(req: Request, res: Response) {
    const body = parse(CreatePartner, req.body, 'partner');
    const pid = programId(res);
    try {
      const row = await db.transaction(async (tx) => {
        const [created] = await tx
          .insert(partners)
          .values({
            programId: pid,
            key: body.key ?? randomBytes(6).toString('hex'),
            email: body.email ?? null,
            name: body.name ?? null,
            surname: body.surname ?? null,
            referralCode: body.referral_code ?? null,
            tags: body.tags ?? [],
          })
          .returning();
        await emit(tx, pid, [{ event: 'partner.created', entityKey: created!.key }]);
        return created!;
      });
      ok(res, { ...partnerView(row), pending_attribution: await pendingOf(row, res.locals.program as ProgramRules) }, 201);
    } catch (err) {
      if (isUniqueViolation(err)) throw new ApiError(409, 'duplicate_key', 'a partner with this key or referral code exists');
      throw err;
    }
  }

  /** The changes of a request: flat, or under `update` (Partnero's PUT form). */
  async function update(res: Response, row: PartnerRow, raw: unknown) {
    const given = (raw ?? {}) as Record<string, unknown>;
    const body = parse(UpdatePartner, given.update && typeof given.update === 'object' ? given.update : given, 'partner');
    const pid = programId(res);
    if (row.deletedAt) throw new ApiError(409, 'deleted', `the partner "${row.key}" is deleted`);
    const set = Object.fromEntries(
      Object.entries({ key: body.key, email: body.email, name: body.name, surname: body.surname, referralCode: body.referral_code, tags: body.tags }).filter(([, v]) => v !== undefined),
    );
    try {
      const updated = await db.transaction(async (tx) => {
        const [u] = await tx.update(partners).set({ ...set, updatedAt: new Date() }).where(eq(partners.id, row.id)).returning();
        if (Object.keys(set).length) await emit(tx, pid, [{ event: 'partner.updated', entityKey: u!.key }]);
        return u!;
      });
      ok(res, partnerView(updated));
    } catch (err) {
      if (isUniqueViolation(err)) throw new ApiError(409, 'duplicate_key', 'another partner has this key or referral code');
      throw err;
    }
  }

  // A soft delete: the partner and its history stay readable; it is no longer listed or credited.
  async function remove(res: Response, row: PartnerRow) {
    const pid = programId(res);
    const now = new Date();
    const deleted = await db.transaction(async (tx) => {
      const [d] = await tx
        .update(partners)
        .set({ deletedAt: now, updatedAt: now })
        .where(and(eq(partners.id, row.id), isNull(partners.deletedAt)))
        .returning();
      if (d) await emit(tx, pid, [{ event: 'partner.deleted', entityKey: d.key }]);
      return d;
    });
    ok(res, partnerView(deleted ?? row));
  }

  async function list(req: Request, res: Response, where: (SQL | undefined)[], q: { limit: number; page: number; sort: 'asc' | 'desc'; cursor?: string }) {
    const pid = programId(res);
    const listed = and(eq(partners.programId, pid), ...where);
    await sendRowPage(req, res, q, {
      db,
      table: partners,
      createdAt: partners.createdAt,
      id: partners.id,
      listed,
      rows: (where, orderBy, limit, offset) =>
        db
          .select({ p: partners, micros: micros(partners.createdAt) })
          .from(partners)
          .where(where)
          .orderBy(...orderBy)
          .limit(limit)
          .offset(offset),
      idOf: (r) => r.p.id,
      data: async (served) => {
        // the page's balances in one grouped query
        const balances = await partnerBalances(db, pid, served.map((r) => r.p.id));
        return served.map((r) => ({ ...partnerView(r.p), balance: balancesView(balances.get(r.p.id) ?? []) }));
      },
    });
  }

  router.post('/v1/partners', create);
  router.post('/v1/partner', create); // the PHP SDK's older Partner endpoint

  router.get('/v1/partners', async (req, res) => {
    const q = parseQuery(ListQuery, req.query);
    const status = {
      active: and(isNull(partners.deletedAt), isNull(partners.archivedAt)),
      archived: and(isNull(partners.deletedAt), isNotNull(partners.archivedAt)),
      deleted: isNotNull(partners.deletedAt),
      all: undefined,
    }[q.status];
    await list(req, res, [
      status,
      q.key ? eq(partners.key, q.key) : undefined,
      q.email ? sql`lower(${partners.email}) = ${q.email.toLowerCase()}` : undefined,
      q.tag ? sql`${q.tag} = any(${partners.tags})` : undefined,
    ], q);
  });

  // Partnero's search: each given field matches partially (an id exactly), deleted partners left out
  router.get('/v1/partners\\:search', async (req, res) => {
    const q = parseQuery(SearchQuery, req.query);
    const fullName = sql`coalesce(${partners.name}, '') || ' ' || coalesce(${partners.surname}, '')`;
    await list(req, res, [
      isNull(partners.deletedAt),
      q.key ? ilike(partners.key, containing(q.key)) : undefined,
      q.id ? (UUID.test(q.id) ? eq(partners.id, q.id) : sql`false`) : undefined,
      q.email ? ilike(partners.email, containing(q.email)) : undefined,
      q.name ? or(ilike(fullName, containing(q.name)), ilike(partners.key, containing(q.name))) : undefined,
    ], q);
  });

  // GET /v1/partner?key=|email=|id= (n8n's Get, the PHP SDK's Partner::get): one partner
  router.get('/v1/partner', async (req, res) => ok(res, await withBalance(await lookup(req, res), res)));
  router.put('/v1/partners', async (req, res) => update(res, await lookup(req, res), req.body));
  router.put('/v1/partner', async (req, res) => update(res, await lookup(req, res), req.body));
  router.delete('/v1/partners', async (req, res) => remove(res, await lookup(req, res)));
  router.delete('/v1/partner', async (req, res) => remove(res, await lookup(req, res)));

  router.get('/v1/partners/:key', async (req, res) => ok(res, await withBalance(await byPath(req, res), res)));
  router.patch('/v1/partners/:key', async (req, res) => update(res, await byPath(req, res), req.body));
  router.put('/v1/partners/:key', async (req, res) => update(res, await byPath(req, res), req.body));
  router.delete('/v1/partners/:key', async (req, res) => remove(res, await byPath(req, res)));

  // A manual reward (n8n's Add Reward): counted in the partner's earnings like its commissions.
  router.post('/v1/partners/:key/reward', async (req, res) => {
    const row = await byPath(req, res);
    const body = parse(ManualRewardBody, req.body, 'reward');
    if (row.deletedAt) throw new ApiError(409, 'deleted', `the partner "${row.key}" is deleted`);
    const p = res.locals.program as ProgramRules;
    if (body.currency && !isCurrencyCode(body.currency)) {
      throw new ApiError(422, 'validation_failed', 'currency: not an ISO 4217 currency code', { currency: 'not an ISO 4217 currency code (amount_units names a unit such as points)' });
    }
    const named = body.currency ?? body.amount_units;
    const isCurrency = named ? isCurrencyCode(named) : p.isCurrency;
    const units = named ? (isCurrency ? named.toUpperCase() : named) : p.currency;
    let amount: string;
    try {
      const cur = unitOrCurrency(units, isCurrency);
      const minor = toMinorOf(body.amount, cur);
      if (minor <= 0n) throw new MoneyError('invalid_amount', 'must be more than zero');
      amount = decimalText(minorToDecimal(minor, cur));
    } catch (err) {
      if (!(err instanceof MoneyError)) throw err;
      throw new ApiError(422, 'validation_failed', `amount: ${err.message}`, { amount: err.message });
    }
    const now = new Date();
    const at = body.date === null || body.date === undefined ? now : new Date(typeof body.date === 'number' ? body.date * 1000 : body.date);
    if (at.getTime() > now.getTime() + 60_000) {
      throw new ApiError(422, 'validation_failed', 'date must not be in the future', { date: 'must not be in the future' });
    }
    const reward = await addManualReward(db, {
      programId: p.id,
      partnerId: row.id,
      amount,
      units,
      isCurrency,
      createdAt: at,
      note: body.note ?? null,
      key: `rw_manual_${randomBytes(9).toString('hex')}`,
    });
    ok(res, rewardView(reward, row.key), 201);
  });

  // Every reward of a partner, commissions and manual ones, newest first; and their sums by unit.
  router.get('/v1/partners/:key/rewards', async (req, res) => {
    const row = await byPath(req, res);
    const q = parseQuery(RewardsQuery, req.query);
    const cursor = q.cursor ? (parseCursor(q.cursor) ?? undefined) : undefined;
    const { rows, total, hasMore } = await listPartnerRewards(db, programId(res), row.id, { limit: q.limit, offset: (q.page - 1) * q.limit, cursor });
    const last = rows.at(-1);
    sendPage(req, res, {
      data: rows.map((r) => rewardView(r, row.key)),
      total,
      limit: q.limit,
      page: q.page,
      cursor: q.cursor,
      hasMore,
      last: last && { micros: last.micros, id: String(last.id) },
    });
  });
  router.get('/v1/partners/:key/earnings', async (req, res) => {
    const row = await byPath(req, res);
    ok(res, { partner: row.key, earnings: (await partnerEarnings(db, programId(res), row.id)).map(earningsView) });
  });

  // Payments that named this partner while it did not exist, booked to nobody, credited now as a payment
  // booked today would be (lifetime, holds and caps included); dry_run lists them and changes nothing.
  router.post('/v1/partners/:key/reattribute', async (req, res) => {
    const body = parse(ReattributeBody, req.body ?? {}, 'reattribute');
    const row = await byPath(req, res);
    if (row.deletedAt) throw new ApiError(409, 'deleted', `the partner "${row.key}" is deleted`);
    const program = res.locals.program as ProgramRules;
    if (program.type !== 'affiliate') throw new ApiError(409, 'not_affiliate', 'only affiliate programs credit partners');
    const dryRun = body.dry_run ?? false;
    const from = body.from ? new Date(body.from) : undefined; // a bare date is its UTC midnight
    const result = await reattributePartner(db, program, row, { from, dryRun });
    ok(res, reattributionView(row.key, dryRun, result.items, rewardTotals(result.items)));
  });

  // Archived: hidden from lists (status=archived shows them), still readable, restorable.
  for (const [path, archived] of [
    ['archive', true],
    ['revoke-archive', false],
  ] as const) {
    router.post(`/v1/partners/:key/${path}`, async (req, res) => {
      const row = await byPath(req, res);
      if (row.deletedAt) throw new ApiError(409, 'deleted', `the partner "${row.key}" is deleted`);
      const pid = programId(res);
      const now = new Date();
      const updated = await db.transaction(async (tx) => {
        const [u] = await tx
          .update(partners)
          .set({ archivedAt: archived ? now : null, updatedAt: now })
          .where(and(eq(partners.id, row.id), archived ? isNull(partners.archivedAt) : isNotNull(partners.archivedAt)))
          .returning();
        if (u) await emit(tx, pid, [{ event: archived ? 'partner.archived' : 'partner.updated', entityKey: u.key }]);
        return u;
      });
      ok(res, partnerView(updated ?? row));
    });
  }
  return router;
}

export { isUniqueViolation };
