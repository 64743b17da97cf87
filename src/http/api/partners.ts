// /v1/partners: the people who earn commissions in affiliate programs.
import { randomBytes } from 'node:crypto';
import { Router, type Response } from 'express';
import { and, asc, eq, isNull, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { ProgramRules } from '../../core/program.js';
import type { Db } from '../../db/client.js';
import { emit } from '../../db/outbox.js';
import { partners } from '../../db/schema.js';
import { ApiError } from '../errors.js';
import { notFound, ok, pagination, parse, parseQuery, timestamp } from './respond.js';

const text = (max = 255) => z.string().trim().min(1).max(max);
export const PartnerFields = z.object({
  email: z.email().nullish(),
  name: text().nullish(),
  surname: text().nullish(),
  referral_code: text(64).nullish(),
});
export const CreatePartner = PartnerFields.extend({ key: text().regex(/^[^/?#\s]+$/, 'no spaces, slashes, ? or #').nullish() });
export const ListQuery = z.object(pagination());

export const partnerView = (p: typeof partners.$inferSelect) => ({
  id: p.id,
  key: p.key,
  email: p.email,
  name: p.name,
  surname: p.surname,
  referral_code: p.referralCode,
  created_at: timestamp(p.createdAt),
  updated_at: timestamp(p.updatedAt),
  deleted_at: timestamp(p.deletedAt),
});

const isUniqueViolation = (err: unknown) => (err as { cause?: { code?: string }; code?: string }).code === '23505' || (err as { cause?: { code?: string } }).cause?.code === '23505';

export function partnersRouter(deps: { db: Db }) {
  const { db } = deps;
  const router = Router();
  const programId = (res: Response) => (res.locals.program as ProgramRules).id;
  const byKey = async (pid: string, key: string) => {
    const [row] = await db.select().from(partners).where(and(eq(partners.programId, pid), eq(partners.key, key)));
    if (!row) throw notFound('partner', key);
    return row;
  };

  router.post('/v1/partners', async (req, res) => {
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
          })
          .returning();
        await emit(tx, pid, [{ event: 'partner.created', entityKey: created!.key }]);
        return created!;
      });
      ok(res, partnerView(row), 201);
    } catch (err) {
      if (isUniqueViolation(err)) throw new ApiError(409, 'duplicate_key', 'a partner with this key or referral code exists');
      throw err;
    }
  });

  router.get('/v1/partners', async (req, res) => {
    const q = parseQuery(ListQuery, req.query);
    const pid = programId(res);
    const listed = and(eq(partners.programId, pid), isNull(partners.deletedAt));
    const [rows, [counted]] = await Promise.all([
      db.select().from(partners).where(listed).orderBy(asc(partners.createdAt), asc(partners.key)).limit(q.limit).offset((q.page - 1) * q.limit),
      db.select({ n: sql<number>`count(*)::int` }).from(partners).where(listed),
    ]);
    const total = counted?.n ?? 0;
    res.json({
      data: rows.map(partnerView),
      meta: { current_page: q.page, last_page: Math.max(1, Math.ceil(total / q.limit)), per_page: q.limit, total },
      status: 1,
    });
  });

  router.get('/v1/partners/:key', async (req, res) => {
    ok(res, partnerView(await byKey(programId(res), String(req.params.key))));
  });

  router.patch('/v1/partners/:key', async (req, res) => {
    const body = parse(PartnerFields, req.body, 'partner');
    const pid = programId(res);
    const row = await byKey(pid, String(req.params.key));
    if (row.deletedAt) throw new ApiError(409, 'deleted', `the partner "${row.key}" is deleted`);
    const set = Object.fromEntries(
      Object.entries({ email: body.email, name: body.name, surname: body.surname, referralCode: body.referral_code }).filter(([, v]) => v !== undefined),
    );
    try {
      const updated = await db.transaction(async (tx) => {
        const [u] = await tx.update(partners).set({ ...set, updatedAt: new Date() }).where(eq(partners.id, row.id)).returning();
        if (Object.keys(set).length) await emit(tx, pid, [{ event: 'partner.updated', entityKey: row.key }]);
        return u!;
      });
      ok(res, partnerView(updated));
    } catch (err) {
      if (isUniqueViolation(err)) throw new ApiError(409, 'duplicate_key', 'another partner has this referral code');
      throw err;
    }
  });

  // A soft delete: the partner and its history stay readable; it is no longer listed or credited.
  router.delete('/v1/partners/:key', async (req, res) => {
    const pid = programId(res);
    const row = await byKey(pid, String(req.params.key));
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
  });
  return router;
}

export { isUniqueViolation };
