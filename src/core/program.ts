// Program settings: what a merchant configures, validated once at every boundary (API, env, DB).
import { z } from 'zod';

export const PROGRAM_TYPES = ['affiliate', 'refer_a_friend'] as const;
export const ATTRIBUTION_MODELS = ['customer', 'transaction'] as const;

export const DecimalString = z
  .string()
  .regex(/^\d{1,15}(\.\d{1,12})?$/, 'a non-negative decimal such as "30" or "12.50"');

export const CommissionRate = z.object({
  type: z.enum(['percent', 'fixed']),
  value: DecimalString,
});
export type CommissionRate = z.infer<typeof CommissionRate>;

/**
 * An override. The most specific matching rule wins: a partner match counts 4, a product_id 2,
 * a product_type 1; ties go to the rule listed first.
 */
export const CommissionRule = CommissionRate.extend({
  product_id: z.string().min(1).optional(),
  product_type: z.string().min(1).optional(),
  partner: z.string().min(1).optional(),
}).refine((r) => r.product_id || r.product_type || r.partner, {
  message: 'a rule names a product_id, a product_type or a partner',
});
export type CommissionRule = z.infer<typeof CommissionRule>;

export const Lifetime = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('all') }),
  z.object({ kind: z.literal('first') }),
  z.object({ kind: z.literal('months'), months: z.number().int().min(1).max(1200) }),
]);
export type Lifetime = z.infer<typeof Lifetime>;

export const CommissionSettings = CommissionRate.extend({
  rules: z.array(CommissionRule).max(500).default([]),
  lifetime: Lifetime.default({ kind: 'all' }),
});
export type CommissionSettings = z.infer<typeof CommissionSettings>;

export const DEFAULT_COMMISSION: CommissionSettings = {
  type: 'percent',
  value: '20',
  rules: [],
  lifetime: { kind: 'all' },
};

/** What the pure core needs to know about a program. */
export type ProgramRules = {
  id: string;
  type: (typeof PROGRAM_TYPES)[number];
  attributionModel: (typeof ATTRIBUTION_MODELS)[number];
  /** Currency (ISO 4217) of fixed rewards, or the unit name when `isCurrency` is false. */
  currency: string;
  isCurrency: boolean;
  reviewPeriodDays: number;
  commission: CommissionSettings;
};
