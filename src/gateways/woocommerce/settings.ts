// WooCommerce's settings on a program: the webhook secret(s), and the store's URL and REST API
// credentials for reconcile. The URL is the program's, so requests to it follow the outbound URL policy.
import { z } from 'zod';
import { defined, envList, operatorOnly, secret, secretList, type SettingsSpec } from '../settings-fields.js';

export const WooCommerceSettings = z.object({
  webhookSecrets: z.array(z.string()),
  url: z.string().optional(),
  consumerKey: z.string().optional(),
  consumerSecret: z.string().optional(),
});
export type WooCommerceSettings = z.infer<typeof WooCommerceSettings>;

type Env = {
  WOOCOMMERCE_WEBHOOK_SECRET?: string;
  WOOCOMMERCE_URL?: string;
  WOOCOMMERCE_CONSUMER_KEY?: string;
  WOOCOMMERCE_CONSUMER_SECRET?: string;
};

export const wooCommerceSettings = {
  patch: z
    .object({
      webhook_secrets: secretList,
      url: z.url({ protocol: /^https?$/ }).max(2000).nullable(),
      consumer_key: secret.nullable(),
      consumer_secret: secret.nullable(),
      api_base: operatorOnly('WOOCOMMERCE_API_BASE'),
    })
    .partial(),
  publicFields: ['url'],
  view: (s) => ({ webhook_secrets: s?.webhookSecrets.length ?? 0, url: s?.url ?? null, consumer_key: !!s?.consumerKey }),
  fromEnv: (env) =>
    defined({
      webhookSecrets: envList(env.WOOCOMMERCE_WEBHOOK_SECRET),
      url: env.WOOCOMMERCE_URL,
      consumerKey: env.WOOCOMMERCE_CONSUMER_KEY,
      consumerSecret: env.WOOCOMMERCE_CONSUMER_SECRET,
    }),
  apiBaseVariable: 'WOOCOMMERCE_API_BASE',
} satisfies SettingsSpec<WooCommerceSettings, Env>;
