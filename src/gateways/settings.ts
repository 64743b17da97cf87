// Every gateway's settings, by name. The type of a program's gateway settings, the PATCH /v1/program
// body, what the API shows, the default program's environment mapping and the operator's API hosts
// are all read from here: a new gateway adds its settings.ts and a line below.
import { z } from 'zod';
import { chargebeeSettings } from './chargebee/settings.js';
import { paddleSettings } from './paddle/settings.js';
import type { SettingsSpec } from './settings-fields.js';
import { stripeSettings } from './stripe/settings.js';
import { wooCommerceSettings } from './woocommerce/settings.js';

export const GATEWAY_SETTINGS = {
  stripe: stripeSettings,
  paddle: paddleSettings,
  woocommerce: wooCommerceSettings,
  chargebee: chargebeeSettings,
} as const;

type Specs = typeof GATEWAY_SETTINGS;
type StoredOf<T> = T extends SettingsSpec<infer S, infer _E> ? S : never;
type EnvOf<T> = T extends SettingsSpec<infer _S, infer E> ? E : never;
type Intersection<U> = (U extends unknown ? (k: U) => void : never) extends (k: infer I) => void ? I : never;

/** A program's own gateway secrets and keys (never where requests go: see apiBasesFrom). */
export type GatewaySettings = { [G in keyof Specs]?: StoredOf<Specs[G]> };
/** The environment variables the gateways' settings are read from. */
export type GatewayEnv = Intersection<EnvOf<Specs[keyof Specs]>>;

const names = Object.keys(GATEWAY_SETTINGS) as (keyof Specs)[];
const each = <T>(f: <G extends keyof Specs>(g: G) => T) => Object.fromEntries(names.map((g) => [g, f(g)]));

/** PATCH /v1/program's `gateways`: each gateway's patch, all optional. */
export const GatewaysPatch = z.object(each((g) => GATEWAY_SETTINGS[g].patch) as { [G in keyof Specs]: Specs[G]['patch'] }).partial();

/** What an API client may see of a program's gateway settings: what is configured, never the secrets. */
export function gatewaysView(settings: GatewaySettings): Record<string, Record<string, unknown>> {
  return each((g) => (GATEWAY_SETTINGS[g].view as (s: unknown) => Record<string, unknown>)(settings?.[g]));
}

/** The default program's gateway settings, from the environment. */
export function gatewaySettingsFromEnv(env: GatewayEnv): GatewaySettings {
  return each((g) => (GATEWAY_SETTINGS[g].fromEnv as (e: GatewayEnv) => unknown)(env)) as GatewaySettings;
}

/** Stored fields that are not secrets (a store URL, a site name): kept readable at rest. */
export const PUBLIC_FIELDS: ReadonlySet<string> = new Set(names.flatMap((g) => GATEWAY_SETTINGS[g].publicFields));

/** The operator's overrides of where each gateway's API calls go (`*_API_BASE`), for every program. */
export function apiBasesFrom(env: Readonly<Record<string, unknown>>): Partial<Record<keyof Specs, string>> {
  return each((g) => {
    const v = env[GATEWAY_SETTINGS[g].apiBaseVariable];
    return typeof v === 'string' && v ? v : undefined;
  });
}
