// GET /v1/integrations: for the key's program, is each gateway connected and being read? Settings
// present, last event received and processed, the last 24 hours by outcome, refused deliveries and
// why, where partner_key was found, gateways gone silent, and outbound webhooks that were disabled.
import { Router, type Request, type Response } from 'express';
import { clockSkewWarning, type ClockSkew } from '../../clock-skew.js';
import { and, desc, eq, isNotNull, isNull, sql } from 'drizzle-orm';
import { PARTNER_KEY_PLACES } from '../../core/payment-event.js';
import type { Db } from '../../db/client.js';
import { retryingByGateway } from '../../db/inbox.js';
import { reconcileStatus } from '../../db/reconcile-runs.js';
import { notConfiguredWhere } from '../../db/reattribute.js';
import { programs, transactions, webhookSubscriptions, type GatewaySettings } from '../../db/schema.js';
import { adapters } from '../../gateways/registry.js';
import { ok, programId, timestamp } from './respond.js';

/** Codes of deliveries refused because the signature or credentials did not check out. */
export const SIGNATURE_CODES = ['invalid_signature', 'missing_signature', 'stale_timestamp', 'missing_credentials', 'invalid_credentials'];

/** partner_key places are counted over the payments recorded in this many days. */
export const PLACES_WINDOW_DAYS = 30;
const RECENT = 5;

/** Which settings of a gateway are present: webhooks can be verified, the API can be called. */
export function gatewaySetup(gateway: string, settings: GatewaySettings): { webhooks: boolean; api: boolean } {
  switch (gateway) {
    case 'stripe':
    case 'paddle': {
      const s = settings[gateway];
      return { webhooks: (s?.webhookSecrets.length ?? 0) > 0, api: !!s?.apiKey };
    }
    case 'woocommerce': {
      const s = settings.woocommerce;
      return { webhooks: (s?.webhookSecrets.length ?? 0) > 0, api: !!(s?.url && s.consumerKey && s.consumerSecret) };
    }
    case 'chargebee': {
      const s = settings.chargebee;
      return { webhooks: !!(s?.username && s.password), api: !!(s?.site && s.apiKey) };
    }
    default:
      return { webhooks: false, api: false };
  }
}

/** Where each gateway's webhook secret (or credentials) and API access are set from the environment. */
export const SETTINGS_HINT: Record<string, { secret: string; api: string }> = {
  stripe: { secret: 'STRIPE_WEBHOOK_SECRET', api: 'STRIPE_API_KEY' },
  paddle: { secret: 'PADDLE_WEBHOOK_SECRET', api: 'PADDLE_API_KEY' },
  woocommerce: { secret: 'WOOCOMMERCE_WEBHOOK_SECRET', api: 'WOOCOMMERCE_URL, WOOCOMMERCE_CONSUMER_KEY and WOOCOMMERCE_CONSUMER_SECRET' },
  chargebee: { secret: 'CHARGEBEE_WEBHOOK_USERNAME and CHARGEBEE_WEBHOOK_PASSWORD', api: 'CHARGEBEE_SITE and CHARGEBEE_API_KEY' },
};

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/**
 * What the refusals of the last 24 hours mean, one warning per cause: a signature that does not match
 * (the secret), a stale timestamp (a clock, or a delivery sent again late: not the secret), Basic
 * credentials that do not match (Chargebee's username and password), or no secret set at all.
 */
export function refusalWarnings(gateway: string, rejectedBy: Record<string, number>): string[] {
  const n = (...codes: string[]) => codes.reduce((sum, c) => sum + (rejectedBy[c] ?? 0), 0);
  const hint = SETTINGS_HINT[gateway] ?? { secret: 'its webhook secret', api: 'its API key' };
  const refused = (k: number) => `${gateway}: ${plural(k, 'delivery', 'deliveries')} refused in the last 24 hours`;
  const out: string[] = [];
  const signature = n('invalid_signature', 'missing_signature');
  if (signature) {
    out.push(
      `${refused(signature)}: the signature does not match (or is missing): check the webhook secret (${hint.secret}, or PATCH /v1/program) against the endpoint's signing secret in the ${gateway} dashboard`,
    );
  }
  const stale = n('stale_timestamp');
  if (stale) {
    out.push(
      `${refused(stale)}: the signature timestamp is more than 5 minutes off: this host's clock is wrong (partner_ledger_clock_skew_seconds) or old deliveries were sent again late; the secret is not the cause`,
    );
  }
  const credentials = n('invalid_credentials', 'missing_credentials');
  if (credentials) {
    out.push(
      `${refused(credentials)}: the HTTP Basic username or password does not match (or is missing): check ${hint.secret} (or PATCH /v1/program) against the webhook's basic authentication in ${gateway}`,
    );
  }
  const unset = n('gateway_not_configured');
  if (unset) out.push(`${refused(unset)}: no webhook secret is set for this program: set ${hint.secret} (or PATCH /v1/program)`);
  return out;
}

/** Payments whose partner key named nobody, and lookups skipped for want of API access, are counted over this many days. */
export const ATTRIBUTION_WINDOW_DAYS = 7;

type AttributionIssues = {
  unknownKeys: { key: string; payments: number; lastAt: Date }[];
  unknownPayments: number;
  notConfigured: number;
};

/**
 * Per gateway, over the payments booked in the window: partner keys that name no partner (nor, in a
 * refer-a-friend program, a customer) today, and payments whose partner-key lookups were skipped
 * because the gateway's API access is not set (`lookups[].result: not_configured`).
 */
async function attributionIssues(db: Db, pid: string, since: Date): Promise<Map<string, AttributionIssues>> {
  const at = since.toISOString();
  // by booking time (recorded_at), as partner_key_places: a payment's own time (created_at) may be long past
  const [unknown, unconfigured] = await Promise.all([
    db.execute<{ gateway: string; key: string; n: string; last_at: unknown }>(sql`
      select t.gateway, t.attribution->>'partner_key' as key, count(*)::text as n, max(t.recorded_at) as last_at
      from transactions t
      where t.program_id = ${pid} and t.recorded_at >= ${at}::timestamptz and t.attribution->>'partner_key' is not null
        and not exists (
          select 1 from partners p where p.program_id = t.program_id and p.deleted_at is null
            and (p.key = t.attribution->>'partner_key' or p.referral_code = t.attribution->>'partner_key'))
        and not exists (
          select 1 from customers c where c.program_id = t.program_id and c.deleted_at is null and not c.per_partner
            and c.key = t.attribution->>'partner_key')
      group by 1, 2
      order by max(t.recorded_at) desc`),
    db.execute<{ gateway: string; n: string }>(sql`
      select gateway, count(*)::text as n from transactions
      where program_id = ${pid} and recorded_at >= ${at}::timestamptz
        and attribution->'lookups' @> '[{"result": "not_configured"}]'::jsonb
      group by gateway`),
  ]);
  const out = new Map<string, AttributionIssues>();
  const of = (gateway: string) => {
    let v = out.get(gateway);
    if (!v) out.set(gateway, (v = { unknownKeys: [], unknownPayments: 0, notConfigured: 0 }));
    return v;
  };
  for (const r of unknown.rows) {
    const v = of(r.gateway);
    v.unknownKeys.push({ key: r.key, payments: Number(r.n), lastAt: asDate(r.last_at)! });
    v.unknownPayments += Number(r.n);
  }
  for (const r of unconfigured.rows) of(r.gateway).notConfigured = Number(r.n);
  return out;
}

const asDate = (v: unknown): Date | null => (v === null || v === undefined ? null : v instanceof Date ? v : new Date(String(v)));

export type IntegrationStatus = Awaited<ReturnType<typeof integrationStatus>>;

export async function integrationStatus(
  db: Db,
  pid: string,
  opts: { silenceHours: number; now?: Date; baseUrl?: string; clockSkew?: ClockSkew | null },
) {
  const now = opts.now ?? new Date();
  const since = new Date(now.getTime() - 24 * 3600_000);
  const placesSince = new Date(now.getTime() - PLACES_WINDOW_DAYS * 86_400_000);
  const names = adapters.map((a) => a.gateway as string);
  const list = names.join(',');

  // deliveries waiting for their next attempt (a gateway API down): else only a bare `pending`
  const retryingP = retryingByGateway(db, pid, names, RECENT);
  const attributionP = attributionIssues(db, pid, new Date(now.getTime() - ATTRIBUTION_WINDOW_DAYS * 86_400_000));
  const waitingLookupsP = db.execute<{ gateway: string; n: string }>(
    sql`select ${transactions.gateway} as gateway, count(*)::text as n from ${transactions} where ${notConfiguredWhere(pid)} group by 1`,
  );
  // each query uses the (program, gateway, received_at) indexes: cheap however large the inbox
  const [program, last, lastProcessed, counts, rejectionCounts, rejections, failures, places, disabled, reconciles] = await Promise.all([
    db.select({ gateways: programs.gateways }).from(programs).where(eq(programs.id, pid)),
    db.execute<{ gateway: string; event_id: string; event_type: string | null; status: string; received_at: unknown }>(sql`
      select g.gateway, w.event_id, w.event_type, w.status, w.received_at
      from unnest(string_to_array(${list}, ',')) as g(gateway)
      join lateral (
        select event_id, event_type, status, received_at from webhook_events
        where program_id = ${pid} and gateway = g.gateway order by received_at desc limit 1
      ) w on true`),
    db.execute<{ gateway: string; event_id: string; event_type: string | null; received_at: unknown; processed_at: unknown }>(sql`
      select g.gateway, w.event_id, w.event_type, w.received_at, w.processed_at
      from unnest(string_to_array(${list}, ',')) as g(gateway)
      join lateral (
        select event_id, event_type, received_at, processed_at from webhook_events
        where program_id = ${pid} and gateway = g.gateway and status = 'processed' order by received_at desc limit 1
      ) w on true`),
    db.execute<{ gateway: string; status: string; n: string }>(sql`
      select gateway, status, count(*)::text as n from webhook_events
      where program_id = ${pid} and received_at >= ${since.toISOString()}::timestamptz
      group by gateway, status`),
    db.execute<{ gateway: string; code: string; n: string }>(sql`
      select gateway, code, count(*)::text as n from webhook_rejections
      where program_id = ${pid} and received_at >= ${since.toISOString()}::timestamptz
      group by gateway, code`),
    db.execute<{ gateway: string; code: string; message: string; received_at: unknown }>(sql`
      select g.gateway, r.code, r.message, r.received_at
      from unnest(string_to_array(${list}, ',')) as g(gateway)
      join lateral (
        select code, message, received_at from webhook_rejections
        where program_id = ${pid} and gateway = g.gateway order by received_at desc limit ${RECENT}
      ) r on true
      order by r.received_at desc`),
    db.execute<{ gateway: string; event_id: string; event_type: string | null; last_error: string | null; received_at: unknown }>(sql`
      select g.gateway, w.event_id, w.event_type, w.last_error, w.received_at
      from unnest(string_to_array(${list}, ',')) as g(gateway)
      join lateral (
        select event_id, event_type, last_error, received_at from webhook_events
        where program_id = ${pid} and gateway = g.gateway and status = 'failed'
          and received_at >= ${new Date(now.getTime() - 7 * 86_400_000).toISOString()}::timestamptz
        order by received_at desc limit ${RECENT}
      ) w on true
      order by w.received_at desc`),
    db.execute<{ gateway: string; place: string | null; n: string }>(sql`
      select gateway, attribution->>'partner_key_place' as place, count(*)::text as n from transactions
      where program_id = ${pid} and recorded_at >= ${placesSince.toISOString()}::timestamptz
      group by 1, 2`),
    db
      .select()
      .from(webhookSubscriptions)
      .where(and(eq(webhookSubscriptions.programId, pid), isNotNull(webhookSubscriptions.disabledAt), isNull(webhookSubscriptions.deletedAt)))
      .orderBy(desc(webhookSubscriptions.disabledAt)),
    reconcileStatus(db, pid, now),
  ]);

  const retryingAll = await retryingP;
  const attributionAll = await attributionP;
  const waitingLookups = new Map((await waitingLookupsP).rows.map((r) => [r.gateway, Number(r.n)]));
  const settings = program[0]?.gateways ?? {};
  const warnings: string[] = [];
  const gateways = names.map((gateway) => {
    const setup = gatewaySetup(gateway, settings);
    const lastRow = last.rows.find((r) => r.gateway === gateway);
    const processedRow = lastProcessed.rows.find((r) => r.gateway === gateway);
    const byStatus = (status: string) => Number(counts.rows.find((r) => r.gateway === gateway && r.status === status)?.n ?? 0);
    const rejectedBy: Record<string, number> = {};
    for (const r of rejectionCounts.rows.filter((x) => x.gateway === gateway)) rejectedBy[r.code] = Number(r.n);
    const rejectedSignature = SIGNATURE_CODES.reduce((n, c) => n + (rejectedBy[c] ?? 0), 0);
    const rejectedAll = Object.values(rejectedBy).reduce((a, b) => a + b, 0);

    const lastReceivedAt = asDate(lastRow?.received_at);
    const silentHours = lastReceivedAt ? (now.getTime() - lastReceivedAt.getTime()) / 3600_000 : null;
    const silent = silentHours !== null && silentHours > opts.silenceHours;
    if (silent) {
      warnings.push(
        `${gateway}: no event received for ${Math.floor(silentHours!)} hours (it used to send events): check the webhook endpoint in the ${gateway} dashboard`,
      );
    }
    warnings.push(...refusalWarnings(gateway, rejectedBy));
    if (!setup.webhooks && lastReceivedAt) warnings.push(`${gateway}: events were received but its webhook secret is no longer set`);
    const failedLast24h = byStatus('failed');
    if (failedLast24h > 0) {
      const latest = failures.rows.find((r) => r.gateway === gateway)?.last_error;
      warnings.push(
        `${gateway}: ${plural(failedLast24h, 'event')} failed in the last 24 hours${latest ? ` (latest: ${latest})` : ''}: ` +
          `see recent_failures; once the cause is fixed, \`replay --gateway ${gateway}\` books them`,
      );
    }
    const issues = attributionAll.get(gateway) ?? { unknownKeys: [], unknownPayments: 0, notConfigured: 0 };
    if (issues.unknownPayments > 0) {
      const keys = issues.unknownKeys.slice(0, RECENT).map((k) => (k.payments > 1 ? `${k.key} ×${k.payments}` : k.key));
      const more = issues.unknownKeys.length > RECENT ? ` and ${issues.unknownKeys.length - RECENT} more` : '';
      warnings.push(
        `${gateway}: ${plural(issues.unknownPayments, 'payment')} in the last ${ATTRIBUTION_WINDOW_DAYS} days named a partner key no partner has ` +
          `(${keys.join(', ')}${more}): create those partners (POST /v1/partners) or fix the key where the checkout sets it; those payments earned nothing`,
      );
    }
    if (issues.notConfigured > 0 && !setup.api) {
      warnings.push(
        `${gateway}: ${plural(issues.notConfigured, 'payment')} in the last ${ATTRIBUTION_WINDOW_DAYS} days had partner_key lookups skipped ` +
          `(on the customer, subscription ...) because the ${gateway} API access is not set: set ${SETTINGS_HINT[gateway]?.api ?? 'its API key'} (or PATCH /v1/program)`,
      );
    }
    const lookupsWaiting = waitingLookups.get(gateway) ?? 0;
    if (lookupsWaiting > 0 && setup.api) {
      warnings.push(
        `${gateway}: ${plural(lookupsWaiting, 'payment')} booked while its API access was not set still ${lookupsWaiting === 1 ? 'waits' : 'wait'} for their partner-key lookups: ` +
          `\`reattribute --lookups --gateway ${gateway}\` does them now and credits the partner found`,
      );
    }
    const retrying = retryingAll.get(gateway)!;
    if (retrying.count > 0) {
      warnings.push(
        `${gateway}: ${retrying.count} event${retrying.count === 1 ? '' : 's'} waiting to be retried (last error: ${retrying.lastError}); ` +
          'they retry by themselves for about two hours, or now with `replay --status retrying --retry-now`',
      );
    }
    const rec = reconciles.get(gateway);
    if (rec?.missingBetween && rec.missingLast7Days > 0) {
      const n = rec.missingLast7Days;
      warnings.push(
        `${gateway}: ${n} ${n === 1 ? 'event was' : 'events were'} not delivered between ${timestamp(rec.missingBetween.from)} and ${timestamp(rec.missingBetween.to)} ` +
          '(reconcile found and booked them): check the endpoint and its secret',
      );
    }
    if (rec?.lastRunStatus === 'failed') warnings.push(`${gateway}: the last reconcile failed: ${rec.lastRunError ?? 'no reason recorded'}`);

    const placeCounts: Record<string, number> = {};
    for (const p of PARTNER_KEY_PLACES.filter((p) => p.startsWith(`${gateway}_`))) placeCounts[p] = 0;
    placeCounts.none = 0;
    for (const r of places.rows.filter((x) => x.gateway === gateway)) placeCounts[r.place ?? 'none'] = (placeCounts[r.place ?? 'none'] ?? 0) + Number(r.n);

    return {
      gateway,
      configured: setup.webhooks,
      webhook_secret_set: setup.webhooks,
      api_access: setup.api,
      webhook_url: `${opts.baseUrl ?? ''}/webhooks/${gateway}/${pid}`,
      last_event: lastRow
        ? { event_id: lastRow.event_id, event_type: lastRow.event_type, status: lastRow.status, received_at: timestamp(lastReceivedAt) }
        : null,
      last_processed: processedRow
        ? {
            event_id: processedRow.event_id,
            event_type: processedRow.event_type,
            received_at: timestamp(asDate(processedRow.received_at)),
            processed_at: timestamp(asDate(processedRow.processed_at)),
          }
        : null,
      silent,
      silent_for_hours: silent ? Math.floor(silentHours!) : null,
      last_24h: {
        received: ['received', 'queued', 'processed', 'ignored', 'failed'].reduce((n, s) => n + byStatus(s), 0),
        processed: byStatus('processed'),
        ignored: byStatus('ignored'),
        failed: byStatus('failed'),
        pending: byStatus('received') + byStatus('queued'),
        rejected_signature: rejectedSignature,
        rejected_other: rejectedAll - rejectedSignature,
        rejected_by_code: rejectedBy,
      },
      recent_rejections: rejections.rows
        .filter((r) => r.gateway === gateway)
        .map((r) => ({ code: r.code, message: r.message, received_at: timestamp(asDate(r.received_at)) })),
      recent_failures: failures.rows
        .filter((r) => r.gateway === gateway)
        .map((r) => ({ event_id: r.event_id, event_type: r.event_type, reason: r.last_error, received_at: timestamp(asDate(r.received_at)) })),
      partner_key_places: { window_days: PLACES_WINDOW_DAYS, counts: placeCounts },
      unknown_partner_keys: {
        window_days: ATTRIBUTION_WINDOW_DAYS,
        payments: issues.unknownPayments,
        keys: issues.unknownKeys.slice(0, RECENT).map((k) => ({ key: k.key, payments: k.payments, last_at: timestamp(k.lastAt) })),
      },
      lookups_not_configured: {
        window_days: ATTRIBUTION_WINDOW_DAYS,
        payments: issues.notConfigured,
        // the setting a lookup needs, while it is missing
        missing_setting: setup.api ? null : (SETTINGS_HINT[gateway]?.api ?? null),
        // every payment (whenever booked) still booked to nobody for want of it: `reattribute --lookups` redoes them
        waiting: lookupsWaiting,
      },
      retrying: {
        count: retrying.count,
        oldest_at: timestamp(retrying.oldestAt),
        last_error: retrying.lastError,
        examples: retrying.examples.map((e) => ({
          event_id: e.eventId,
          event_type: e.eventType,
          attempts: e.attempts,
          last_error: e.lastError,
          received_at: timestamp(e.receivedAt),
        })),
      },
      // what the reconciles (scheduled and from the CLI) found in the gateway's own record that no webhook delivered
      reconcile: {
        last_reconciled_to: timestamp(rec?.lastReconciledTo ?? null),
        last_run_at: timestamp(rec?.lastRunAt ?? null),
        last_run_status: rec?.lastRunStatus ?? null,
        missing_last_run: rec?.missingLastRun ?? null,
        missing_last_7_days: rec?.missingLast7Days ?? 0,
      },
    };
  });

  const disabledSubscriptions = disabled.map((s) => ({
    key: s.key,
    name: s.name,
    url: s.url,
    events: s.events,
    disabled_at: timestamp(s.disabledAt),
    disabled_reason: s.disabledReason,
  }));
  for (const s of disabledSubscriptions) warnings.push(`outbound webhook ${s.key} (${s.url}) is disabled: ${s.disabled_reason ?? 'no reason recorded'}`);
  // signature timestamps are judged by this host's clock: off by minutes, Stripe and Paddle deliveries are refused
  const clock = clockSkewWarning(opts.clockSkew ?? null);
  if (clock) warnings.push(clock);

  return {
    generated_at: timestamp(now),
    silence_hours: opts.silenceHours,
    gateways,
    outbound_webhooks: { disabled: disabledSubscriptions },
    warnings,
  };
}

export function integrationsRouter(deps: { db: Db; integrationSilenceHours?: number; clockSkew?: () => ClockSkew | null }): Router {
  const router = Router();
  const silenceHours = deps.integrationSilenceHours ?? 24;
  router.get('/v1/integrations', async (req: Request, res: Response) => {
    const baseUrl = `${req.protocol}://${req.get('host')}`;
    ok(res, await integrationStatus(deps.db, programId(res), { silenceHours, baseUrl, clockSkew: deps.clockSkew?.() }));
  });
  return router;
}
