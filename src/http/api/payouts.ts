// Payout requests (Partnero's /v1/payout_requests): each takes a partner's available rewards in one
// currency, and is approved, rejected (the rewards are available again) or marked as paid. The states are moved by db/payouts.ts alone.
import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import type { Db } from '../../db/client.js';
import {
  createPayoutRequest,
  listPayoutRequests,
  movePayoutRequest,
  PAYOUT_GATEWAYS,
  PAYOUT_STATUSES,
  PayoutRefused,
  payoutRequestById,
  type PayoutAction,
} from '../../db/payouts.js';
import { payoutRequestView } from '../../views/payout-request.js';
import { ApiError } from '../errors.js';
import { sendPage } from './list-page.js';
import { partnerByRef } from './partners.js';
import { dateTimeInput, LATEST_DAY, notFound, ok, pagination, parse, parseQuery, programId, queryText } from './respond.js';

const MAX_BIGINT = 9_223_372_036_854_775_807n;
const MAX_CURSOR_MICROS = BigInt(Date.parse(`${LATEST_DAY}T23:59:59.999Z`)) * 1000n + 999n;
const CURSOR = /^(\d{1,20})\.(\d{1,20})$/;
const parseCursor = (value: string) => {
  const m = CURSOR.exec(value);
  if (!m) return null;
  const c = { micros: BigInt(m[1]!), id: BigInt(m[2]!) };
  return c.micros <= MAX_CURSOR_MICROS && c.id <= MAX_BIGINT ? c : null;
};

const Currency = z
  .string()
  .trim()
  .regex(/^[A-Za-z]{3}$/, 'an ISO 4217 currency code, such as usd or EUR')
  .transform((c) => c.toUpperCase());

export const CreatePayoutRequest = z.object({
  partner: z
    .object({ key: z.string().trim().min(1).max(255).optional(), id: z.string().trim().min(1).max(255).optional(), email: z.string().trim().min(1).max(255).optional() })
    .refine((p) => p.key || p.id || p.email, { message: 'name the partner by key, id or email' }),
  amount_units: Currency.optional(),
  /** Reward ids (numbers, as Partnero's clients send them) or reward keys. */
  reward_ids: z
    .array(z.union([z.number().int().positive().max(Number.MAX_SAFE_INTEGER), z.string().trim().min(1).max(255)]))
    .min(1)
    .max(5000)
    .optional(),
  gateway: z.enum(PAYOUT_GATEWAYS).optional(),
  payout_settings: z
    .record(z.string().max(64), z.union([z.string().max(1024), z.number(), z.boolean(), z.null()]))
    .refine((o) => Object.keys(o).length <= 30, 'at most 30 fields')
    .optional(),
  note: z.string().max(2000).optional(),
});

export const MarkAsPaid = z.object({
  paid_at: dateTimeInput().optional(),
  reference: z.string().trim().min(1).max(255).optional(),
});

export const ListPayoutRequests = z.object({
  ...pagination(),
  sort: z.enum(['asc', 'desc']).default('desc'),
  status: z.enum(PAYOUT_STATUSES).optional(),
  partner_key: queryText().optional(),
  partner_email: queryText().optional(),
  partner_id: queryText().optional(),
  amount_units: Currency.optional(),
  cursor: z
    .string()
    .refine((c) => parseCursor(c) !== null, 'a cursor from a links.next URL')
    .meta({ description: "from links.next: the last row's created_at in microseconds since the epoch, then its id" })
    .optional(),
});

const PayoutId = z.string().regex(/^\d{1,19}$/).transform(BigInt).refine((n) => n <= MAX_BIGINT);

/** Run a store call, its refusals answered with their status and code. */
async function refusing<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof PayoutRefused) throw new ApiError(err.httpStatus, err.code, err.message, err.fields);
    throw err;
  }
}

export function payoutsRouter(deps: { db: Db }) {
  const { db } = deps;
  const router = Router();

  const requestId = (req: Request) => {
    const r = PayoutId.safeParse(String(req.params.id));
    if (!r.success) throw notFound('payout request', String(req.params.id));
    return r.data;
  };
  const show = async (res: Response, id: bigint, status = 200) => {
    const row = await payoutRequestById(db, programId(res), id);
    if (!row) throw new ApiError(404, 'not_found', `no payout request with id "${id}"`);
    ok(res, payoutRequestView(row), status);
  };

  router.post('/v1/payout_requests', async (req, res) => {
    const body = parse(CreatePayoutRequest, req.body, 'payout request');
    const pid = programId(res);
    const partner = await partnerByRef(db, pid, body.partner);
    const said = body.partner.key ?? body.partner.id ?? body.partner.email;
    if (!partner) throw new ApiError(404, 'not_found', `no partner with key, id or email "${said}"`);
    if (partner.deletedAt || partner.archivedAt) throw new ApiError(409, 'partner_not_active', `partner "${partner.key}" is ${partner.deletedAt ? 'deleted' : 'archived'}: only active partners are paid`);
    const id = await refusing(() =>
      createPayoutRequest(db, {
        programId: pid,
        partner,
        currency: body.amount_units,
        rewards: body.reward_ids?.map((r) => (typeof r === 'number' ? BigInt(r) : r)),
        gateway: body.gateway ?? 'manual',
        payoutSettings: body.payout_settings ?? {},
        note: body.note ?? null,
      }),
    );
    await show(res, id, 201);
  });

  const list = async (req: Request, res: Response) => {
    const q = parseQuery(ListPayoutRequests, req.query, { 'partner.key': 'partner_key', 'partner.email': 'partner_email', 'partner.id': 'partner_id' });
    const cursor = q.cursor ? (parseCursor(q.cursor) ?? undefined) : undefined;
    const { rows, total, hasMore } = await listPayoutRequests(
      db,
      programId(res),
      { status: q.status, currency: q.amount_units, partnerKey: q.partner_key, partnerEmail: q.partner_email, partnerId: q.partner_id },
      { limit: q.limit, offset: (q.page - 1) * q.limit, sort: q.sort, cursor },
    );
    const last = rows.at(-1);
    sendPage(req, res, {
      data: rows.map(payoutRequestView),
      total,
      limit: q.limit,
      page: q.page,
      cursor: q.cursor,
      hasMore,
      last: last && { micros: last.created_micros, id: last.id },
    });
  };
  router.get('/v1/payout_requests', list);
  // Partnero's search form takes the same filters
  router.get('/v1/payout_requests\\:search', list);

  router.get('/v1/payout_requests/:id', async (req, res) => show(res, requestId(req)));

  for (const action of ['approve', 'reject', 'mark_as_paid'] as const satisfies readonly PayoutAction[]) {
    router.post(`/v1/payout_requests/:id/${action}`, async (req, res) => {
      const id = requestId(req);
      const paid = action === 'mark_as_paid' ? parse(MarkAsPaid, req.body, 'payment') : {};
      await refusing(() => movePayoutRequest(db, programId(res), id, action, { paidAt: paid.paid_at ? new Date(paid.paid_at) : undefined, reference: paid.reference }));
      await show(res, id);
    });
  }
  return router;
}
