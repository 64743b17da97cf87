// Outbound webhooks in production mode (WEBHOOKS_ALLOW_LOOPBACK unset): loopback receivers are
// refused when subscribing, and again when delivering (a subscription whose host has come to
// resolve to loopback since), for events and bulk callbacks alike.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webhookDeliveries, webhookSubscriptions } from '../../src/db/schema.js';
import { startTestService, type TestService } from '../support/service.js';
import { callApi } from '../support/api.js';

const KEY = 'pl_test_outbound_ssrf_key';
let svc: TestService;
let hits = 0;
const receiver = http.createServer((req, res) => {
  hits++;
  req.resume();
  res.writeHead(200).end();
});
let port = 0;

const api = (method: string, path: string, body?: unknown) => callApi(svc.url, method, path, body, KEY);

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
  port = (receiver.address() as AddressInfo).port;
  svc = await startTestService({ API_KEY: KEY, WEBHOOKS_DISPATCH_INTERVAL_MS: '100' });
});
afterAll(async () => {
  await svc?.stop();
  receiver.closeAllConnections();
  await new Promise((r) => receiver.close(r));
});

describe('production mode', () => {
  it('refuses loopback receivers when subscribing, in every spelling', async () => {
    for (const host of ['127.0.0.1', 'localhost', '[::1]', '[::ffff:127.0.0.1]', '0.0.0.0', '127.1', '2130706433']) {
      const r = await api('POST', '/v1/webhooks', { url: `http://${host}:${port}/hook`, events: ['partner.created'] });
      expect(r, host).toMatchObject({ status: 422, body: { status: 0, error: { code: 'url_not_allowed', fields: { url: expect.stringMatching(/loopback|unspecified/) } } } });
    }
    expect((await api('GET', '/v1/webhooks')).body.data).toEqual([]);
  });

  it('checks again when delivering: a subscription that now points at loopback is not sent to', async () => {
    // as if it was saved while its host resolved to a public address
    const [sub] = await svc.db.db
      .insert(webhookSubscriptions)
      .values({ programId: svc.programId, key: 'wh_rebound', url: `http://localhost:${port}/hook`, events: ['partner.created'], secret: 'whsec_x' })
      .returning();
    expect((await api('POST', '/v1/partners', { key: 'P1' })).status).toBe(201);
    const [d] = await until(
      'attempted',
      () => svc.db.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.subscriptionId, sub!.id)),
      (rows) => rows[0]?.attempts === 1,
    );
    expect(d).toMatchObject({ status: 'retrying', responseCode: null, lastError: expect.stringMatching(/^refused: the host localhost resolves to (127\.0\.0\.1|::1), a loopback address/) });
    // the production schedule: the first retry about 5 s later
    expect(d!.nextRetryAt!.getTime() - Date.now()).toBeGreaterThan(2_000);
    expect(d!.nextRetryAt!.getTime() - Date.now()).toBeLessThanOrEqual(5_000);
    expect(hits).toBe(0);
  });

  it('a bulk completion callback to loopback is refused the same way', async () => {
    await api('POST', '/v1/customers', { key: 'c1', partner: { key: 'P1' } });
    const r = await api('POST', '/v1/transactions/bulk', { options: { callback: `http://127.0.0.1:${port}/bulk` }, transactions: [{ cid: 'c1', total: 100 }] });
    const run = await until('callback attempted', () => api('GET', `/v1/runs/${r.body.runId}`), (x) => /^retrying/.test(x.body.data.callback?.status ?? ''));
    expect(run.body.data.callback.status).toMatch(/^retrying: refused: .*127\.0\.0\.1, a loopback address/);
    expect(hits).toBe(0);
  });
});
