// Outbound webhooks end to end: subscriptions through /v1/webhooks, every event delivered to a
// local receiver that verifies the signature as a client would, retries with the same id, the
// delivery log, a retry by hand, and the 5-day flag.
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyEvents, matureRewards } from '../../src/db/ledger.js';
import { createProgram, loadProgramRules } from '../../src/db/programs.js';
import { outbox, webhookDeliveries, webhookSubscriptions } from '../../src/db/schema.js';
import { OUTBOUND_WEBHOOKS_QUEUE } from '../../src/queue/queues.js';
import { dispute, payment } from '../support/ledger.js';
import { startTestService, type TestService } from '../support/service.js';
import { callApi } from '../support/api.js';

const KEY = 'pl_test_outbound_key';
let svc: TestService;

// ---- the receiver: one list of requests per path, and what to answer ----
type Received = { headers: http.IncomingHttpHeaders; raw: Buffer; body: any }; // eslint-disable-line @typescript-eslint/no-explicit-any
const inbox = new Map<string, Received[]>();
const answers = new Map<string, number[]>(); // per path: the statuses to answer, in turn (then 200)
const receiver = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const raw = Buffer.concat(chunks);
    const path = req.url ?? '/';
    inbox.set(path, [...(inbox.get(path) ?? []), { headers: req.headers, raw, body: JSON.parse(raw.toString('utf8')) }]);
    res.writeHead(answers.get(path)?.shift() ?? 200).end();
  });
});
let base = '';

/** What a client does: HMAC-SHA256 of the raw body under its secret, compared in constant time. */
function verified(r: Received, secret: string): boolean {
  const expected = createHmac('sha256', secret).update(r.raw).digest();
  const given = Buffer.from(String(r.headers.signature ?? ''), 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

async function receivedAt(path: string, n: number, timeoutMs = 10_000): Promise<Received[]> {
  const started = Date.now();
  while ((inbox.get(path)?.length ?? 0) < n) {
    if (Date.now() - started > timeoutMs) throw new Error(`${path}: ${inbox.get(path)?.length ?? 0} of ${n} requests arrived`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return inbox.get(path)!;
}
const eventAt = async (path: string, event: string, key?: string) => {
  const started = Date.now();
  for (;;) {
    const found = (inbox.get(path) ?? []).find((r) => r.body.event === event && (key === undefined || r.body.data.key === key));
    if (found) return found;
    if (Date.now() - started > 10_000) throw new Error(`${path}: no ${event} ${key ?? ''}; got ${(inbox.get(path) ?? []).map((r) => r.body.event).join(', ')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

const api = (method: string, path: string, body?: unknown, key: string = KEY) => callApi(svc.url, method, path, body, key);

async function subscribe(path: string, events: string[], key = KEY) {
  const r = await api('POST', '/v1/webhooks', { name: path, url: `${base}${path}`, events, is_active: true }, key);
  expect(r.status).toBe(201);
  return r.body.data as { key: string; signature: string };
}

async function until<T>(what: string, probe: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const started = Date.now();
  for (;;) {
    const v = await probe();
    if (ok(v)) return v;
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

beforeAll(async () => {
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  svc = await startTestService({
    API_KEY: KEY,
    // the receiver is on loopback: allowed for tests only
    WEBHOOKS_ALLOW_LOOPBACK: 'true',
    // short retries for the test (the production schedule is unit-tested)
    WEBHOOKS_RETRY_DELAYS_MS: '200,200,200',
    WEBHOOKS_DISPATCH_INTERVAL_MS: '100',
  });
});
afterAll(async () => {
  await svc?.stop();
  receiver.closeAllConnections();
  await new Promise((r) => receiver.close(r));
});

describe('/v1/webhooks', () => {
  it('subscribes, shows the signing secret once, masks it afterwards, updates and deletes', async () => {
    const created = await api('POST', '/v1/webhooks', { name: 'CRM', url: `${base}/crm`, events: ['transaction.created', 'partner.created'], is_active: true });
    expect(created).toMatchObject({
      status: 201,
      body: {
        status: 1,
        data: { key: expect.stringMatching(/^wh_/), name: 'CRM', url: `${base}/crm`, events: ['transaction.created', 'partner.created'], is_active: true, signature: expect.stringMatching(/^whsec_.{32}$/), created_at: expect.any(String) },
      },
    });
    const { key, signature } = created.body.data;
    const list = await api('GET', '/v1/webhooks');
    expect(list.body.data).toEqual([expect.objectContaining({ key, status: 'active', signature: expect.stringMatching(/^whsec_….{4}$/) })]);
    const one = await api('GET', `/v1/webhooks/${key}`);
    expect(one.body.data).toMatchObject({ key, status: 'active', disabled_at: null, disabled_reason: null, failing_since: null });
    expect(JSON.stringify([list.body, one.body])).not.toContain(signature);

    const patched = await api('PATCH', `/v1/webhooks/${key}`, { name: 'CRM 2', events: ['customer.created'], is_active: false });
    expect(patched.body.data).toMatchObject({ name: 'CRM 2', events: ['customer.created'], is_active: false, status: 'inactive' });
    expect(JSON.stringify(patched.body)).not.toContain(signature);

    const other = await createProgram(svc.db.db, { name: 'Other' });
    expect((await api('GET', `/v1/webhooks/${key}`, undefined, other.apiKey)).status).toBe(404);
    expect((await api('GET', '/v1/webhooks', undefined, other.apiKey)).body.data).toEqual([]);

    expect((await api('DELETE', `/v1/webhooks/${key}`)).body.data).toMatchObject({ key, status: 'deleted' });
    expect((await api('GET', `/v1/webhooks/${key}`)).status).toBe(404);
    expect((await api('GET', '/v1/webhooks')).body.data).toEqual([]);
  });

  it('refuses an unknown event and a URL that is not http(s) or not public with 422', async () => {
    const unknown = await api('POST', '/v1/webhooks', { url: `${base}/x`, events: ['transaction.created', 'transaction.exploded'] });
    expect(unknown).toMatchObject({ status: 422, body: { status: 0, error: { code: 'validation_failed', fields: { 'events.1': expect.stringContaining('unknown event') } } } });
    expect((await api('POST', '/v1/webhooks', { url: `${base}/x`, events: [] })).status).toBe(422);
    expect((await api('POST', '/v1/webhooks', { url: `${base}/x` })).status).toBe(422);
    for (const url of ['ftp://example.com/hook', 'not a url', 'javascript:alert(1)']) {
      const r = await api('POST', '/v1/webhooks', { url, events: ['partner.created'] });
      expect(r, url).toMatchObject({ status: 422, body: { error: { code: 'validation_failed', fields: { url: expect.any(String) } } } });
    }
    // loopback is allowed here (WEBHOOKS_ALLOW_LOOPBACK=true); private and link-local never are
    for (const url of ['http://10.0.0.8/hook', 'http://192.168.1.10/', 'http://172.16.5.4/', 'http://169.254.169.254/latest/meta-data', 'http://100.64.0.1/', 'http://[fd00::1]/', 'http://[::ffff:10.0.0.1]/']) {
      const r = await api('POST', '/v1/webhooks', { url, events: ['partner.created'] });
      expect(r, url).toMatchObject({ status: 422, body: { error: { code: 'url_not_allowed', fields: { url: expect.stringMatching(/public addresses only/) } } } });
    }
    const ok = await subscribe('/patch-target', ['partner.created']);
    expect((await api('PATCH', `/v1/webhooks/${ok.key}`, { url: 'http://10.1.1.1/' })).status).toBe(422);
    expect((await api('PATCH', `/v1/webhooks/${ok.key}`, { events: ['nope'] })).status).toBe(422);
    await api('DELETE', `/v1/webhooks/${ok.key}`);
  });
});

describe('delivery', () => {
  it('delivers every API event, signed, with a delivery id and a timestamp, in the REST API shape', async () => {
    const { key, signature } = await subscribe('/all', [
      'partner.created',
      'partner.updated',
      'partner.archived',
      'partner.deleted',
      'customer.created',
      'customer.updated',
      'customer.deleted',
      'transaction.created',
      'transaction.deleted',
    ]);
    // the create answer adds a figure read at that moment (pending_attribution), not part of the partner
    const { pending_attribution: waiting, ...partner } = (await api('POST', '/v1/partners', { key: 'P1', email: 'p1@example.com', name: 'Ada' })).body.data;
    expect(waiting).toBe(0);
    const created = await eventAt('/all', 'partner.created', 'P1');
    expect(verified(created, signature)).toBe(true);
    expect(verified(created, 'whsec_wrong')).toBe(false);
    expect(created.headers['x-partner-ledger-delivery']).toMatch(/^whd-\d+$/);
    expect(created.headers['x-partner-ledger-event']).toBe('partner.created');
    expect(Math.abs(Number(created.headers['x-partner-ledger-timestamp']) - Date.now() / 1000)).toBeLessThan(60);
    expect(created.headers['content-type']).toBe('application/json');
    // with the subscription's url and key, as Partnero's n8n trigger reads them
    expect(created.body).toEqual({
      event: 'partner.created',
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT[\d:.]+Z$/),
      data: partner,
      url: `${base}/all`,
      webhook_key: key,
    });

    await api('PATCH', '/v1/partners/P1', { surname: 'Lovelace' });
    expect((await eventAt('/all', 'partner.updated', 'P1')).body.data).toMatchObject({ key: 'P1', surname: 'Lovelace' });
    expect((await api('POST', '/v1/partners/P1/archive')).status).toBe(200);
    expect((await eventAt('/all', 'partner.archived', 'P1')).body.data).toMatchObject({ key: 'P1', status: 'archived', archived_at: expect.any(String) });
    expect((await api('POST', '/v1/partners/P1/revoke-archive')).status).toBe(200);

    const customer = (await api('POST', '/v1/customers', { key: 'c1', email: 'c1@example.com', partner: { key: 'P1' } })).body.data;
    expect((await eventAt('/all', 'customer.created', 'c1')).body.data).toEqual(customer);
    await api('PATCH', '/v1/customers/c1', { name: 'Cee' });
    expect((await eventAt('/all', 'customer.updated', 'c1')).body.data).toMatchObject({ key: 'c1', name: 'Cee', partner: 'P1' });

    const txn = (await api('POST', '/v1/transactions', { key: 'order_1', amount: 99.99, amount_units: 'USD', customer: { key: 'c1' } })).body.data;
    const txnEvent = await eventAt('/all', 'transaction.created', 'order_1');
    expect(txnEvent.body.data).toEqual(txn);
    expect(txnEvent.body.data).toMatchObject({ partner: 'P1', customer: 'c1', amount: 99.99, rewards: [{ amount: 19.998, status: 'ok' }] });

    await api('DELETE', '/v1/transactions/order_1');
    const deleted = await eventAt('/all', 'transaction.deleted', 'order_1');
    expect(deleted.body.data).toMatchObject({ key: 'order_1', deleted_at: expect.any(String), deleted_reason: 'deleted_via_api', rewards: [{ deleted_at: expect.any(String) }] });
    // deleting again changes nothing and announces nothing
    await api('DELETE', '/v1/transactions/order_1');

    expect((await api('DELETE', '/v1/customers/c1')).body.data).toMatchObject({ key: 'c1', deleted_at: expect.any(String) });
    expect((await eventAt('/all', 'customer.deleted', 'c1')).body.data).toMatchObject({ key: 'c1', deleted_at: expect.any(String) });
    expect((await api('GET', '/v1/customers')).body.meta.total).toBe(0);
    expect((await api('PATCH', '/v1/customers/c1', { name: 'X' })).status).toBe(409);

    expect((await api('DELETE', '/v1/partners/P1')).body.data).toMatchObject({ key: 'P1', deleted_at: expect.any(String) });
    expect((await eventAt('/all', 'partner.deleted', 'P1')).body.data).toMatchObject({ key: 'P1', deleted_at: expect.any(String) });
    expect((await api('GET', '/v1/partners/P1')).body.data.deleted_at).not.toBeNull();
    expect((await api('GET', '/v1/partners')).body.meta.total).toBe(0);
    // a deleted partner is no longer credited
    expect((await api('POST', '/v1/customers', { key: 'c2', partner: { key: 'P1' } })).status).toBe(422);

    // the ten events (the second partner.updated was not waited for above), each marked delivered once
    // its answer is back, after the receiver saw it; then a pause in which nothing more may come
    await receivedAt('/all', 10);
    await until('ten delivered', () => api('GET', `/v1/webhooks/${key}/deliveries`), (r) => r.body.data.filter((d: { status: string }) => d.status === 'delivered').length >= 10);
    await new Promise((r) => setTimeout(r, 500));
    const all = inbox.get('/all')!;
    expect(all.map((r) => r.body.event).sort()).toEqual(
      // (restoring an archived partner is an update)
      ['customer.created', 'customer.deleted', 'customer.updated', 'partner.archived', 'partner.created', 'partner.deleted', 'partner.updated', 'partner.updated', 'transaction.created', 'transaction.deleted'].sort(),
    );
    expect(all.every((r) => verified(r, signature))).toBe(true);
    expect(new Set(all.map((r) => r.headers['x-partner-ledger-delivery'])).size).toBe(10);

    const log = await api('GET', `/v1/webhooks/${key}/deliveries`);
    expect(log.body.meta.total).toBe(10);
    expect(log.body.data.every((d: { status: string; response_code: number; attempts: number }) => d.status === 'delivered' && d.response_code === 200 && d.attempts === 1)).toBe(true);
    await api('DELETE', `/v1/webhooks/${key}`);
  });

  it('a failed write announces nothing: a duplicate partner, a rolled-back ledger job', async () => {
    const { signature } = await subscribe('/rollback', ['partner.created', 'transaction.created', 'customer.created']);
    expect((await api('POST', '/v1/partners', { key: 'dup' })).status).toBe(201);
    expect((await api('POST', '/v1/partners', { key: 'dup' })).status).toBe(409);
    const program = (await loadProgramRules(svc.db.db, svc.programId))!;
    const good = payment({ customer: { id: 'cus_rollback' } });
    const bad = payment({ customer: { id: 'cus_rollback' }, amount: { minor: '100', currency: 'ZZZ' } });
    await expect(applyEvents(svc.db.db, program, [good, bad])).rejects.toThrow(/ZZZ/);
    await eventAt('/rollback', 'partner.created', 'dup');
    await new Promise((r) => setTimeout(r, 600));
    const got = inbox.get('/rollback')!;
    expect(got.map((r) => `${r.body.event} ${r.body.data.key}`)).toEqual(['partner.created dup']);
    expect(verified(got[0]!, signature)).toBe(true);
    expect(await svc.db.db.select().from(outbox).where(eq(outbox.entityKey, good.transactionKey))).toEqual([]);
  });

  it('reward.status_changed: held by a dispute, restored when it is won, ok when the review period ends', async () => {
    const other = await createProgram(svc.db.db, { name: 'Reviewed', reviewPeriodDays: 30 });
    const { signature } = await subscribe('/rewards', ['reward.status_changed'], other.apiKey);
    await api('POST', '/v1/partners', { key: 'RP' }, other.apiKey);
    const program = (await loadProgramRules(svc.db.db, other.id))!;
    const p = payment({ aliases: ['ch_rw'], occurredAt: new Date().toISOString(), partnerKey: { value: 'RP', place: 'stripe_charge_metadata' } });
    await applyEvents(svc.db.db, program, [p]);
    await applyEvents(svc.db.db, program, [dispute(['ch_rw'], 'opened', { disputeId: 'dp_rw' })]);
    await applyEvents(svc.db.db, program, [dispute(['ch_rw'], 'won', { disputeId: 'dp_rw' })]);
    await matureRewards(svc.db.db, new Date(Date.now() + 31 * 24 * 3600_000));
    const got = await receivedAt('/rewards', 3);
    expect(got.every((r) => verified(r, signature))).toBe(true);
    const byReason = Object.fromEntries(got.map((r) => [r.body.data.reason, r.body]));
    expect(Object.keys(byReason).sort()).toEqual(['dispute_opened', 'dispute_won', 'review_period_ended']);
    expect(byReason.dispute_opened).toMatchObject({
      event: 'reward.status_changed',
      data: { key: expect.any(String), transaction_key: p.transactionKey, partner: 'RP', from: 'review_period', to: 'review_period', reason: 'dispute_opened' },
    });
    expect(byReason.dispute_won.data).toMatchObject({ transaction_key: p.transactionKey, from: 'review_period', to: 'review_period' });
    expect(byReason.review_period_ended.data).toMatchObject({ transaction_key: p.transactionKey, from: 'review_period', to: 'ok', status: 'ok', amount: expect.any(Number) });
  });

  it('a receiver that fails twice then succeeds gets the event three times, with the same id', async () => {
    const { key, signature } = await subscribe('/flaky', ['partner.created']);
    answers.set('/flaky', [500, 502]);
    await api('POST', '/v1/partners', { key: 'flaky-1' });
    const got = await receivedAt('/flaky', 3);
    expect(got.map((r) => r.body.event)).toEqual(['partner.created', 'partner.created', 'partner.created']);
    expect(got.every((r) => verified(r, signature))).toBe(true);
    expect(new Set(got.map((r) => r.headers['x-partner-ledger-delivery'])).size).toBe(1);
    expect(new Set(got.map((r) => r.raw.toString())).size).toBe(1);
    const [d] = (await until('delivered', () => api('GET', `/v1/webhooks/${key}/deliveries`), (r) => r.body.data[0]?.status === 'delivered')).body.data;
    expect(d).toMatchObject({ event: 'partner.created', entity_key: 'flaky-1', status: 'delivered', attempts: 3, response_code: 200, next_retry_at: null, last_error: null, duration_ms: expect.any(Number) });
    expect(`whd-${d.id}`).toBe(got[0]!.headers['x-partner-ledger-delivery']);
    await new Promise((r) => setTimeout(r, 400));
    expect(inbox.get('/flaky')).toHaveLength(3);
  });

  it('lists deliveries; a failed one stays in the queue failed set, and a retry by hand sends it again', async () => {
    const { key, signature } = await subscribe('/down', ['partner.created']);
    answers.set('/down', [503, 503, 503, 503]);
    await api('POST', '/v1/partners', { key: 'down-1' });
    const failed = await until('failed', () => api('GET', `/v1/webhooks/${key}/deliveries`), (r) => r.body.data[0]?.status === 'failed');
    const [d] = failed.body.data;
    expect(d).toMatchObject({ status: 'failed', attempts: 4, response_code: 503, last_error: 'HTTP 503', next_retry_at: null });
    expect((await api('GET', `/v1/webhooks/${key}/deliveries?status=failed`)).body.meta.total).toBe(1);
    expect((await api('GET', `/v1/webhooks/${key}/deliveries?status=delivered`)).body.meta.total).toBe(0);
    expect(inbox.get('/down')).toHaveLength(4);

    const { queue, close } = await svc.openQueue(OUTBOUND_WEBHOOKS_QUEUE);
    try {
      const job = await queue.getJob(`whd-${d.id}`);
      expect(await job?.getState()).toBe('failed');
      expect(job?.failedReason).toMatch(/HTTP 503/);

      const retried = await api('POST', `/v1/webhooks/${key}/deliveries/${d.id}/retry`);
      expect(retried).toMatchObject({ status: 202, body: { data: { id: d.id, status: 'pending' } } });
      const got = await receivedAt('/down', 5);
      expect(verified(got[4]!, signature)).toBe(true);
      expect(got[4]!.headers['x-partner-ledger-delivery']).toBe(`whd-${d.id}`);
      const after = await until('delivered', () => api('GET', `/v1/webhooks/${key}/deliveries`), (r) => r.body.data[0]?.status === 'delivered');
      expect(after.body.data[0]).toMatchObject({ id: d.id, status: 'delivered', attempts: 5, response_code: 200 });
      expect(await until('completed', async () => (await queue.getJob(`whd-${d.id}`))?.getState(), (s) => s === 'completed')).toBe('completed');

      // a delivered one can be sent again too (the receiver lost it)
      expect((await api('POST', `/v1/webhooks/${key}/deliveries/${d.id}/retry`)).status).toBe(202);
      await receivedAt('/down', 6);
    } finally {
      await close();
    }
    expect((await api('POST', `/v1/webhooks/${key}/deliveries/999999/retry`)).status).toBe(404);
    expect((await api('POST', `/v1/webhooks/${key}/deliveries/abc/retry`)).status).toBe(404);
    await api('PATCH', `/v1/webhooks/${key}`, { is_active: false });
    expect((await api('POST', `/v1/webhooks/${key}/deliveries/${d.id}/retry`))).toMatchObject({ status: 409, body: { error: { code: 'webhook_inactive' } } });
  });

  it('flags and disables a subscription whose deliveries have all failed for 5 days; turning it on clears the flag', async () => {
    const { key } = await subscribe('/dead', ['partner.created']);
    answers.set('/dead', Array(20).fill(500));
    const [sub] = await svc.db.db.select().from(webhookSubscriptions).where(eq(webhookSubscriptions.key, key));
    // six days of failed deliveries already
    const [old] = await svc.db.db.insert(outbox).values({ programId: svc.programId, event: 'partner.created', entityKey: 'old', dispatchedAt: new Date() }).returning();
    await svc.db.db.insert(webhookDeliveries).values({ subscriptionId: sub!.id, outboxId: old!.id, event: 'partner.created', status: 'failed', attempts: 8, createdAt: new Date(Date.now() - 6 * 24 * 3600_000) });
    expect((await api('GET', `/v1/webhooks/${key}`)).body.data).toMatchObject({ status: 'active', failing_since: expect.any(String) });
    await api('POST', '/v1/partners', { key: 'dead-1' });
    const flagged = await until('disabled', () => api('GET', `/v1/webhooks/${key}`), (r) => r.body.data.status === 'disabled');
    expect(flagged.body.data).toMatchObject({ is_active: false, disabled_at: expect.any(String), disabled_reason: expect.stringMatching(/failed .*HTTP 500.*5 days/) });
    // the remaining retries are not sent
    await until('cancelled', () => api('GET', `/v1/webhooks/${key}/deliveries?status=cancelled`), (r) => r.body.meta.total === 1);
    const sent = inbox.get('/dead')!.length;
    await api('POST', '/v1/partners', { key: 'dead-2' });
    await new Promise((r) => setTimeout(r, 500));
    expect(inbox.get('/dead')).toHaveLength(sent);

    const on = await api('PATCH', `/v1/webhooks/${key}`, { is_active: true });
    expect(on.body.data).toMatchObject({ status: 'active', is_active: true, disabled_at: null, disabled_reason: null });
  });
});
