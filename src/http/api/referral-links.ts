// A partner's referral links, in Partnero's shapes: GET /v1/partners/{key}/referral_links and the
// /v1/partner_referral_links resource (list, create, get, update, delete, :search). A link is a key,
// unique in the program, and the URL the merchant gave (this service hosts no redirects); Partnero
// shows a link's key as its `id`, and so does this, the path taking either. A link's key names its
// partner in attribution (src/db/ledger.ts referrerByKey, and the batch's LOAD).
import { Router, type Request, type Response } from 'express';
import { and, eq, ilike, or, sql, type SQL } from 'drizzle-orm';
import { z } from 'zod';
import type { ProgramRules } from '../../core/program.js';
import type { Db } from '../../db/client.js';
import { partnerReferralLinks } from '../../db/schema.js';
import { timestamp } from '../../views/time.js';
import { ApiError } from '../errors.js';
import { containing, listParams, micros, sendRowPage, UUID } from './list-page.js';
import { ok, parse, parseQuery, queryText } from './respond.js';
import { isUniqueViolation, partnerByRef, pathRef } from './partners.js';

type LinkRow = typeof partnerReferralLinks.$inferSelect;

const text = (max = 255) => z.string().trim().min(1).max(max);
const LinkKey = text().regex(/^[^/?#\s]+$/, 'no spaces, slashes, ? or #');
const Url = z.url({ protocol: /^https?$/, error: 'an http(s) URL' }).max(2048);
const LinkFields = z.object({
  url: Url.nullish(),
  is_additional: z.boolean().nullish(),
  /** Partnero's domain list: there are no program domains here, so it is accepted and not kept. */
  domain_id: z.union([z.string(), z.number()]).nullish(),
  direct_tracking: z.boolean().nullish(),
  direct_tracking_redirect: z.boolean().nullish(),
  direct_tracking_redirect_url: Url.nullish(),
});
export const CreateReferralLink = LinkFields.extend({
  key: LinkKey,
  partner: z
    .object({ key: text().nullish(), id: text().nullish(), email: z.email().nullish() })
    .refine((r) => r.key || r.id || r.email, { message: 'name the partner by key, id or email' }),
});
export const UpdateReferralLink = LinkFields.extend({ key: LinkKey.nullish() });
export const ReferralLinksQuery = z.object({
  ...listParams(),
  partner_key: queryText().optional(),
  partner_id: queryText().optional(),
  partner_email: queryText().optional(),
});
export const ReferralLinksSearch = ReferralLinksQuery.extend({ key: queryText().optional(), url: queryText(2048).optional() });

/**
 * The PHP SDK sends its ReferralLink model's fields in camelCase (`partnerKey`, `directTracking`, …):
 * the same fields in snake_case, the snake_case one winning when both are given.
 */
function snakeCased(body: unknown): Record<string, unknown> {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return {};
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(body)) out[k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)] ??= v;
  for (const [k, v] of Object.entries(body)) if (!/[A-Z]/.test(k)) out[k] = v;
  // an empty PHP array is `[]` in JSON: no partner given
  if (Array.isArray(out.partner) && out.partner.length === 0) delete out.partner;
  // the SDK's `partnerKey` on the link names its partner when no `partner` object does
  if (!out.partner && typeof out.partner_key === 'string') out.partner = { key: out.partner_key };
  delete out.partner_key;
  delete out.program_main;
  delete out.id;
  return out;
}

export const referralLinkView = (l: LinkRow) => ({
  id: l.key,
  key: l.key,
  url: l.url,
  default: false,
  is_additional: l.isAdditional,
  direct_tracking: l.directTracking,
  direct_tracking_redirect: l.directTrackingRedirect,
  direct_tracking_redirect_url: l.directTrackingRedirectUrl,
  clicks: l.clicks,
  created_at: timestamp(l.createdAt),
  updated_at: timestamp(l.updatedAt),
});

export function referralLinksRouter(deps: { db: Db }) {
  const { db } = deps;
  const router = Router();
  const programId = (res: Response) => (res.locals.program as ProgramRules).id;

  const partnerOf = async (pid: string, ref: { key?: string | null; id?: string | null; email?: string | null }, said: string) => {
    const p = await partnerByRef(db, pid, ref);
    if (!p || p.deletedAt) throw new ApiError(404, 'not_found', `no partner with key, id or email "${said}"`);
    return p;
  };
  /** A link by what a path holds: its key (Partnero's id), else its uuid. */
  const linkOf = async (req: Request, res: Response) => {
    const said = String(req.params.id);
    const pid = programId(res);
    const [row] = await db
      .select()
      .from(partnerReferralLinks)
      .where(and(eq(partnerReferralLinks.programId, pid), UUID.test(said) ? or(eq(partnerReferralLinks.key, said), eq(partnerReferralLinks.id, said)) : eq(partnerReferralLinks.key, said)))
      .limit(1);
    if (!row) throw new ApiError(404, 'not_found', `no referral link with id or key "${said}"`);
    return row;
  };

  async function list(req: Request, res: Response, where: (SQL | undefined)[], q: { limit: number; page: number; sort: 'asc' | 'desc'; cursor?: string }) {
    const t = partnerReferralLinks;
    const listed = and(eq(t.programId, programId(res)), ...where);
    await sendRowPage(req, res, q, {
      db,
      table: t,
      createdAt: t.createdAt,
      id: t.id,
      listed,
      rows: (where, orderBy, limit, offset) =>
        db
          .select({ l: t, micros: micros(t.createdAt) })
          .from(t)
          .where(where)
          .orderBy(...orderBy)
          .limit(limit)
          .offset(offset),
      idOf: (r) => r.l.id,
      data: (served) => served.map((r) => referralLinkView(r.l)),
    });
  }

  /** The partner filters of a list, as conditions on the link's partner. */
  async function partnerFilter(pid: string, q: { partner_key?: string; partner_id?: string; partner_email?: string }): Promise<SQL | undefined> {
    if (!q.partner_key && !q.partner_id && !q.partner_email) return undefined;
    const p = await partnerByRef(db, pid, { key: q.partner_key, id: q.partner_id, email: q.partner_email });
    return p ? eq(partnerReferralLinks.partnerId, p.id) : sql`false`;
  }

  // the PHP SDK's PartnerReferralLinks::list and n8n's Get Referral Links
  router.get('/v1/partners/:key/referral_links', async (req, res) => {
    const said = String(req.params.key);
    const p = await partnerOf(programId(res), pathRef(said), said);
    await list(req, res, [eq(partnerReferralLinks.partnerId, p.id)], parseQuery(ReferralLinksQuery, req.query));
  });

  router.get('/v1/partner_referral_links', async (req, res) => {
    const q = parseQuery(ReferralLinksQuery, req.query);
    await list(req, res, [await partnerFilter(programId(res), q)], q);
  });

  // each given field matches: key and url partly, the partner exactly
  router.get('/v1/partner_referral_links\\:search', async (req, res) => {
    const q = parseQuery(ReferralLinksSearch, req.query);
    await list(req, res, [
      await partnerFilter(programId(res), q),
      q.key ? ilike(partnerReferralLinks.key, containing(q.key)) : undefined,
      q.url ? ilike(partnerReferralLinks.url, containing(q.url)) : undefined,
    ], q);
  });

  router.post('/v1/partner_referral_links', async (req, res) => {
    const body = parse(CreateReferralLink, snakeCased(req.body), 'referral link');
    const pid = programId(res);
    const said = body.partner.key ?? body.partner.id ?? body.partner.email!;
    const p = await partnerOf(pid, body.partner, said);
    try {
      const [row] = await db
        .insert(partnerReferralLinks)
        .values({
          programId: pid,
          partnerId: p.id,
          key: body.key,
          url: body.url ?? null,
          isAdditional: body.is_additional ?? false,
          directTracking: body.direct_tracking ?? false,
          directTrackingRedirect: body.direct_tracking_redirect ?? false,
          directTrackingRedirectUrl: body.direct_tracking_redirect_url ?? null,
        })
        .returning();
      ok(res, referralLinkView(row!), 201);
    } catch (err) {
      if (isUniqueViolation(err)) throw new ApiError(409, 'duplicate_key', `a referral link with key "${body.key}" exists`);
      throw err;
    }
  });

  router.get('/v1/partner_referral_links/:id', async (req, res) => ok(res, referralLinkView(await linkOf(req, res))));

  async function update(req: Request, res: Response) {
    const row = await linkOf(req, res);
    const body = parse(UpdateReferralLink, snakeCased(req.body), 'referral link');
    const set = Object.fromEntries(
      Object.entries({
        key: body.key,
        url: body.url,
        isAdditional: body.is_additional,
        directTracking: body.direct_tracking,
        directTrackingRedirect: body.direct_tracking_redirect,
        directTrackingRedirectUrl: body.direct_tracking_redirect_url,
      }).filter(([, v]) => v !== undefined),
    );
    try {
      const [u] = await db.update(partnerReferralLinks).set({ ...set, updatedAt: new Date() }).where(eq(partnerReferralLinks.id, row.id)).returning();
      ok(res, referralLinkView(u!));
    } catch (err) {
      if (isUniqueViolation(err)) throw new ApiError(409, 'duplicate_key', `another referral link has key "${body.key}"`);
      throw err;
    }
  }
  router.put('/v1/partner_referral_links/:id', update);
  router.patch('/v1/partner_referral_links/:id', update);

  router.delete('/v1/partner_referral_links/:id', async (req, res) => {
    const row = await linkOf(req, res);
    await db.delete(partnerReferralLinks).where(eq(partnerReferralLinks.id, row.id));
    ok(res, referralLinkView(row));
  });

  return router;
}
