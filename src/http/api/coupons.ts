// Promotion codes and coupons, in Partnero's shapes: a partner's codes (GET/POST
// /v1/partners/{key}/coupons, DELETE …/coupons/{code}), and Partnero's /v1/coupons and
// /v1/promotion-codes resources. A promotion code is what a customer types at checkout, unique in the
// program whatever its case; one a partner owns credits that partner when a payment used it and named no
// partner key (core/attribution.ts). A coupon is the discount rule codes point to: kept and shown for
// Partnero's clients, the gateway applies the discount and enforces its rules.
import { randomBytes } from 'node:crypto';
import { Router, type Request, type Response } from 'express';
import { and, eq, sql, type SQL } from 'drizzle-orm';
import { z } from 'zod';
import type { Db } from '../../db/client.js';
import { coupons, partners, promotionCodes } from '../../db/schema.js';
import { timestamp } from '../../views/time.js';
import { ApiError } from '../errors.js';
import { listParams, micros, sendRowPage } from './list-page.js';
import { isUniqueViolation, partnerByRef, pathRef } from './partners.js';
import { ok, parse, parseQuery, programId } from './respond.js';

type CodeRow = typeof promotionCodes.$inferSelect;
type CouponRow = typeof coupons.$inferSelect;
type PartnerRow = typeof partners.$inferSelect;

/** As a customer types it: no slash, ? or # (paths carry it), no control characters, no edge spaces. */
export const Code = z
  .string()
  .trim()
  .min(1)
  .max(255)
  .refine((v) => !/[/?#]/.test(v) && ![...v].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f), 'no slash, ?, # or control characters');
const UuidCode = z
  .string()
  .trim()
  .min(1)
  .max(255)
  .regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, - and _');
const Metadata = z.record(z.string(), z.unknown()).nullish();
/** A PHP SDK sends an empty array for an empty object. */
const objectOrEmpty = <T extends z.ZodType>(s: T) => z.preprocess((v) => (Array.isArray(v) && v.length === 0 ? undefined : v), s);

const PartnerRef = z
  .object({ id: z.union([z.string(), z.number()]).transform(String).nullish(), key: z.string().nullish(), email: z.string().nullish(), full_name: z.string().nullish() })
  .refine((r) => r.id || r.key || r.email, { message: 'name the partner by id, key or email' });

/** Partnero's restrictions of a code: kept and shown as given, not enforced here (the gateway's discount is). */
const CodeRestrictions = {
  first_time_order: z.boolean().nullish(),
  limit_to_specific_customer: z.boolean().nullish(),
  coupon_specific_customers: z.unknown().optional(),
  minimum_order_status: z.boolean().nullish(),
  minimum_order_value: z.number().nonnegative().nullish(),
  expiration_date_status: z.boolean().nullish(),
  expiration_date_value: z.string().max(64).nullish(),
  redemption_times_status: z.boolean().nullish(),
  redemption_times_value: z.number().int().nonnegative().nullish(),
};
const RESTRICTION_NAMES = Object.keys(CodeRestrictions).filter((k) => k !== 'coupon_specific_customers');

export const CreatePartnerCoupon = z.object({
  code: Code,
  /** The coupon (its uuid_code) the code points to, when the merchant keeps coupons here too. */
  coupon_uuid: UuidCode.nullish(),
  metadata: objectOrEmpty(Metadata),
});

export const CreatePromotionCode = z.object({
  code: Code.nullish(),
  coupon_uuid: UuidCode.nullish(),
  /** The PHP SDK's PromotionCodes::create sends the coupon's numeric id: its uuid_code here. */
  coupon_id: z.union([z.string(), z.number()]).transform(String).nullish(),
  limit_to_specific_partner: z.boolean().nullish(),
  coupon_specific_partners: objectOrEmpty(z.union([PartnerRef, z.array(PartnerRef).max(1, 'one partner owns a code')]).nullish()),
  /** This service's shorthand for coupon_specific_partners: the owning partner's key. */
  partner_key: z.string().trim().min(1).max(255).nullish(),
  metadata: objectOrEmpty(Metadata),
  ...CodeRestrictions,
});
export const UpdatePromotionCode = CreatePromotionCode.omit({ coupon_uuid: true, coupon_id: true });

const DiscountType = z.enum(['percent', 'static']);
const DurationType = z.enum(['once', 'hours', 'days', 'months', 'years', 'lifetime']);
const CouponFields = {
  name: z.string().trim().min(1).max(255).nullish(),
  active: z.boolean().nullish(),
  coupon_discount_amount: z.number().nonnegative().max(1e12),
  coupon_duration_value: z.number().int().positive().max(100000).nullish(),
  redemption_specific_date_status: z.boolean().nullish(),
  redemption_specific_date_value: z.string().max(64).nullish(),
  redemption_times_status: z.boolean().nullish(),
  redemption_times_value: z.number().int().nonnegative().nullish(),
  metadata: objectOrEmpty(Metadata),
};
const COUPON_RESTRICTIONS = ['redemption_specific_date_status', 'redemption_specific_date_value', 'redemption_times_status', 'redemption_times_value'] as const;
const durationNeedsValue = (c: { coupon_duration_type?: string | null; coupon_duration_value?: number | null }) =>
  !c.coupon_duration_type || ['once', 'lifetime'].includes(c.coupon_duration_type) || !!c.coupon_duration_value;
const durationMessage = { message: 'required for hours, days, months and years', path: ['coupon_duration_value'] };
export const CreateCoupon = z
  .object({
    uuid_code: UuidCode.nullish(),
    ...CouponFields,
    coupon_discount_type: DiscountType,
    coupon_duration_type: DurationType,
    promotion_codes: z.array(CreatePromotionCode.omit({ coupon_uuid: true, coupon_id: true })).max(100).nullish(),
  })
  .refine((c) => c.coupon_discount_type !== 'percent' || c.coupon_discount_amount <= 100, { message: 'a percent is 0 to 100', path: ['coupon_discount_amount'] })
  .refine(durationNeedsValue, durationMessage);
export const UpdateCoupon = z
  .object({
    uuid_code: UuidCode.nullish(),
    ...CouponFields,
    coupon_discount_amount: CouponFields.coupon_discount_amount.nullish(),
    coupon_discount_type: DiscountType.nullish(),
    coupon_duration_type: DurationType.nullish(),
  })
  .refine(durationNeedsValue, durationMessage);

export const CouponsQuery = z.object({ ...listParams() });
export const PromotionCodesQuery = z.object({ ...listParams(), partner_key: z.string().trim().min(1).max(255).optional(), coupon_uuid: z.string().trim().min(1).max(255).optional() });

const pick = (body: Record<string, unknown>, names: readonly string[]) =>
  Object.fromEntries(names.filter((n) => body[n] !== undefined).map((n) => [n, body[n] ?? null]));

export const couponView = (c: CouponRow) => ({
  name: c.name ?? c.uuidCode,
  uuid_code: c.uuidCode,
  active: c.active,
  coupon_discount_type: c.discountType,
  coupon_discount_amount: c.discountAmount === null ? null : Number(c.discountAmount),
  coupon_duration_type: c.durationType,
  coupon_duration_value: c.durationValue,
  redemption_specific_date_status: (c.restrictions.redemption_specific_date_status as boolean | undefined) ?? false,
  redemption_specific_date_value: (c.restrictions.redemption_specific_date_value as string | undefined) ?? null,
  redemption_times_status: (c.restrictions.redemption_times_status as boolean | undefined) ?? false,
  redemption_times_value: (c.restrictions.redemption_times_value as number | undefined) ?? null,
  metadata: c.metadata,
  times_redeemed: 0,
  created_at: timestamp(c.createdAt),
  updated_at: timestamp(c.updatedAt),
  deleted_at: null,
});

const fullName = (p: PartnerRow) => [p.name, p.surname].filter(Boolean).join(' ') || p.key;

export const promotionCodeView = (r: { pc: CodeRow; partner: PartnerRow | null; coupon: CouponRow | null }) => ({
  code: r.pc.code,
  partner: r.partner?.key ?? null,
  first_time_order: (r.pc.restrictions.first_time_order as boolean | undefined) ?? false,
  limit_to_specific_partner: r.partner !== null,
  coupon_specific_partners: r.partner ? [{ id: r.partner.key, full_name: fullName(r.partner) }] : [],
  limit_to_specific_customer: (r.pc.restrictions.limit_to_specific_customer as boolean | undefined) ?? false,
  coupon_specific_customers: (r.pc.restrictions.coupon_specific_customers as unknown) ?? [],
  minimum_order_status: (r.pc.restrictions.minimum_order_status as boolean | undefined) ?? false,
  minimum_order_value: (r.pc.restrictions.minimum_order_value as number | undefined) ?? null,
  expiration_date_status: (r.pc.restrictions.expiration_date_status as boolean | undefined) ?? false,
  expiration_date_value: (r.pc.restrictions.expiration_date_value as string | undefined) ?? null,
  redemption_times_status: (r.pc.restrictions.redemption_times_status as boolean | undefined) ?? false,
  redemption_times_value: (r.pc.restrictions.redemption_times_value as number | undefined) ?? null,
  times_redeemed: 0,
  metadata: r.pc.metadata,
  coupon: r.coupon ? couponView(r.coupon) : null,
  created_at: timestamp(r.pc.createdAt),
  updated_at: timestamp(r.pc.updatedAt),
});

/** A code Partnero would make: eight letters and digits, no look-alikes. */
function generatedCode(): string {
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  return [...randomBytes(8)].map((b) => alphabet[b % alphabet.length]).join('');
}

const duplicateCode = (code: string) => new ApiError(409, 'duplicate_key', `a promotion code "${code}" exists in the program (codes are unique whatever their case)`);

export function couponsRouter(deps: { db: Db }) {
  const { db } = deps;
  const router = Router();

  const livePartner = async (pid: string, ref: { key?: string | null; id?: string | null; email?: string | null }, said: string) => {
    const p = await partnerByRef(db, pid, ref);
    if (!p || p.deletedAt) throw new ApiError(404, 'not_found', `no partner with key, id or email "${said}"`);
    return p;
  };
  const couponByCode = async (pid: string, uuidCode: string) => {
    const [row] = await db
      .select()
      .from(coupons)
      .where(and(eq(coupons.programId, pid), sql`lower(${coupons.uuidCode}) = ${uuidCode.toLowerCase()}`))
      .limit(1);
    return row ?? null;
  };
  const couponOf = async (pid: string, uuidCode: string) => {
    const row = await couponByCode(pid, uuidCode);
    if (!row) throw new ApiError(404, 'not_found', `no coupon with uuid_code "${uuidCode}"`);
    return row;
  };
  const codeOf = async (pid: string, code: string, where?: SQL) => {
    const [row] = await db
      .select({ pc: promotionCodes, partner: partners, coupon: coupons })
      .from(promotionCodes)
      .leftJoin(partners, eq(partners.id, promotionCodes.partnerId))
      .leftJoin(coupons, eq(coupons.id, promotionCodes.couponId))
      .where(and(eq(promotionCodes.programId, pid), sql`lower(${promotionCodes.code}) = ${code.toLowerCase()}`, where))
      .limit(1);
    if (!row) throw new ApiError(404, 'not_found', `no promotion code "${code}"`);
    return row;
  };

  async function listCodes(req: Request, res: Response, where: (SQL | undefined)[], q: { limit: number; page: number; sort: 'asc' | 'desc'; cursor?: string }) {
    const t = promotionCodes;
    const listed = and(eq(t.programId, programId(res)), ...where);
    await sendRowPage(req, res, q, {
      db,
      table: t,
      createdAt: t.createdAt,
      id: t.id,
      listed,
      rows: (where, orderBy, limit, offset) =>
        db
          .select({ pc: t, partner: partners, coupon: coupons, micros: micros(t.createdAt) })
          .from(t)
          .leftJoin(partners, eq(partners.id, t.partnerId))
          .leftJoin(coupons, eq(coupons.id, t.couponId))
          .where(where)
          .orderBy(...orderBy)
          .limit(limit)
          .offset(offset),
      idOf: (r) => r.pc.id,
      data: (served) => served.map(promotionCodeView),
    });
  }

  /** Insert one code; a code taken (in any case) is a 409. */
  async function insertCode(
    handle: Pick<Db, 'insert'>,
    v: { programId: string; code: string; partner: PartnerRow | null; coupon: CouponRow | null; restrictions: Record<string, unknown>; metadata: Record<string, unknown> },
  ) {
    try {
      const [row] = await handle
        .insert(promotionCodes)
        .values({ programId: v.programId, code: v.code, partnerId: v.partner?.id ?? null, couponId: v.coupon?.id ?? null, restrictions: v.restrictions, metadata: v.metadata })
        .returning();
      return { pc: row!, partner: v.partner, coupon: v.coupon };
    } catch (err) {
      if (isUniqueViolation(err)) throw duplicateCode(v.code);
      throw err;
    }
  }

  /** The partner a Partnero promotion code body names (coupon_specific_partners, or partner_key). */
  async function ownerOf(pid: string, body: z.infer<typeof UpdatePromotionCode>): Promise<PartnerRow | null | undefined> {
    const given = Array.isArray(body.coupon_specific_partners) ? body.coupon_specific_partners[0] : body.coupon_specific_partners;
    if (body.partner_key) return livePartner(pid, { key: body.partner_key }, body.partner_key);
    if (given) return livePartner(pid, { id: given.id, key: given.key, email: given.email }, given.key ?? given.id ?? given.email ?? '');
    if (body.limit_to_specific_partner === true) {
      throw new ApiError(422, 'validation_failed', 'the promotion code has invalid fields', { coupon_specific_partners: 'required when limit_to_specific_partner is true' });
    }
    return body.limit_to_specific_partner === false ? null : undefined;
  }

  // ---- a partner's codes ----

  router.get('/v1/partners/:key/coupons', async (req, res) => {
    const said = String(req.params.key);
    const p = await livePartner(programId(res), pathRef(said), said);
    await listCodes(req, res, [eq(promotionCodes.partnerId, p.id)], parseQuery(CouponsQuery, req.query));
  });

  router.post('/v1/partners/:key/coupons', async (req, res) => {
    const said = String(req.params.key);
    const pid = programId(res);
    const body = parse(CreatePartnerCoupon, req.body, 'coupon');
    const partner = await livePartner(pid, pathRef(said), said);
    const coupon = body.coupon_uuid ? await couponOf(pid, body.coupon_uuid) : null;
    ok(res, promotionCodeView(await insertCode(db, { programId: pid, code: body.code, partner, coupon, restrictions: {}, metadata: body.metadata ?? {} })), 201);
  });

  router.delete('/v1/partners/:key/coupons/:code', async (req, res) => {
    const said = String(req.params.key);
    const pid = programId(res);
    const partner = await livePartner(pid, pathRef(said), said);
    const row = await codeOf(pid, String(req.params.code), eq(promotionCodes.partnerId, partner.id));
    await db.delete(promotionCodes).where(eq(promotionCodes.id, row.pc.id));
    ok(res, promotionCodeView(row));
  });

  // ---- Partnero's /v1/promotion-codes ----

  router.get('/v1/promotion-codes', async (req, res) => {
    const q = parseQuery(PromotionCodesQuery, req.query);
    const pid = programId(res);
    const where: (SQL | undefined)[] = [];
    if (q.partner_key) {
      const p = await partnerByRef(db, pid, { key: q.partner_key });
      where.push(p ? eq(promotionCodes.partnerId, p.id) : sql`false`);
    }
    if (q.coupon_uuid) {
      const c = await couponByCode(pid, q.coupon_uuid);
      where.push(c ? eq(promotionCodes.couponId, c.id) : sql`false`);
    }
    await listCodes(req, res, where, q);
  });

  router.post('/v1/promotion-codes', async (req, res) => {
    const pid = programId(res);
    const body = parse(CreatePromotionCode, req.body, 'promotion code');
    const couponRef = body.coupon_uuid ?? body.coupon_id;
    const coupon = couponRef ? await couponOf(pid, couponRef) : null;
    const partner = (await ownerOf(pid, body)) ?? null;
    const row = await insertCode(db, { programId: pid, code: body.code ?? generatedCode(), partner, coupon, restrictions: pick(body, RESTRICTION_NAMES.concat('coupon_specific_customers')), metadata: body.metadata ?? {} });
    ok(res, promotionCodeView(row), 201);
  });

  router.get('/v1/promotion-codes/:code', async (req, res) => ok(res, promotionCodeView(await codeOf(programId(res), String(req.params.code)))));

  async function updateCode(req: Request, res: Response, code: string) {
    const pid = programId(res);
    const row = await codeOf(pid, code);
    const body = parse(UpdatePromotionCode, req.body, 'promotion code');
    const owner = await ownerOf(pid, body);
    const restrictions = { ...row.pc.restrictions, ...pick(body, RESTRICTION_NAMES.concat('coupon_specific_customers')) };
    try {
      const [u] = await db
        .update(promotionCodes)
        .set({
          ...(body.code && body.code !== row.pc.code ? { code: body.code } : {}),
          ...(owner !== undefined ? { partnerId: owner?.id ?? null } : {}),
          ...(body.metadata ? { metadata: body.metadata } : {}),
          restrictions,
          updatedAt: new Date(),
        })
        .where(eq(promotionCodes.id, row.pc.id))
        .returning();
      ok(res, promotionCodeView({ pc: u!, partner: owner !== undefined ? owner : row.partner, coupon: row.coupon }));
    } catch (err) {
      if (isUniqueViolation(err)) throw duplicateCode(body.code ?? code);
      throw err;
    }
  }
  router.put('/v1/promotion-codes/:code', (req, res) => updateCode(req, res, String(req.params.code)));
  // the PHP SDK's PromotionCodes::update and ::delete name the code in the body, not the path
  router.put('/v1/promotion-codes', (req, res) => updateCode(req, res, bodyCode(req.body)));

  async function deleteCode(res: Response, code: string) {
    const pid = programId(res);
    const row = await codeOf(pid, code);
    await db.delete(promotionCodes).where(eq(promotionCodes.id, row.pc.id));
    ok(res, promotionCodeView(row));
  }
  router.delete('/v1/promotion-codes/:code', (req, res) => deleteCode(res, String(req.params.code)));
  router.delete('/v1/promotion-codes', (req, res) => deleteCode(res, bodyCode(req.body)));

  // ---- Partnero's /v1/coupons ----

  router.get('/v1/coupons', async (req, res) => {
    const q = parseQuery(CouponsQuery, req.query);
    const t = coupons;
    const listed = eq(t.programId, programId(res));
    await sendRowPage(req, res, q, {
      db,
      table: t,
      createdAt: t.createdAt,
      id: t.id,
      listed,
      rows: (where, orderBy, limit, offset) =>
        db
          .select({ c: t, micros: micros(t.createdAt) })
          .from(t)
          .where(where)
          .orderBy(...orderBy)
          .limit(limit)
          .offset(offset),
      idOf: (r) => r.c.id,
      data: (served) => served.map((r) => couponView(r.c)),
    });
  });

  router.post('/v1/coupons', async (req, res) => {
    const pid = programId(res);
    const body = parse(CreateCoupon, req.body, 'coupon');
    // the owners of its codes first: an unknown partner writes nothing
    const owners = await Promise.all((body.promotion_codes ?? []).map((c) => ownerOf(pid, c)));
    const uuidCode = body.uuid_code ?? generatedCode();
    const created = await db.transaction(async (tx) => {
      let coupon: CouponRow;
      try {
        [coupon] = (await tx
          .insert(coupons)
          .values({
            programId: pid,
            uuidCode,
            name: body.name ?? null,
            active: body.active ?? true,
            discountType: body.coupon_discount_type,
            discountAmount: String(body.coupon_discount_amount),
            durationType: body.coupon_duration_type,
            durationValue: body.coupon_duration_value ?? null,
            restrictions: pick(body, COUPON_RESTRICTIONS),
            metadata: body.metadata ?? {},
          })
          .returning()) as [CouponRow];
      } catch (err) {
        if (isUniqueViolation(err)) throw new ApiError(409, 'duplicate_key', `a coupon with uuid_code "${uuidCode}" exists`);
        throw err;
      }
      for (const [i, c] of (body.promotion_codes ?? []).entries()) {
        await insertCode(tx, { programId: pid, code: c.code ?? generatedCode(), partner: owners[i] ?? null, coupon, restrictions: pick(c, RESTRICTION_NAMES.concat('coupon_specific_customers')), metadata: c.metadata ?? {} });
      }
      return coupon;
    });
    ok(res, couponView(created), 201);
  });

  router.get('/v1/coupons/:uuid', async (req, res) => ok(res, couponView(await couponOf(programId(res), String(req.params.uuid)))));

  async function updateCoupon(req: Request, res: Response, uuidCode: string) {
    const pid = programId(res);
    const row = await couponOf(pid, uuidCode);
    const body = parse(UpdateCoupon, req.body, 'coupon');
    const type = body.coupon_discount_type ?? row.discountType;
    const amount = body.coupon_discount_amount ?? (row.discountAmount === null ? null : Number(row.discountAmount));
    if (type === 'percent' && amount !== null && amount > 100) {
      throw new ApiError(422, 'validation_failed', 'the coupon has invalid fields', { coupon_discount_amount: 'a percent is 0 to 100' });
    }
    const [u] = await db
      .update(coupons)
      .set({
        ...(body.name !== undefined ? { name: body.name } : {}),
        ...(typeof body.active === 'boolean' ? { active: body.active } : {}),
        ...(body.coupon_discount_type ? { discountType: body.coupon_discount_type } : {}),
        ...(typeof body.coupon_discount_amount === 'number' ? { discountAmount: String(body.coupon_discount_amount) } : {}),
        ...(body.coupon_duration_type ? { durationType: body.coupon_duration_type } : {}),
        ...(body.coupon_duration_value !== undefined ? { durationValue: body.coupon_duration_value } : {}),
        ...(body.metadata ? { metadata: body.metadata } : {}),
        restrictions: { ...row.restrictions, ...pick(body, COUPON_RESTRICTIONS) },
        updatedAt: new Date(),
      })
      .where(eq(coupons.id, row.id))
      .returning();
    ok(res, couponView(u!));
  }
  router.put('/v1/coupons/:uuid', (req, res) => updateCoupon(req, res, String(req.params.uuid)));
  // the PHP SDK's Coupons::update sends the coupon, uuid_code and all, to PUT /v1/coupons
  router.put('/v1/coupons', (req, res) => updateCoupon(req, res, bodyUuidCode(req.body)));

  // its promotion codes go with it (they point to it), the partners' attribution through them too
  router.delete('/v1/coupons/:uuid', async (req, res) => {
    const row = await couponOf(programId(res), String(req.params.uuid));
    await db.delete(coupons).where(eq(coupons.id, row.id));
    ok(res, couponView(row));
  });

  return router;
}

/** The code a body names (the PHP SDK's update and delete), or a 422. */
function bodyCode(body: unknown): string {
  const code = (body as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code.trim()) return code.trim();
  throw new ApiError(422, 'validation_failed', 'the promotion code has invalid fields', { code: 'name the promotion code' });
}

function bodyUuidCode(body: unknown): string {
  const code = (body as { uuid_code?: unknown } | null)?.uuid_code;
  if (typeof code === 'string' && code.trim()) return code.trim();
  throw new ApiError(422, 'validation_failed', 'the coupon has invalid fields', { uuid_code: 'name the coupon' });
}
