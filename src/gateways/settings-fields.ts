// The pieces a gateway's settings are declared with (gateways/<name>/settings.ts): what a program
// stores, what PATCH /v1/program takes, what the API shows back, and the environment mapping of the
// default program, written once per gateway.
import { z } from 'zod';

/** A key or secret as the API takes it: write-only, shown back only as "set". */
export const secret = z.string().trim().min(1).max(500);
/** Active webhook secrets: several at once while rotating. */
export const secretList = z.array(secret).max(5);

/** A field a program may not set: where the service sends requests is the operator's (environment). */
export const operatorOnly = (variable: string) =>
  z
    .unknown()
    .refine((v) => v === undefined, `the API host is the operator's setting (${variable}); a program sets its keys and secrets only`)
    .optional();

/** The environment's comma-separated secrets (rotation) as a list. */
export function envList(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** Drop the keys whose value is undefined, so a stored setting reads like the environment. */
export function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** One gateway's settings, declared once. `S` is the stored shape (camelCase). */
export type SettingsSpec<S, E> = {
  /** The PATCH /v1/program body under gateways.<name> (snake_case; a value sets, null clears). */
  patch: z.ZodType;
  /** Fields shown back as they are (not secrets), by their stored name. */
  publicFields: readonly string[];
  /** What an API client may see: what is configured, never the secrets. */
  view(settings: S | undefined): Record<string, unknown>;
  /** The default program's settings from the environment. */
  fromEnv(env: E): S;
  /** The operator's override of the gateway's API host. */
  apiBaseVariable: string;
};
