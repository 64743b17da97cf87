// Paddle's settings on a program: the notification secret(s) and the API key for lookups.
import { z } from 'zod';
import { defined, envList, operatorOnly, secret, secretList, type SettingsSpec } from '../settings-fields.js';

export const PaddleSettings = z.object({ webhookSecrets: z.array(z.string()), apiKey: z.string().optional() });
export type PaddleSettings = z.infer<typeof PaddleSettings>;

export const paddleSettings = {
  patch: z.object({ webhook_secrets: secretList, api_key: secret.nullable(), api_base: operatorOnly('PADDLE_API_BASE') }).partial(),
  publicFields: [],
  view: (s) => ({ webhook_secrets: s?.webhookSecrets.length ?? 0, api_key: !!s?.apiKey }),
  fromEnv: (env) => defined({ webhookSecrets: envList(env.PADDLE_WEBHOOK_SECRET), apiKey: env.PADDLE_API_KEY }),
  apiBaseVariable: 'PADDLE_API_BASE',
} satisfies SettingsSpec<PaddleSettings, { PADDLE_WEBHOOK_SECRET?: string; PADDLE_API_KEY?: string }>;
