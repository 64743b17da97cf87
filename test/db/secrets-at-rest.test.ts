// Secrets at rest: with SECRETS_KEY, gateway keys and secrets, the program's signing secret and
// outbound webhook secrets are stored sealed (AES-256-GCM), while the service works as before;
// plain values written before are sealed at the next start; secrets:rotate moves them to a new key.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { sql } from 'drizzle-orm';
import pino from 'pino';
import Stripe from 'stripe';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { Keyring, parseSecretKey, useKeyring } from '../../src/db/secret-box.js';
import { createLogger } from '../../src/logger.js';
import { startService, type Service } from '../../src/service.js';
import { callApi } from '../support/api.js';
import { testConfig } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { fixture } from '../support/fixtures.js';
import { removePrefix, testPrefix } from '../support/redis.js';

const K1 = randomBytes(32).toString('base64');
const K2 = randomBytes(32).toString('hex');
const API_KEY = 'pl_test_secrets_key';
const WHSEC = 'whsec_at_rest_secret';
const gatewayEnv = {
  API_KEY,
  STRIPE_WEBHOOK_SECRET: WHSEC,
  STRIPE_API_KEY: 'sk_test_at_rest',
  WOOCOMMERCE_URL: 'https://93.184.215.14/shop',
  WOOCOMMERCE_CONSUMER_KEY: 'ck_at_rest',
  WOOCOMMERCE_CONSUMER_SECRET: 'cs_at_rest',
  CHARGEBEE_SITE: 'acme-test',
  CHARGEBEE_WEBHOOK_PASSWORD: 'cb_password_at_rest',
  CHARGEBEE_WEBHOOK_USERNAME: 'cb_user',
};

let db: TestDatabase;
const prefix = testPrefix();
let running: Service | undefined;

async function start(env: Record<string, string>, logger = createLogger('silent')) {
  running = await startService(testConfig({ DATABASE_URL: db.url, QUEUE_PREFIX: prefix, ...gatewayEnv, ...env }), logger);
  return { service: running, url: `http://127.0.0.1:${running.port}` };
}
async function stop() {
  await running?.stop();
  running = undefined;
}
/** The stored text of every secret, as PostgreSQL holds it. */
async function rawSecrets() {
  const p = await db.db.execute<{ signing_secret: string; gateways: Record<string, Record<string, unknown>> }>(sql`select signing_secret, gateways from programs`);
  const s = await db.db.execute<{ secret: string }>(sql`select secret from webhook_subscriptions`);
  const g = p.rows[0]!.gateways;
  return {
    signing: p.rows[0]!.signing_secret,
    stripeKey: g.stripe!.apiKey as string,
    stripeWebhook: (g.stripe!.webhookSecrets as string[])[0]!,
    wooSecret: g.woocommerce!.consumerSecret as string,
    wooUrl: g.woocommerce!.url as string,
    cbPassword: g.chargebee!.password as string,
    cbSite: g.chargebee!.site as string,
    subscriptions: s.rows.map((r) => r.secret),
  };
}
async function stripeDelivery(url: string) {
  const event = JSON.parse(fixture('stripe', 'payment_intent.succeeded.json').toString('utf8'));
  event.id = `evt_rest_${randomBytes(6).toString('hex')}`;
  event.data.object.id = `pi_rest_${randomBytes(6).toString('hex')}`;
  const body = JSON.stringify(event);
  const header = new Stripe('sk_test_unused').webhooks.generateTestHeaderString({ payload: body, secret: WHSEC });
  const res = await fetch(`${url}/webhooks/stripe`, { method: 'POST', body, headers: { 'content-type': 'application/json', 'stripe-signature': header } });
  return res.status;
}
const idOf = (key: string) => parseSecretKey(key).id;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterEach(async () => {
  await stop();
  useKeyring(null);
});
afterAll(async () => {
  await removePrefix(prefix);
  await db?.drop();
});

describe('secrets at rest', () => {
  it('without SECRETS_KEY: stored as given, with a loud warning at start', async () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) });
    const { url } = await start({}, pino({ level: 'warn' }, sink));
    expect(lines.join('')).toMatch(/SECRETS_KEY is not set: gateway secrets and keys, signing secrets and webhook secrets are stored in plain text/);
    const sub = await callApi(url, 'POST', '/v1/webhooks', { url: 'https://93.184.215.14/hook', events: ['transaction.created'] }, API_KEY);
    expect(sub.status).toBe(201);
    const raw = await rawSecrets();
    expect(raw.stripeKey).toBe('sk_test_at_rest');
    expect(raw.subscriptions).toEqual([sub.body.data.signature]);
  });

  it('with SECRETS_KEY: plain values are sealed at start, only url and site stay readable, and everything still works', async () => {
    const { url } = await start({ SECRETS_KEY: K1 });
    const raw = await rawSecrets();
    const sealedUnderK1 = new RegExp(`^plsec:v1:${idOf(K1)}:`);
    for (const v of [raw.signing, raw.stripeKey, raw.stripeWebhook, raw.wooSecret, raw.cbPassword, ...raw.subscriptions]) expect(v).toMatch(sealedUnderK1);
    expect(JSON.stringify(raw)).not.toContain('sk_test_at_rest');
    expect(JSON.stringify(raw)).not.toContain(WHSEC);
    expect([raw.wooUrl, raw.cbSite]).toEqual(['https://93.184.215.14/shop', 'acme-test']);

    // the receiver verifies with the opened webhook secret; the API still shows what is configured
    expect(await stripeDelivery(url)).toBe(200);
    const program = await callApi(url, 'GET', '/v1/program', undefined, API_KEY);
    expect(program.body.data.gateways).toMatchObject({ stripe: { webhook_secrets: 1, api_key: true }, woocommerce: { url: 'https://93.184.215.14/shop' } });
    // a new subscription's secret is shown once in the clear and stored sealed
    const sub = await callApi(url, 'POST', '/v1/webhooks', { url: 'https://93.184.215.14/hook2', events: ['transaction.created'] }, API_KEY);
    expect(sub.body.data.signature).not.toMatch(/^plsec:/);
    expect((await rawSecrets()).subscriptions.every((s) => sealedUnderK1.test(s))).toBe(true);
  });

  it('secrets:rotate moves every secret to the new key; the old key can then go', async () => {
    const env = { PATH: process.env.PATH ?? '', DATABASE_URL: db.url, LOG_LEVEL: 'silent' };
    const run = (secretsKey?: string) =>
      spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'secrets:rotate'], { env: { ...env, ...(secretsKey ? { SECRETS_KEY: secretsKey } : {}) }, encoding: 'utf8' });
    const without = run();
    expect(without.status).toBe(2);
    expect(without.stdout).toContain('SECRETS_KEY is not set');

    const rotated = run(`${K2},${K1}`);
    expect(rotated.stderr).toBe('');
    expect(rotated.status).toBe(0);
    expect(rotated.stdout).toContain(`sealed under key ${idOf(K2)}: 1 program(s), 2 webhook subscription(s) re-sealed`);
    const raw = await rawSecrets();
    for (const v of [raw.signing, raw.stripeKey, raw.stripeWebhook, raw.wooSecret, raw.cbPassword, ...raw.subscriptions]) {
      expect(v).toMatch(new RegExp(`^plsec:v1:${idOf(K2)}:`));
    }
    expect(run(K2).stdout).toContain('0 program(s), 0 webhook subscription(s) re-sealed');

    // the old key alone no longer opens them: start-up says which key is missing
    await expect(start({ SECRETS_KEY: K1 })).rejects.toThrow(`sealed under key ${idOf(K2)}, which SECRETS_KEY does not hold`);
    useKeyring(null);
    const { url } = await start({ SECRETS_KEY: K2 });
    expect(await stripeDelivery(url)).toBe(200);
  });

  it('a sealed value moved to another place does not open', () => {
    const ring = new Keyring([parseSecretKey(K1)]);
    const sealed = ring.seal('s3cret', 'programs.signing_secret');
    expect(ring.open(sealed, 'programs.signing_secret')).toBe('s3cret');
    expect(() => ring.open(sealed, 'webhook_subscriptions.secret')).toThrow(/does not open under key/);
    const tampered = sealed.slice(0, -3) + (sealed.endsWith('AAA') ? 'BBB' : 'AAA');
    expect(() => ring.open(tampered, 'programs.signing_secret')).toThrow(/does not open under key/);
  });

  it('NODE_ENV=production refuses to start without SECRETS_KEY, and a malformed key is refused', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(ConfigError);
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(/SECRETS_KEY=missing: required when NODE_ENV=production/);
    expect(() => loadConfig({ NODE_ENV: 'production', SECRETS_KEY: K1 })).not.toThrow();
    expect(() => loadConfig({ SECRETS_KEY: 'too-short' })).toThrow(/SECRETS_KEY=\(hidden\): each key is 32 bytes/);
  });
});
