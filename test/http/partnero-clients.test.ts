// Conformance with Partnero's own clients: each request written as partnero/partnero-php and
// partnero/n8n-nodes-partnero build it (method, path, headers, body and query encoding, from their
// public source), each answer checked for what that client needs: the status, the exact content type
// (the PHP SDK decodes only `application/json`), the envelope and the fields it reads.
//
// PHP SDK (src/Http/HttpLayer.php, src/Endpoints/*.php, src/Models/*.php): every call sends a JSON body,
// `[]` when it has no parameters, GET and DELETE included; headers Authorization: Bearer, Accept and
// Content-Type application/json, User-Agent partnero-php/v1, Sdk-Version; `:search` parameters in the
// query (http_build_query). Models drop null fields (AbstractModel::cleanArray).
// n8n node (nodes/Partnero/**, credentials/PartneroApi.credentials.ts, nodes/PartneroTrigger): routing
// sends fields into the body (dotted properties nest: `partner.id` → {partner: {id}}), the Get Many
// filters and limit into the query; "Return All" sends limit=100 and follows links.next with its query
// appended again; blank optional fields go out as "".
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../support/service.js';
import { wire, type WireAnswer } from './partnero/wire.js';

const KEY = 'pl_test_partnero_clients_key';
let svc: TestService;

/** The PHP SDK's request: JSON body always (`[]` for none). */
function php(method: string, uri: string, params: unknown = []): Promise<WireAnswer> {
  return wire(svc.url, method, `/v1/${uri}`, {
    body: JSON.stringify(params),
    headers: {
      authorization: `Bearer ${KEY}`,
      'content-type': 'application/json',
      accept: 'application/json',
      'user-agent': 'partnero-php/v1',
      'sdk-version': 'v1.0.23',
    },
  });
}

/** The n8n node's request: query from `qs`, a JSON body only when it has fields. */
function n8n(method: string, url: string, opts: { qs?: Record<string, string | number>; body?: unknown } = {}): Promise<WireAnswer> {
  const qs = opts.qs ? new URLSearchParams(Object.entries(opts.qs).map(([k, v]): [string, string] => [k, String(v)])).toString() : '';
  // axios appends params to a URL that already has a query (links.next) with `&`
  const target = url.startsWith('http') ? url : `${svc.url}/v1${url}`;
  const full = qs ? `${target}${target.includes('?') ? '&' : '?'}${qs}` : target;
  return wire(svc.url, method, full, {
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    headers: { authorization: `Bearer ${KEY}`, accept: 'application/json', 'content-type': 'application/json' },
  });
}

/** What the PHP SDK and n8n accept: a 2xx with exactly application/json and Partnero's envelope. */
function accepted(r: WireAnswer, status = 200) {
  expect({ status: r.status, type: r.type }, r.text.slice(0, 300)).toEqual({ status, type: 'application/json' });
  expect(r.body).toMatchObject({ status: 1 });
  return r.body.data;
}

/** A list in Partnero's envelope: data, links (next null on the last page), meta. */
function listed(r: WireAnswer) {
  const data = accepted(r);
  expect(Array.isArray(data)).toBe(true);
  expect(r.body.links).toEqual({ first: expect.any(String), last: expect.any(String), prev: r.body.links.prev, next: r.body.links.next });
  expect(r.body.meta).toMatchObject({ current_page: expect.any(Number), last_page: expect.any(Number), per_page: expect.any(Number), total: expect.any(Number) });
  return data as Record<string, any>[]; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** n8n's "Return All": limit=100, then links.next with the original query appended again. */
async function returnAll(url: string, qs: Record<string, string | number>) {
  const all: Record<string, unknown>[] = [];
  let r = await n8n('GET', url, { qs: { ...qs, limit: 100 } });
  for (let pages = 0; ; pages++) {
    all.push(...listed(r));
    const next = r.body.links.next as string | null;
    if (!next || pages > 20) break;
    r = await n8n('GET', next, { qs: { ...qs, limit: 100 } });
  }
  return all;
}

beforeAll(async () => {
  svc = await startTestService({ API_KEY: KEY, WEBHOOKS_ALLOW_LOOPBACK: 'true' });
});
afterAll(async () => {
  await svc?.stop();
});

describe('PHP SDK (partnero/partnero-php)', () => {
  it('Test::test — GET /v1/test', async () => {
    expect(accepted(await php('GET', 'test'))).toMatchObject({ program: { id: svc.programId, name: expect.any(String), type: 'affiliate' } });
  });

  it('Partners: create, list, find, update (PUT with update), search, Partner::get, delete by body', async () => {
    // Models\Partner::toArray keys in order, nulls dropped
    const created = accepted(await php('POST', 'partners', { key: 'php-p', email: 'php-p@example.com', name: 'Name' }), 201);
    expect(created).toMatchObject({ id: expect.any(String), key: 'php-p', email: 'php-p@example.com', name: 'Name' });
    accepted(await php('POST', 'partners', { key: 'php-x', email: 'php-x@example.com' }), 201);

    const page = listed(await php('GET', 'partners', { limit: 10 }));
    expect(page.map((p) => p.key)).toEqual(expect.arrayContaining(['php-p', 'php-x']));

    expect(accepted(await php('GET', 'partners/php-p', { key: 'php-p' }))).toMatchObject({ key: 'php-p' });
    // Partners::update: array_merge(['update' => …], ['key' => …])
    expect(accepted(await php('PUT', 'partners', { update: { name: 'John', surname: 'Doe' }, key: 'php-p' }))).toMatchObject({ key: 'php-p', name: 'John', surname: 'Doe' });
    // by email (keyOrEmailSearchParams with a Partner model that has only an email)
    expect(accepted(await php('PUT', 'partners', { update: { surname: 'Roe' }, email: 'php-p@example.com' }))).toMatchObject({ surname: 'Roe' });

    const found = listed(await php('GET', `partners:search?${new URLSearchParams({ email: 'php-' })}`));
    expect(found.map((p) => p.key).sort()).toEqual(['php-p', 'php-x']);

    // the deprecated Endpoints\Partner: GET /v1/partner with the key in the body
    expect(accepted(await php('GET', 'partner', { key: 'php-p' }))).toMatchObject({ key: 'php-p', email: 'php-p@example.com' });

    expect(accepted(await php('DELETE', 'partners', { key: 'php-x' }))).toMatchObject({ key: 'php-x', deleted_at: expect.any(String) });
    expect(listed(await php('GET', 'partners', { limit: 10 })).map((p) => p.key)).not.toContain('php-x');
  });

  it('Customers: create with a partner, list by partner (GET body), find, update, search, delete', async () => {
    accepted(await php('POST', 'partners', { key: 'php-other' }), 201);
    const c = accepted(await php('POST', 'customers', { key: 'php-c', name: 'Name', email: 'php-c@example.com', partner: { key: 'php-p' } }), 201);
    expect(c).toMatchObject({ key: 'php-c', partner: 'php-p' });
    accepted(await php('POST', 'customers', { key: 'php-c2', partner: { key: 'php-p' } }), 201);
    accepted(await php('POST', 'customers', { key: 'php-elsewhere', partner: { key: 'php-other' } }), 201);

    // Customers::list(10, $partner): {"partner": {"key": …}, "limit": 10} as the body of a GET
    const mine = listed(await php('GET', 'customers', { partner: { key: 'php-p' }, limit: 10 }));
    expect(mine.map((x) => x.key).sort()).toEqual(['php-c', 'php-c2']);
    const byEmail = listed(await php('GET', 'customers', { partner: { email: 'php-p@example.com' }, limit: 10 }));
    expect(byEmail.map((x) => x.key).sort()).toEqual(['php-c', 'php-c2']);

    expect(accepted(await php('GET', 'customers/php-c'))).toMatchObject({ key: 'php-c', partner: 'php-p' });
    expect(accepted(await php('PUT', 'customers', { key: 'php-c', update: { name: 'John' } }))).toMatchObject({ key: 'php-c', name: 'John' });
    expect(listed(await php('GET', `customers:search?${new URLSearchParams({ email: 'php-c@' })}`)).map((x) => x.key)).toEqual(['php-c']);
    expect(accepted(await php('DELETE', 'customers/php-c2'))).toMatchObject({ key: 'php-c2', deleted_at: expect.any(String) });
  });

  it('Transactions: create, archive, revoke-archive, delete (the key in body and path)', async () => {
    const t = accepted(await php('POST', 'transactions', { key: 'php-t1', amount: 99.99, action: 'sale', customer: { key: 'php-c' } }), 201);
    expect(t).toMatchObject({ key: 'php-t1', amount: 99.99, partner: 'php-p', customer: 'php-c', rewards: [{ partner: 'php-p' }] });
    expect(accepted(await php('POST', 'transactions/php-t1/archive', { key: 'php-t1' }))).toMatchObject({ archived_at: expect.any(String) });
    expect(accepted(await php('POST', 'transactions/php-t1/revoke-archive', { key: 'php-t1' }))).toMatchObject({ archived_at: null });
    expect(accepted(await php('DELETE', 'transactions/php-t1', { key: 'php-t1' }))).toMatchObject({ deleted_at: expect.any(String) });
  });

  it('Webhooks: create, list (limit, page in the body), find, update (PUT), delete', async () => {
    const w = accepted(await php('POST', 'webhooks', { name: 'Demo', url: 'http://127.0.0.1:9/php-hook', events: ['partner.created'] }), 201);
    expect(w).toMatchObject({ key: expect.any(String), signature: expect.stringMatching(/^whsec_/) });
    expect(listed(await php('GET', 'webhooks', { limit: 50, page: 1 })).map((x) => x.key)).toContain(w.key);
    expect(accepted(await php('GET', `webhooks/${w.key}`))).toMatchObject({ key: w.key, name: 'Demo' });
    expect(accepted(await php('PUT', `webhooks/${w.key}`, { name: 'Demo 2' }))).toMatchObject({ name: 'Demo 2' });
    expect(accepted(await php('DELETE', `webhooks/${w.key}`))).toMatchObject({ deleted_at: expect.any(String) });
  });

  it('PartnerReferralLinks: create, list, get, update, search, delete (Models\\ReferralLink in camelCase)', async () => {
    // create(): array_merge(link->toArray(), ['domain_id' => null, 'is_additional' => false]) + ['partner' => partner->toArray()]
    const link = accepted(
      await php('POST', 'partner_referral_links', { key: 'php-link', url: 'https://shop.example.com/?ref=php-link', directTracking: true, domain_id: null, is_additional: false, partner: { key: 'php-p' } }),
      201,
    );
    expect(link).toEqual({
      id: 'php-link',
      key: 'php-link',
      url: 'https://shop.example.com/?ref=php-link',
      default: false,
      is_additional: false,
      direct_tracking: true,
      direct_tracking_redirect: false,
      direct_tracking_redirect_url: null,
      clicks: 0,
      created_at: expect.any(String),
      updated_at: expect.any(String),
    });
    // the link's own partnerKey names the partner when the partner model is empty
    accepted(await php('POST', 'partner_referral_links', { key: 'php-link-2', partnerKey: 'php-p', domain_id: null, is_additional: false, partner: [] }), 201);
    const partnerId = accepted(await php('GET', 'partners/php-p')).id as string;
    // list(partnerId, 10): GET partners/{id}/referral_links with {"limit":10} as the body
    expect(listed(await php('GET', `partners/${partnerId}/referral_links`, { limit: 10 })).map((l) => l.key)).toEqual(['php-link', 'php-link-2']);
    expect(accepted(await php('GET', 'partner_referral_links/php-link'))).toMatchObject({ id: 'php-link', direct_tracking: true });
    // update(id, link): PUT with the model's fields
    expect(accepted(await php('PUT', 'partner_referral_links/php-link', { directTrackingRedirect: true, directTrackingRedirectUrl: 'https://shop.example.com/spring' }))).toMatchObject({
      key: 'php-link',
      direct_tracking_redirect: true,
      direct_tracking_redirect_url: 'https://shop.example.com/spring',
    });
    // search(params): the parameters in the query, an empty body
    expect(listed(await php('GET', `partner_referral_links:search?${new URLSearchParams({ key: 'link-2' })}`)).map((l) => l.key)).toEqual(['php-link-2']);
    expect(accepted(await php('DELETE', 'partner_referral_links/php-link-2'))).toMatchObject({ key: 'php-link-2' });
    expect((await php('GET', 'partner_referral_links/php-link-2')).status).toBe(404);

    // refusals the SDK turns into its exceptions: 409 for a used key, 404 for no such partner, 422 naming the field
    expect(await php('POST', 'partner_referral_links', { key: 'php-link', partner: { key: 'php-p' } })).toMatchObject({ status: 409, body: { error: { code: 'duplicate_key' } } });
    expect(await php('POST', 'partner_referral_links', { key: 'php-link-x', partner: { key: 'nobody' } })).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
    const invalid = await php('POST', 'partner_referral_links', { key: 'has space', url: 'javascript:alert(1)', partner: { key: 'php-p' } });
    expect(invalid).toMatchObject({ status: 422, body: { errors: { key: [expect.any(String)], url: [expect.any(String)] } } });
  });

  it('Settings::update — PUT /v1/settings with { settings }', async () => {
    expect(accepted(await php('PUT', 'settings', { settings: { name: 'Renamed by the SDK' } }))).toMatchObject({ name: 'Renamed by the SDK' });
  });

  it('errors decode into PartneroHttpRequestValidationException / NotFoundException: message and errors', async () => {
    const invalid = await php('POST', 'customers', { key: 'php-nobody' });
    expect(invalid.status).toBe(422);
    expect(invalid.type).toBe('application/json');
    expect(invalid.body).toMatchObject({ message: expect.stringMatching(/\S/), errors: { partner: [expect.any(String)] } });
    const missing = await php('GET', 'customers/ghost');
    expect(missing).toMatchObject({ status: 404, type: 'application/json', body: { message: expect.stringMatching(/\S/) } });
  });
});

describe('n8n node (partnero/n8n-nodes-partnero)', () => {
  let partnerId = '';
  let customerId = '';

  it('credential test — GET /v1/test', async () => {
    expect(accepted(await n8n('GET', '/test'))).toMatchObject({ program: { id: svc.programId } });
  });

  it('Partner: create with tags, Get by key / email / id, Update and Archive by id, Search', async () => {
    const p = accepted(await n8n('POST', '/partners', { body: { email: 'n8n-p@example.com', name: 'Nate', key: 'n8n-p', tags: ['vip', 'eu'] } }), 201);
    expect(p).toMatchObject({ key: 'n8n-p', tags: ['vip', 'eu'] });
    partnerId = p.id;
    for (const [by, value] of [['key', 'n8n-p'], ['email', 'n8n-p@example.com'], ['id', partnerId]] as const) {
      expect(accepted(await n8n('GET', '/partner', { qs: { [by]: value } })), by).toMatchObject({ id: partnerId });
    }
    expect(accepted(await n8n('PUT', `/partners/${partnerId}`, { body: { surname: 'Smith', tags: ['gold'] } }))).toMatchObject({ id: partnerId, surname: 'Smith', tags: ['gold'] });
    expect(accepted(await n8n('POST', `/partners/${partnerId}/archive`))).toMatchObject({ archived_at: expect.any(String), status: 'archived' });
    expect(accepted(await n8n('POST', `/partners/${partnerId}/revoke-archive`))).toMatchObject({ archived_at: null, status: 'active' });
    expect(listed(await n8n('GET', '/partners:search', { qs: { key: 'n8n', limit: 50 } })).map((x) => x.id)).toEqual([partnerId]);
    expect(listed(await n8n('GET', '/partners:search', { qs: { id: partnerId, limit: 50 } })).map((x) => x.key)).toEqual(['n8n-p']);
  });

  it('Partner: Get Referral Links by id (no body)', async () => {
    accepted(await n8n('POST', '/partner_referral_links', { body: { partner: { id: partnerId }, key: 'n8n-link' } }), 201);
    expect(listed(await n8n('GET', `/partners/${partnerId}/referral_links`)).map((l) => l.id)).toEqual(['n8n-link']);
    expect((await n8n('GET', '/partners/00000000-0000-4000-8000-000000000000/referral_links')).status).toBe(404);
  });

  it('Partner: Add Reward by id — counted in the partner\'s earnings', async () => {
    const r = accepted(await n8n('POST', `/partners/${partnerId}/reward`, { body: { amount: 15, note: 'Welcome bonus' } }), 201);
    expect(r).toMatchObject({ kind: 'manual', partner: 'n8n-p', amount: 15, note: 'Welcome bonus' });
    expect(accepted(await n8n('GET', `/partners/${partnerId}/earnings`))).toMatchObject({ earnings: [{ amount_units: 'USD', approved: 15, manual_rewards: 1 }] });
  });

  it('Lead operations and Get Sign In URL: a readable 404 not_supported, in the JSON the node shows', async () => {
    const calls: [string, string, { qs?: Record<string, string | number>; body?: unknown }][] = [
      ['POST', '/leads', { body: { partner: { key: 'n8n-p' }, name: 'Lena', email: 'lena@example.com' } }],
      ['GET', '/leads', { qs: { limit: 50, sort: 'desc' } }],
      ['GET', '/leads/12', {}],
      ['DELETE', '/leads/12', {}],
      ['POST', '/leads/convert', { body: { id: 12, commission_transaction_amount: 100 } }],
      ['POST', '/leads/reject', { body: { id: 12 } }],
      ['POST', '/partners:sign-in-url', { body: { key: 'n8n-p', expires_in: 120 } }],
    ];
    for (const [method, url, opts] of calls) {
      const r = await n8n(method, url, opts);
      expect({ status: r.status, type: r.type, code: r.body?.error?.code }, `${method} ${url}`).toEqual({ status: 404, type: 'application/json', code: 'not_supported' });
      expect(r.body.message).toMatch(/^(leads|partner sign-in URLs) are not supported: \S/);
    }
  });

  it('Customer: create with blank optional fields and the partner by id or email; Get, Update, Archive by id', async () => {
    const c = accepted(await n8n('POST', '/customers', { body: { key: 'n8n-c', email: '', name: '', surname: '', partner: { id: partnerId } } }), 201);
    expect(c).toMatchObject({ key: 'n8n-c', email: null, name: null, partner: 'n8n-p' });
    customerId = c.id;
    expect(accepted(await n8n('POST', '/customers', { body: { key: 'n8n-c2', email: 'n8n-c2@example.com', name: '', surname: '', partner: { email: 'n8n-p@example.com' } } }), 201)).toMatchObject({ partner: 'n8n-p' });
    expect(accepted(await n8n('GET', `/customers/${customerId}`))).toMatchObject({ key: 'n8n-c' });
    expect(accepted(await n8n('GET', '/customers/n8n-c2@example.com'))).toMatchObject({ key: 'n8n-c2' });
    expect(accepted(await n8n('PUT', `/customers/${customerId}`, { body: { name: 'Cleo' } }))).toMatchObject({ name: 'Cleo' });
    expect(accepted(await n8n('POST', `/customers/${customerId}/archive`))).toMatchObject({ status: 'archived' });
    expect(accepted(await n8n('POST', `/customers/${customerId}/revoke-archive`))).toMatchObject({ status: 'active' });
    expect(listed(await n8n('GET', '/customers:search', { qs: { email: 'n8n-c2@', limit: 50 } })).map((x) => x.key)).toEqual(['n8n-c2']);
  });

  it('Transaction: create by customer id with a date without a zone; the partner is credited; Get Transactions of the customer', async () => {
    const t = accepted(
      await n8n('POST', '/transactions', { body: { customer: { id: customerId }, amount: 120, key: 'n8n-t1', created_at: '2026-01-05T10:00:00', amount_units: '', product_id: '' } }),
      201,
    );
    expect(t).toMatchObject({ key: 'n8n-t1', customer: 'n8n-c', partner: 'n8n-p', created_at: '2026-01-05T10:00:00.000000Z', rewards: [{ partner: 'n8n-p' }] });
    accepted(await n8n('POST', '/transactions', { body: { customer: { email: 'n8n-c2@example.com' }, amount: 10, key: 'n8n-t2' } }), 201);
    expect(listed(await n8n('GET', `/customers/${customerId}/transactions`)).map((x) => x.key)).toEqual(['n8n-t1']);
    expect(accepted(await n8n('GET', '/transactions/n8n-t1'))).toMatchObject({ key: 'n8n-t1' });
    expect(accepted(await n8n('POST', '/transactions/n8n-t1/archive'))).toMatchObject({ archived_at: expect.any(String) });
    expect(accepted(await n8n('POST', '/transactions/n8n-t1/revoke-archive'))).toMatchObject({ archived_at: null });
  });

  it('partner {key: "INVALID_KEY"} falls back to customer-based attribution, the key noted as ignored', async () => {
    const t = accepted(await n8n('POST', '/transactions', { body: { customer: { key: 'n8n-c' }, partner: { key: 'INVALID_KEY' }, amount: 50, key: 'n8n-invalid' } }), 201);
    expect(t).toMatchObject({ partner: 'n8n-p', attribution: { ignored_partner_key: 'INVALID_KEY', credited: { key: 'n8n-p' } } });
  });

  it('Customer Get Many, Return All with a partner filter: every page past 100, only that partner\'s customers', async () => {
    const p = accepted(await n8n('POST', '/partners', { body: { email: 'bulk@example.com', key: 'n8n-bulk' } }), 201);
    for (let i = 0; i < 123; i++) await n8n('POST', '/customers', { body: { key: `bulk-${String(i).padStart(3, '0')}`, partner: { key: p.key } } });
    const all = await returnAll('/customers', { sort: 'desc', partner_key: 'n8n-bulk' });
    expect(all).toHaveLength(123);
    expect(new Set(all.map((c) => c.key)).size).toBe(123);
    expect(all.every((c) => c.partner === 'n8n-bulk')).toBe(true);
    const byEmail = await returnAll('/customers', { sort: 'asc', partner_email: 'bulk@example.com' });
    expect(byEmail.map((c) => c.key)).toEqual(Array.from({ length: 123 }, (_, i) => `bulk-${String(i).padStart(3, '0')}`));
  });

  it('Transaction and Partner Get Many: links.next with the query appended again', async () => {
    for (let i = 0; i < 12; i++) accepted(await n8n('POST', '/transactions', { body: { customer: { key: `bulk-${String(i).padStart(3, '0')}` }, amount: 5, key: `n8n-page-${i}` } }), 201);
    const seen: string[] = [];
    let r = await n8n('GET', '/transactions', { qs: { limit: 10, sort: 'desc', partner_key: 'n8n-bulk' } });
    for (;;) {
      seen.push(...listed(r).map((t) => t.key as string));
      if (!r.body.links.next) break;
      r = await n8n('GET', r.body.links.next, { qs: { limit: 10, sort: 'desc', partner_key: 'n8n-bulk' } });
    }
    expect(seen.sort()).toEqual(Array.from({ length: 12 }, (_, i) => `n8n-page-${i}`).sort());
    const partners = await returnAll('/partners', { sort: 'desc' });
    expect(partners.map((x) => x.key)).toEqual(expect.arrayContaining(['n8n-p', 'n8n-bulk', 'php-p']));
  });

  it('Customer Delete by id', async () => {
    expect(accepted(await n8n('DELETE', `/customers/${customerId}`))).toMatchObject({ deleted_at: expect.any(String) });
  });

  it('Trigger: subscribe to any Partnero event name, read and delete the subscription; events never sent are listed', async () => {
    const events = ['partner.created', 'partner.approved', 'customer.rewarded', 'lead.submitted', 'subscriber.created', 'transaction.created'];
    const w = accepted(await n8n('POST', '/webhooks', { body: { name: 'n8n – My workflow', url: 'http://127.0.0.1:9/n8n-hook', events, is_active: true } }), 201);
    expect(w).toMatchObject({ key: expect.any(String), signature: expect.stringMatching(/^whsec_/), events });
    expect(accepted(await n8n('GET', `/webhooks/${w.key}`))).toMatchObject({ key: w.key });
    const names = accepted(await n8n('GET', '/webhooks/events')) as { name: string; emitted: boolean }[];
    expect(names.find((e) => e.name === 'partner.created')).toMatchObject({ emitted: true });
    expect(names.find((e) => e.name === 'lead.submitted')).toMatchObject({ emitted: false });
    expect(accepted(await n8n('DELETE', `/webhooks/${w.key}`))).toMatchObject({ deleted_at: expect.any(String) });
  });
});
