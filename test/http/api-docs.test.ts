// The OpenAPI document and the reference page: public, generated from the request schemas, no CDN.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../support/service.js';

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService();
});
afterAll(async () => {
  await svc?.stop();
});

describe('API reference', () => {
  it('serves an OpenAPI 3.1 document without a key, every $ref resolving', async () => {
    const res = await fetch(`${svc.url}/v1/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, object>; components: { schemas: Record<string, any> } }; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths).sort()).toEqual([
      '/v1/api-keys',
      '/v1/api-keys/{id}',
      '/v1/coupons',
      '/v1/coupons/{uuid_code}',
      '/v1/customer',
      '/v1/customers',
      '/v1/customers/{key}',
      '/v1/customers/{key}/archive',
      '/v1/customers/{key}/revoke-archive',
      '/v1/customers/{key}/transactions',
      '/v1/customers:search',
      '/v1/integrations',
      '/v1/js/customers',
      '/v1/js/transactions',
      '/v1/js/visits',
      '/v1/leads',
      '/v1/leads/convert',
      '/v1/leads/reject',
      '/v1/leads/{id}',
      '/v1/partner',
      '/v1/partner_referral_links',
      '/v1/partner_referral_links/{id}',
      '/v1/partner_referral_links:search',
      '/v1/partners',
      '/v1/partners/{key}',
      '/v1/partners/{key}/archive',
      '/v1/partners/{key}/balance',
      '/v1/partners/{key}/coupons',
      '/v1/partners/{key}/coupons/{code}',
      '/v1/partners/{key}/earnings',
      '/v1/partners/{key}/reattribute',
      '/v1/partners/{key}/referral_links',
      '/v1/partners/{key}/revoke-archive',
      '/v1/partners/{key}/reward',
      '/v1/partners/{key}/rewards',
      '/v1/partners:search',
      '/v1/partners:sign-in-url',
      '/v1/payout_requests',
      '/v1/payout_requests/{id}',
      '/v1/payout_requests/{id}/approve',
      '/v1/payout_requests/{id}/mark_as_paid',
      '/v1/payout_requests/{id}/reject',
      '/v1/payout_requests:search',
      '/v1/program',
      '/v1/promotion-codes',
      '/v1/promotion-codes/{code}',
      '/v1/rewards/{key}/reject',
      '/v1/rewards/{key}/release',
      '/v1/runs/{runId}',
      '/v1/settings',
      '/v1/test',
      '/v1/transactions',
      '/v1/transactions/bulk',
      '/v1/transactions/{key}',
      '/v1/transactions/{key}/archive',
      '/v1/transactions/{key}/revoke-archive',
      '/v1/webhooks',
      '/v1/webhooks/events',
      '/v1/webhooks/{key}',
      '/v1/webhooks/{key}/deliveries',
      '/v1/webhooks/{key}/deliveries/{id}/retry',
    ]);
    // generated from the zod schema that validates the request
    const create = doc.components.schemas.CreateTransaction;
    expect(Object.keys(create.properties)).toEqual(expect.arrayContaining(['key', 'customer', 'amount', 'amount_units', 'partner', 'options', 'rewardable', 'created_at']));
    expect(create.required).toEqual(expect.arrayContaining(['customer', 'amount']));
    const bulkItem = doc.components.schemas.BulkRequest.properties.transactions;
    expect(bulkItem.maxItems).toBe(1000);
    const refs = JSON.stringify(doc).match(/"\$ref":"#\/components\/schemas\/([A-Za-z]+)"/g) ?? [];
    expect(refs.length).toBeGreaterThan(10);
    for (const ref of refs) expect(doc.components.schemas).toHaveProperty(ref.split('/').at(-1)!.replace('"', ''));
  });

  it('renders the reference page from assets the service serves itself', async () => {
    const page = await (await fetch(`${svc.url}/docs`)).text();
    expect(page).toContain('/docs/assets/swagger-ui-bundle.js');
    expect(page).not.toMatch(/https?:\/\//);
    const asset = await fetch(`${svc.url}/docs/assets/swagger-ui-bundle.js`);
    expect(asset.status).toBe(200);
    expect((await asset.text()).length).toBeGreaterThan(100_000);
    expect((await fetch(`${svc.url}/docs/init.js`)).status).toBe(200);
  });
});
