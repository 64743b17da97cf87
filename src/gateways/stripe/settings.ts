// Stripe's settings on a program: the endpoint signing secret(s) and the secret key for lookups.
import { z } from 'zod';
import { defined, envList, operatorOnly, secret, secretList, type SettingsSpec } from '../settings-fields.js';

export const StripeSettings = z.object({ webhookSecrets: z.array(z.string()), apiKey: z.string().optional() });
export type StripeSettings = z.infer<typeof StripeSettings>;

export const stripeSettings = {
  patch: z.object({ webhook_secrets: secretList, api_key: secret.nullable(), api_base: operatorOnly('STRIPE_API_BASE') }).partial(),
  publicFields: [],
  view: (s) => ({ webhook_secrets: s?.webhookSecrets.length ?? 0, api_key: !!s?.apiKey }),
  fromEnv: (env) => defined({ webhookSecrets: envList(env.STRIPE_WEBHOOK_SECRET), apiKey: env.STRIPE_API_KEY }),
  apiBaseVariable: 'STRIPE_API_BASE',
} satisfies SettingsSpec<StripeSettings, { STRIPE_WEBHOOK_SECRET?: string; STRIPE_API_KEY?: string }>;
