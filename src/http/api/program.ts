// /v1/program: the settings of the key's program. Gateway secrets are write-only.
import { Router, type Response } from 'express';
import { eq } from 'drizzle-orm';
import { z } from 'zod';
import { isCurrencyCode } from '../../core/money.js';
import { ATTRIBUTION_MODELS, CapSettings, CommissionSettings, FraudSettings, PROGRAM_TYPES, type ProgramRules } from '../../core/program.js';
import type { Db } from '../../db/client.js';
import type { ProgramRulesSource } from '../../db/programs.js';
import { programs } from '../../db/schema.js';
import { gatewaysView, GatewaysPatch, type GatewaySettings } from '../../gateways/settings.js';
import { checkUrl, UrlNotAllowed, type Resolver, type UrlPolicy } from '../../outbound/url-policy.js';
import { ApiError } from '../errors.js';
import { ok, parse, timestamp } from './respond.js';

export const PatchProgram = z.object({
  name: z.string().trim().min(1).max(255).optional(),
  type: z.enum(PROGRAM_TYPES).optional(),
  attribution_model: z.enum(ATTRIBUTION_MODELS).optional(),
  currency: z.string().trim().min(1).max(32).optional(),
  is_currency: z.boolean().optional(),
  review_period_days: z.number().int().min(0).max(3650).optional(),
  commission: CommissionSettings.optional(),
  /** Holds: self_referral_hold, refund_rate_hold {rate, days, min_payments} (null turns it off). */
  fraud: FraudSettings.optional(),
  /** Caps per currency: max_per_customer, max_per_partner_per_month, and per partner key. */
  caps: CapSettings.strict().optional(),
  js_tracking: z.boolean().optional(),
  /** The referral link's query parameter po.js reads (`?ref=CODE`; Partnero's default is `aff`). */
  referral_parameter: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, 'letters, digits, _ or -, at most 32').optional(),
  /** How many days po.js keeps a visit's referral code. */
  cookie_lifetime_days: z.number().int().min(1).max(3650).optional(),
  livemode: z.boolean().nullable().optional(),
  gateways: GatewaysPatch.optional(),
});

const camel = (s: string) => s.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());

/** Merge a patch into stored gateway settings: a value sets, null clears, absence keeps. */
export function mergeGateways(stored: GatewaySettings, patch: z.infer<typeof GatewaysPatch> | undefined): GatewaySettings {
  const next: Record<string, Record<string, unknown>> = JSON.parse(JSON.stringify(stored ?? {}));
  for (const [gateway, fields] of Object.entries(patch ?? {})) {
    const target = (next[gateway] ??= {});
    for (const [field, value] of Object.entries(fields ?? {})) {
      if (value === null) delete target[camel(field)];
      else if (value !== undefined) target[camel(field)] = value;
    }
    delete target.apiBase; // never stored (a program cannot set one; an old row may hold one)
    if (gateway !== 'chargebee') target.webhookSecrets ??= [];
  }
  return next as GatewaySettings;
}

type ProgramRow = typeof programs.$inferSelect;

export const programView = (p: ProgramRow) => ({
  id: p.id,
  name: p.name,
  type: p.type,
  attribution_model: p.attributionModel,
  currency: p.currency,
  is_currency: p.isCurrency,
  review_period_days: p.reviewPeriodDays,
  commission: p.commission,
  fraud: FraudSettings.parse(p.fraud ?? {}),
  caps: CapSettings.parse(p.caps ?? {}),
  js_tracking: p.jsTracking,
  referral_parameter: p.referralParameter,
  cookie_lifetime_days: p.cookieLifetimeDays,
  livemode: p.livemode,
  public_key: p.publicKey,
  webhook_urls: {
    stripe: `/webhooks/stripe/${p.id}`,
    paddle: `/webhooks/paddle/${p.id}`,
    woocommerce: `/webhooks/woocommerce/${p.id}`,
    chargebee: `/webhooks/chargebee/${p.id}`,
  },
  gateways: gatewaysView(p.gateways),
  created_at: timestamp(p.createdAt),
  updated_at: timestamp(p.updatedAt),
});

/** The store URL is a program's, so the service's requests to it follow the outbound URL policy (checked again at each request). */
async function allowedStoreUrl(url: string, outbound: { policy: UrlPolicy; resolver?: Resolver }) {
  try {
    await checkUrl(url, outbound.policy, outbound.resolver);
  } catch (err) {
    if (!(err instanceof UrlNotAllowed)) throw err;
    const field = 'gateways.woocommerce.url';
    throw new ApiError(422, err.reason === 'invalid' ? 'validation_failed' : 'url_not_allowed', `${field}: ${err.message}`, { [field]: err.message });
  }
}

export function programRouter(deps: {
  db: Db;
  programs: ProgramRulesSource;
  outbound: { policy: UrlPolicy; resolver?: Resolver };
  /** The receivers' cache of programs: a changed webhook secret holds from the next delivery. */
  receiving?: { invalidate(id: string): void };
}) {
  const { db } = deps;
  const router = Router();
  const load = async (res: Response) => {
    const [row] = await db.select().from(programs).where(eq(programs.id, (res.locals.program as ProgramRules).id));
    return row!;
  };

  router.get('/v1/program', async (_req, res) => {
    ok(res, programView(await load(res)));
  });

  async function change(res: Response, raw: unknown) {
    const body = parse(PatchProgram, raw, 'program');
    const storeUrl = body.gateways?.woocommerce?.url;
    if (storeUrl) await allowedStoreUrl(storeUrl, deps.outbound);
    const current = await load(res);
    const isCurrency = body.is_currency ?? current.isCurrency;
    const currency = body.currency ?? current.currency;
    if (isCurrency && !isCurrencyCode(currency)) {
      throw new ApiError(422, 'validation_failed', 'a currency program needs an ISO 4217 currency', { currency: 'not an ISO 4217 code' });
    }
    const [row] = await db
      .update(programs)
      .set({
        name: body.name,
        type: body.type,
        attributionModel: body.attribution_model,
        currency: isCurrency ? currency.toUpperCase() : currency,
        isCurrency,
        reviewPeriodDays: body.review_period_days,
        commission: body.commission,
        fraud: body.fraud,
        caps: body.caps,
        jsTracking: body.js_tracking,
        referralParameter: body.referral_parameter,
        cookieLifetimeDays: body.cookie_lifetime_days,
        livemode: body.livemode,
        gateways: body.gateways ? mergeGateways(current.gateways, body.gateways) : undefined,
        updatedAt: new Date(),
      })
      .where(eq(programs.id, current.id))
      .returning();
    deps.programs.invalidate(current.id);
    deps.receiving?.invalidate(current.id);
    ok(res, programView(row!));
  }
  router.patch('/v1/program', (req, res) => change(res, req.body));
  // the PHP SDK's Settings::update: PUT /v1/settings with { settings: { ... } }, the same fields
  router.put('/v1/settings', (req, res) => {
    const b = (req.body ?? {}) as Record<string, unknown>;
    return change(res, b.settings && typeof b.settings === 'object' && !Array.isArray(b.settings) ? b.settings : b);
  });

  // the credential check of Partnero's clients (PHP SDK Test::test, n8n's credential test)
  router.get('/v1/test', async (_req, res) => {
    const p = await load(res);
    ok(res, { program: { id: p.id, name: p.name, type: p.type } });
  });
  return router;
}
