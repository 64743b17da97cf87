// Every JSON answer of the service carries `Content-Type: application/json` exactly, no `; charset=`:
// Partnero's PHP SDK decodes a body only then. Walked door by door: the REST API (answers, lists,
// errors), the gateway receivers (queued, duplicate, acknowledged, refused), health, the home page
// and the queue dashboard's JSON.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { delivery, gatewayEnv, paymentDelivery, type Sale } from '../support/deliveries.js';
import { startTestService, type TestService } from '../support/service.js';
import { wire, type WireAnswer } from './partnero/wire.js';

const KEY = 'pl_test_content_type_key';
const DASHBOARD = { user: 'ops', password: 'ops-content-type-pass' };
let svc: TestService;

const api = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
  wire(svc.url, method, path, {
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', ...headers },
  });

const post = (path: string, body: Buffer, headers: Record<string, string>) =>
  wire(svc.url, 'POST', path, { body: body.toString('utf8'), headers });

beforeAll(async () => {
  svc = await startTestService({
    API_KEY: KEY,
    ...gatewayEnv(),
    DASHBOARD_USER: DASHBOARD.user,
    DASHBOARD_PASSWORD: DASHBOARD.password,
  });
});
afterAll(async () => {
  await svc?.stop();
});

/** Each answer's door, status and content type, for one readable failure listing every offender. */
function summary(answers: [string, WireAnswer][]) {
  return answers.map(([door, a]) => ({ door, status: a.status, type: a.type }));
}

describe('Content-Type of every JSON answer', () => {
  it('the REST API: answers, lists, errors of each kind', async () => {
    const answers: [string, WireAnswer][] = [
      ['POST /v1/partners', await api('POST', '/v1/partners', { key: 'ct-p', email: 'ct-p@example.com' })],
      ['POST /v1/transactions', await api('POST', '/v1/transactions', { key: 'ct-t', amount: 10, customer: { key: 'ct-c' }, partner: { key: 'ct-p' } })],
      ['GET /v1/transactions', await api('GET', '/v1/transactions')],
      ['GET /v1/customers?partner_key', await api('GET', '/v1/customers?partner_key=ct-p')],
      ['GET /v1/partners/{key}', await api('GET', '/v1/partners/ct-p')],
      ['GET /v1/webhooks/events', await api('GET', '/v1/webhooks/events')],
      ['GET /v1/program', await api('GET', '/v1/program')],
      ['GET /v1/test', await api('GET', '/v1/test')],
      ['DELETE /v1/transactions/{key}', await api('DELETE', '/v1/transactions/ct-t')],
      ['GET /v1/openapi.json', await api('GET', '/v1/openapi.json', undefined, { authorization: '' })],
      ['404 unknown partner', await api('GET', '/v1/partners/nobody')],
      ['404 no route', await api('GET', '/v1/nowhere')],
      ['401 no key', await api('GET', '/v1/partners', undefined, { authorization: '' })],
      ['400 bad JSON', await api('POST', '/v1/partners', '{"key":')],
      ['422 validation', await api('POST', '/v1/transactions', { key: 'ct-bad', amount: 'ten' })],
      ['415 encoding', await api('POST', '/v1/partners', 'x', { 'content-encoding': 'bogus' })],
    ];
    expect(summary(answers).map((a) => a.status)).toEqual([201, 201, 200, 200, 200, 200, 200, 200, 200, 200, 404, 404, 401, 400, 422, 415]);
    expect(summary(answers).filter((a) => a.type !== 'application/json')).toEqual([]);
  });

  it("the gateway receivers: queued, duplicate, acknowledged, and each refusal", async () => {
    const sale: Sale = { gateway: 'stripe', id: 'ct1', n: 1, amountMinor: 1000n, currency: 'USD', partnerKey: 'ct-p', customer: 1 };
    const paid = paymentDelivery(sale);
    const woo = paymentDelivery({ ...sale, gateway: 'woocommerce', id: 'ct2', n: 2 });
    const unsupported = delivery('stripe', 'evt_ct_unsupported', { id: 'evt_ct_unsupported', object: 'event', type: 'customer.created', created: 1_785_000_000, livemode: false, data: { object: { id: 'cus_1', object: 'customer' } } });
    const answers: [string, WireAnswer][] = [
      ['stripe queued', await post('/webhooks/stripe', paid.body, paid.headers())],
      ['stripe duplicate', await post('/webhooks/stripe', paid.body, paid.headers())],
      ['woocommerce queued', await post('/webhooks/woocommerce', woo.body, woo.headers())],
      ['stripe acknowledged', await post('/webhooks/stripe', unsupported.body, unsupported.headers())],
      ['stripe bad signature', await post('/webhooks/stripe', paid.body, paid.headers({ secret: 'whsec_forged' }))],
      ['paddle no signature', await post('/webhooks/paddle', Buffer.from('{}'), { 'content-type': 'application/json' })],
      ['unknown gateway', await post('/webhooks/nowhere', Buffer.from('{}'), { 'content-type': 'application/json' })],
      ['unknown program', await post('/webhooks/stripe/00000000-0000-4000-8000-000000000000', paid.body, paid.headers())],
    ];
    expect(summary(answers).map((a) => a.status)).toEqual([200, 200, 200, 200, 400, 400, 404, 404]);
    expect(answers[0]![1].body).toEqual({ received: true });
    expect(summary(answers).filter((a) => a.type !== 'application/json')).toEqual([]);
  });

  it('health, the home page and the queue dashboard', async () => {
    const basic = `Basic ${Buffer.from(`${DASHBOARD.user}:${DASHBOARD.password}`).toString('base64')}`;
    const answers: [string, WireAnswer][] = [
      ['GET /', await wire(svc.url, 'GET', '/')],
      ['GET /healthz', await wire(svc.url, 'GET', '/healthz')],
      ['GET /readyz', await wire(svc.url, 'GET', '/readyz')],
      ['dashboard 401', await wire(svc.url, 'GET', '/admin/queues/api/queues')],
      ['dashboard API', await wire(svc.url, 'GET', '/admin/queues/api/queues', { headers: { authorization: basic } })],
    ];
    expect(summary(answers).map((a) => a.status)).toEqual([200, 200, 200, 401, 200]);
    expect(summary(answers).filter((a) => a.type !== 'application/json')).toEqual([]);
  });
});
