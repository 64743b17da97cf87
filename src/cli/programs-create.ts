// `npm run cli -- programs:create --name "Spring affiliates" [--type affiliate|refer_a_friend]
//   [--attribution customer|transaction] [--currency USD] [--percent 20 | --fixed 5]`
import { z } from 'zod';
import { isCurrencyCode } from '../core/money.js';
import { ATTRIBUTION_MODELS, CommissionRate, DEFAULT_COMMISSION, DecimalString, PROGRAM_TYPES } from '../core/program.js';
import { createProgram } from '../db/programs.js';
import { options, type CliCommand } from './command.js';

const USAGE = `usage: npm run cli -- programs:create --name <name> [--type affiliate|refer_a_friend]
  [--attribution customer|transaction] [--currency USD] [--percent 20 | --fixed 5]

Creates a program and prints its id, its API key (shown once) and its webhook URLs.
--percent and --fixed are alternatives: a program's default reward is one or the other.`;

const Args = z.object({
  name: z.string({ error: 'is required: the program\'s name, such as --name "Spring affiliates"' }).trim().min(1, 'must not be empty'),
  type: z.enum(PROGRAM_TYPES).default('affiliate'),
  attribution: z.enum(ATTRIBUTION_MODELS).default('customer'),
  currency: z.string().refine(isCurrencyCode, 'an ISO 4217 currency code').default('USD'),
  percent: DecimalString.optional(),
  fixed: DecimalString.optional(),
});

export const programsCreate: CliCommand = {
  summary: 'create a program and print its API key (shown once): --name <name> [--percent 20 | --fixed 5] ...',
  usage: USAGE,
  async run({ database, args, out }) {
    const raw = options(args, {
      name: { type: 'string' },
      type: { type: 'string' },
      attribution: { type: 'string' },
      currency: { type: 'string' },
      percent: { type: 'string' },
      fixed: { type: 'string' },
    });
    if (raw.percent !== undefined && raw.fixed !== undefined) {
      out('programs:create: give --percent or --fixed, not both: a program\'s default reward is a percentage or a fixed amount');
      return 2;
    }
    const parsed = Args.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      out(`programs:create: --${issue.path.join('.')} ${issue.message}`);
      return 2;
    }
    const a = parsed.data;
    const commission = a.fixed
      ? { ...DEFAULT_COMMISSION, type: 'fixed' as const, value: a.fixed }
      : { ...DEFAULT_COMMISSION, value: a.percent ?? DEFAULT_COMMISSION.value };
    const bounded = CommissionRate.safeParse(commission);
    if (!bounded.success) {
      out(`programs:create: --${a.fixed ? 'fixed' : 'percent'}: ${bounded.error.issues[0]!.message}`);
      return 2;
    }
    const { id, apiKey } = await createProgram(database.db, {
      name: a.name,
      type: a.type,
      attributionModel: a.attribution,
      currency: a.currency.toUpperCase(),
      commission,
    });
    out(`program:  ${id}`);
    out(`api key:  ${apiKey}    (shown once: store it now)`);
    out(`webhooks: /webhooks/{stripe|paddle|woocommerce|chargebee}/${id}`);
    return 0;
  },
};
