// Chargebee's settings on a program: the webhook's HTTP Basic credentials, and the site and API key
// for lookups. The site is a name (acme-test for acme-test.chargebee.com), never a host.
import { z } from 'zod';
import { defined, operatorOnly, secret, type SettingsSpec } from '../settings-fields.js';

/** A Chargebee site name: the SDK builds the host from it, so nothing else passes. */
export const SITE_NAME = /^[a-z0-9-]{1,100}$/;
export const SITE_NAME_HINT = 'a Chargebee site name such as acme-test (lowercase letters, digits and -)';

export const ChargebeeSettings = z.object({
  username: z.string().optional(),
  password: z.string().optional(),
  site: z.string().optional(),
  apiKey: z.string().optional(),
});
export type ChargebeeSettings = z.infer<typeof ChargebeeSettings>;

type Env = { CHARGEBEE_WEBHOOK_USERNAME?: string; CHARGEBEE_WEBHOOK_PASSWORD?: string; CHARGEBEE_SITE?: string; CHARGEBEE_API_KEY?: string };

export const chargebeeSettings = {
  patch: z
    .object({
      username: secret.nullable(),
      password: secret.nullable(),
      site: z.string().trim().regex(SITE_NAME, SITE_NAME_HINT).nullable(),
      api_key: secret.nullable(),
      api_base: operatorOnly('CHARGEBEE_API_BASE'),
    })
    .partial(),
  publicFields: ['site'],
  view: (s) => ({ username: !!s?.username, password: !!s?.password, site: s?.site ?? null, api_key: !!s?.apiKey }),
  fromEnv: (env) =>
    defined({
      username: env.CHARGEBEE_WEBHOOK_USERNAME,
      password: env.CHARGEBEE_WEBHOOK_PASSWORD,
      site: env.CHARGEBEE_SITE,
      apiKey: env.CHARGEBEE_API_KEY,
    }),
  apiBaseVariable: 'CHARGEBEE_API_BASE',
} satisfies SettingsSpec<ChargebeeSettings, Env>;
