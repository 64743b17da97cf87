// GET /v1/integrations: for the key's program, is each gateway connected and being read? Settings
// present, last event received and processed, the last 24 hours by outcome, refused deliveries and
// why, where partner_key was found, gateways gone silent, and outbound webhooks that were disabled.
import { Router, type Request, type Response } from 'express';
import { clockSkewWarning, type ClockSkew } from '../../clock-skew.js';
import { and, desc, eq, isNotNull, isNull, sql } from 'drizzle-orm';
import { PARTNER_KEY_PLACES } from '../../core/payment-event.js';
import type { Db } from '../../db/client.js';
import { retryingByGateway } from '../../db/inbox.js';
import { programs, webhookSubscriptions, type GatewaySettings } from '../../db/schema.js';
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
  // each query uses the (program, gateway, received_at) indexes: cheap however large the inbox
  const [program, last, lastProcessed, counts, rejectionCounts, rejections, failures, places, disabled] = await Promise.all([
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
  ]);

  const retryingAll = await retryingP;
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
    if (rejectedSignature > 0) {
      warnings.push(`${gateway}: ${rejectedSignature} deliveries refused in the last 24 hours (signature or credentials): check the webhook secret`);
    }
    if (!setup.webhooks && lastReceivedAt) warnings.push(`${gateway}: events were received but its webhook secret is no longer set`);
    const retrying = retryingAll.get(gateway)!;
    if (retrying.count > 0) {
      warnings.push(
        `${gateway}: ${retrying.count} event${retrying.count === 1 ? '' : 's'} waiting to be retried (last error: ${retrying.lastError}); ` +
          'they retry by themselves for about two hours, or now with `replay --status retrying --retry-now`',
      );
    }

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
