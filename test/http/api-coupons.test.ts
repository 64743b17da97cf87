// Promotion codes and coupons through the REST API: a partner's codes, Partnero's /v1/promotion-codes
// and /v1/coupons resources (shapes from Partnero's API reference and its PHP SDK).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProgram } from '../../src/db/programs.js';
import { callApi } from '../support/api.js';
import { startTestService, type TestService } from '../support/service.js';

const KEY = 'pl_test_coupons_key';
let svc: TestService;
const api = (method: string, path: string, body?: unknown, key: string = KEY) => callApi(svc.url, method, path, body, key);

beforeAll(async () => {
  svc = await startTestService({ API_KEY: KEY });
  await api('POST', '/v1/partners', { key: 'alice', name: 'Alice', surname: 'Lee' });
  await api('POST', '/v1/partners', { key: 'bob' });
});
afterAll(async () => {
  await svc?.stop();
});

describe('a partner’s coupons: /v1/partners/{key}/coupons', () => {
  it('creates, lists and deletes a partner’s codes; a code is unique in the program whatever its case', async () => {
    const made = await api('POST', '/v1/partners/alice/coupons', { code: 'ALICE20' });
    expect(made).toMatchObject({
      status: 201,
      body: { status: 1, data: { code: 'ALICE20', partner: 'alice', limit_to_specific_partner: true, coupon_specific_partners: [{ id: 'alice', full_name: 'Alice Lee' }], coupon: null } },
    });
    expect(await api('POST', '/v1/partners/bob/coupons', { code: 'alice20' })).toMatchObject({ status: 409, body: { error: { code: 'duplicate_key' } } });
    expect(await api('POST', '/v1/partners/alice/coupons', { code: 'ALICE20' })).toMatchObject({ status: 409, body: { error: { code: 'duplicate_key' } } });
    await api('POST', '/v1/partners/alice/coupons', { code: 'ALICE-SUMMER' });
    await api('POST', '/v1/partners/bob/coupons', { code: 'BOB10' });

    const list = await api('GET', '/v1/partners/alice/coupons');
    expect(list.body).toMatchObject({ status: 1, meta: { total: 2 } });
    expect(list.body.data.map((c: { code: string }) => c.code)).toEqual(['ALICE20', 'ALICE-SUMMER']);

    // deleted through its own partner only, whatever the case it is named in
    expect(await api('DELETE', '/v1/partners/bob/coupons/ALICE-SUMMER')).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
    expect(await api('DELETE', '/v1/partners/alice/coupons/alice-summer')).toMatchObject({ status: 200, body: { data: { code: 'ALICE-SUMMER' } } });
    expect((await api('GET', '/v1/partners/alice/coupons')).body.meta.total).toBe(1);
  });

  it('refuses bad input with stable codes, and unknown partners with 404', async () => {
    expect(await api('POST', '/v1/partners/alice/coupons', {})).toMatchObject({ status: 422, body: { error: { code: 'validation_failed', fields: { code: expect.any(String) } } } });
    expect(await api('POST', '/v1/partners/alice/coupons', { code: 'A/B' })).toMatchObject({ status: 422, body: { error: { code: 'validation_failed', fields: { code: expect.any(String) } } } });
    expect(await api('POST', '/v1/partners/alice/coupons', { code: 'x'.repeat(256) })).toMatchObject({ status: 422, body: { error: { code: 'validation_failed' } } });
    expect(await api('POST', '/v1/partners/alice/coupons', { code: 42 })).toMatchObject({ status: 422, body: { error: { code: 'validation_failed' } } });
    expect(await api('POST', '/v1/partners/alice/coupons', { code: 'OK1', coupon_uuid: 'no_such_coupon' })).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
    expect(await api('POST', '/v1/partners/ghost/coupons', { code: 'GHOST1' })).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
    expect(await api('GET', '/v1/partners/ghost/coupons')).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
    expect(await api('DELETE', '/v1/partners/alice/coupons/NOPE')).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
    // nothing half-written
    expect((await api('GET', '/v1/promotion-codes?limit=250')).body.data.map((c: { code: string }) => c.code)).not.toContain('OK1');
  });
});

describe("Partnero's /v1/coupons and /v1/promotion-codes", () => {
  it('creates a coupon with promotion codes owned by partners, in Partnero’s shapes', async () => {
    const coupon = await api('POST', '/v1/coupons', {
      name: 'PARTNERO25',
      uuid_code: 'coupon_123',
      active: true,
      coupon_discount_type: 'percent',
      coupon_discount_amount: 25,
      coupon_duration_type: 'months',
      coupon_duration_value: 11,
      redemption_specific_date_status: false,
      redemption_specific_date_value: null,
      redemption_times_status: true,
      redemption_times_value: 24,
      promotion_codes: [{ code: 'PROMO-BOB', limit_to_specific_partner: true, coupon_specific_partners: { id: 'bob', full_name: 'Bob' } }],
    });
    expect(coupon).toMatchObject({
      status: 201,
      body: { status: 1, data: { name: 'PARTNERO25', uuid_code: 'coupon_123', active: true, coupon_discount_type: 'percent', coupon_discount_amount: 25, coupon_duration_type: 'months', coupon_duration_value: 11, redemption_times_status: true, redemption_times_value: 24 } },
    });
    expect((await api('GET', '/v1/promotion-codes/promo-bob')).body.data).toMatchObject({ code: 'PROMO-BOB', partner: 'bob', coupon: { uuid_code: 'coupon_123' } });

    // PromotionCodes::create of the docs: coupon_uuid, restrictions kept and shown
    const code = await api('POST', '/v1/promotion-codes', {
      coupon_uuid: 'coupon_123',
      code: 'PROMO123',
      first_time_order: true,
      limit_to_specific_partner: true,
      coupon_specific_partners: { id: 'alice', full_name: 'Alice Lee' },
      limit_to_specific_customer: false,
      coupon_specific_customers: {},
      minimum_order_status: true,
      minimum_order_value: 22,
      expiration_date_status: false,
      expiration_date_value: null,
      redemption_times_status: false,
      redemption_times_value: null,
      metadata: {},
    });
    expect(code).toMatchObject({ status: 201, body: { data: { code: 'PROMO123', partner: 'alice', first_time_order: true, minimum_order_status: true, minimum_order_value: 22, coupon: { uuid_code: 'coupon_123' } } } });
    // a code a partner owns is that partner's too
    expect((await api('GET', '/v1/partners/alice/coupons')).body.data.map((c: { code: string }) => c.code)).toContain('PROMO123');
    // generated when not given
    const generated = await api('POST', '/v1/promotion-codes', { coupon_uuid: 'coupon_123', code: '' });
    expect(generated.body.data).toMatchObject({ partner: null, limit_to_specific_partner: false });
    expect(generated.body.data.code).toMatch(/^[A-Z0-9]{8}$/);

    const byCoupon = await api('GET', '/v1/promotion-codes?coupon_uuid=coupon_123');
    expect(byCoupon.body.meta.total).toBe(3);
    expect((await api('GET', '/v1/promotion-codes?partner_key=bob')).body.data.map((c: { code: string }) => c.code)).toEqual(['BOB10', 'PROMO-BOB']);

    // the PHP SDK's update and delete name the code in the body
    expect((await api('PUT', '/v1/promotion-codes', { code: 'PROMO123', coupon_specific_partners: { id: 'bob' } })).body.data).toMatchObject({ code: 'PROMO123', partner: 'bob', first_time_order: true });
    expect((await api('PUT', '/v1/promotion-codes/PROMO123', { limit_to_specific_partner: false })).body.data).toMatchObject({ partner: null });
    expect((await api('DELETE', '/v1/promotion-codes', { code: 'PROMO123', coupon: { uuid_code: 'coupon_123' } })).status).toBe(200);
    expect((await api('GET', '/v1/promotion-codes/PROMO123')).status).toBe(404);

    // Coupons::update sends the coupon to PUT /v1/coupons
    expect((await api('PUT', '/v1/coupons', { uuid_code: 'coupon_123', name: 'Spring', active: false })).body.data).toMatchObject({ name: 'Spring', active: false, coupon_discount_amount: 25 });
    expect((await api('GET', '/v1/coupons/COUPON_123')).body.data.name).toBe('Spring');
    expect((await api('GET', '/v1/coupons')).body).toMatchObject({ status: 1, meta: { total: 1 } });
    // deleting a coupon deletes its codes
    expect((await api('DELETE', '/v1/coupons/coupon_123')).status).toBe(200);
    expect((await api('GET', '/v1/promotion-codes/PROMO-BOB')).status).toBe(404);
    expect((await api('GET', '/v1/coupons/coupon_123')).status).toBe(404);
  });

  it('refuses invalid coupons and codes with stable codes, duplicates with 409', async () => {
    const base = { coupon_discount_type: 'static', coupon_discount_amount: 5, coupon_duration_type: 'once' };
    expect(await api('POST', '/v1/coupons', { ...base, uuid_code: 'dup' })).toMatchObject({ status: 201 });
    expect(await api('POST', '/v1/coupons', { ...base, uuid_code: 'DUP' })).toMatchObject({ status: 409, body: { error: { code: 'duplicate_key' } } });
    expect(await api('POST', '/v1/coupons', { ...base, coupon_discount_type: 'free' })).toMatchObject({ status: 422, body: { error: { code: 'validation_failed', fields: { coupon_discount_type: expect.any(String) } } } });
    expect(await api('POST', '/v1/coupons', { ...base, coupon_discount_type: 'percent', coupon_discount_amount: 120 })).toMatchObject({ status: 422, body: { error: { fields: { coupon_discount_amount: expect.any(String) } } } });
    expect(await api('POST', '/v1/coupons', { ...base, coupon_duration_type: 'months' })).toMatchObject({ status: 422, body: { error: { fields: { coupon_duration_value: expect.any(String) } } } });
    expect(await api('POST', '/v1/coupons', { ...base, uuid_code: 'bad code' })).toMatchObject({ status: 422, body: { error: { fields: { uuid_code: expect.any(String) } } } });
    // a code naming an unknown partner writes neither the coupon nor the code
    expect(await api('POST', '/v1/coupons', { ...base, uuid_code: 'half', promotion_codes: [{ code: 'HALF1', coupon_specific_partners: { id: 'ghost' } }] })).toMatchObject({ status: 404 });
    expect((await api('GET', '/v1/coupons/half')).status).toBe(404);
    // a code taken by another coupon's code rolls the new coupon back
    await api('POST', '/v1/partners/bob/coupons', { code: 'TAKEN' });
    expect(await api('POST', '/v1/coupons', { ...base, uuid_code: 'rolled', promotion_codes: [{ code: 'taken' }] })).toMatchObject({ status: 409, body: { error: { code: 'duplicate_key' } } });
    expect((await api('GET', '/v1/coupons/rolled')).status).toBe(404);

    expect(await api('POST', '/v1/promotion-codes', { code: 'X1', limit_to_specific_partner: true })).toMatchObject({ status: 422, body: { error: { fields: { coupon_specific_partners: expect.any(String) } } } });
    expect(await api('POST', '/v1/promotion-codes', { code: 'X1', coupon_uuid: 'nope' })).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
    expect(await api('POST', '/v1/promotion-codes', { code: 'X1', minimum_order_value: 'lots' })).toMatchObject({ status: 422, body: { error: { code: 'validation_failed' } } });
    expect(await api('PUT', '/v1/promotion-codes', {})).toMatchObject({ status: 422, body: { error: { fields: { code: expect.any(String) } } } });
    expect(await api('GET', '/v1/promotion-codes/NOPE')).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
    expect(await api('PUT', '/v1/coupons/nope', { name: 'x' })).toMatchObject({ status: 404 });
    expect(await api('GET', '/v1/promotion-codes?limit=0')).toMatchObject({ status: 422, body: { error: { code: 'validation_failed' } } });
  });

  it('keeps each program’s codes its own: the same code in two programs', async () => {
    const other = await createProgram(svc.db.db, { name: 'Other' });
    await api('POST', '/v1/partners', { key: 'carol' }, other.apiKey);
    expect((await api('POST', '/v1/partners/carol/coupons', { code: 'ALICE20' }, other.apiKey)).status).toBe(201);
    expect((await api('GET', '/v1/promotion-codes/ALICE20', undefined, other.apiKey)).body.data.partner).toBe('carol');
    expect((await api('GET', '/v1/promotion-codes/ALICE20')).body.data.partner).toBe('alice');
  });
});
