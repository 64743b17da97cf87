// The default program, created or updated idempotently from the environment at every start.
import { randomBytes } from 'node:crypto';
import { and, eq, ne } from 'drizzle-orm';
import { secretList, type Config } from '../config.js';
import { DEFAULT_COMMISSION } from '../core/program.js';
import type { Db } from './client.js';
import { hashApiKey, keyPrefix } from './api-keys.js';
import { apiKeys, programs, type GatewaySettings } from './schema.js';

export const DEFAULT_PROGRAM_SLUG = 'default';

/** Drop the keys whose value is undefined, so a stored setting reads like the environment. */
function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

export function gatewaySettingsFromEnv(c: Config): GatewaySettings {
  return {
    stripe: defined({
      webhookSecrets: secretList(c.STRIPE_WEBHOOK_SECRET),
      apiKey: c.STRIPE_API_KEY,
    }),
    paddle: defined({
      webhookSecrets: secretList(c.PADDLE_WEBHOOK_SECRET),
      apiKey: c.PADDLE_API_KEY,
    }),
    woocommerce: defined({
      webhookSecrets: secretList(c.WOOCOMMERCE_WEBHOOK_SECRET),
      url: c.WOOCOMMERCE_URL,
      consumerKey: c.WOOCOMMERCE_CONSUMER_KEY,
      consumerSecret: c.WOOCOMMERCE_CONSUMER_SECRET,
    }),
    chargebee: defined({
      username: c.CHARGEBEE_WEBHOOK_USERNAME,
      password: c.CHARGEBEE_WEBHOOK_PASSWORD,
      site: c.CHARGEBEE_SITE,
      apiKey: c.CHARGEBEE_API_KEY,
    }),
  };
}

/**
 * Create the default program, or bring its name and gateway settings in line with the environment.
 * Settings changed through the API (commission, review period) are left as they are.
 * API_KEY, when set, becomes the program's one environment key; a changed API_KEY retires the old one.
 */
export async function ensureDefaultProgram(db: Db, c: Config): Promise<string> {
  const gateways = gatewaySettingsFromEnv(c);
  const [row] = await db
    .insert(programs)
    .values({
      slug: DEFAULT_PROGRAM_SLUG,
      name: c.DEFAULT_PROGRAM_NAME,
      currency: c.DEFAULT_PROGRAM_CURRENCY,
      commission: DEFAULT_COMMISSION,
      publicKey: `pk_${randomBytes(12).toString('base64url')}`,
      signingSecret: randomBytes(32).toString('hex'),
      gateways,
    })
    .onConflictDoUpdate({
      target: programs.slug,
      set: { name: c.DEFAULT_PROGRAM_NAME, gateways, updatedAt: new Date() },
    })
    .returning({ id: programs.id });
  const programId = row!.id;

  await db.transaction(async (tx) => {
    if (c.API_KEY) {
      const keyHash = hashApiKey(c.API_KEY);
      await tx
        .insert(apiKeys)
        .values({ programId, keyHash, prefix: keyPrefix(c.API_KEY), name: 'API_KEY', source: 'env' })
        .onConflictDoNothing({ target: apiKeys.keyHash });
      await tx
        .delete(apiKeys)
        .where(and(eq(apiKeys.programId, programId), eq(apiKeys.source, 'env'), ne(apiKeys.keyHash, keyHash)));
    } else {
      await tx.delete(apiKeys).where(and(eq(apiKeys.programId, programId), eq(apiKeys.source, 'env')));
    }
  });
  return programId;
}
