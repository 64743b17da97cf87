// Every value of a transaction's `attribution` is an enum in the OpenAPI document and has a line in
// docs/api.md's glossary.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { openApiDocument } from '../../src/http/api/openapi.js';
import { CUSTOMER_MATCHES, DECIDED_BY, FALLBACKS, LOOKUP_RESULTS, PARTNER_KEY_PLACE_VALUES, REWARD_REASONS } from '../../src/views/attribution-glossary.js';

const glossary = readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8').split('## The `attribution` glossary')[1] ?? '';
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const schema = (openApiDocument() as any).components.schemas.Transaction.properties.attribution;

describe('the attribution glossary', () => {
  it.each([
    ['reward_reason', REWARD_REASONS, schema.properties.reward_reason.enum],
    ['fallback', FALLBACKS, schema.properties.fallback.enum],
    ['customer_match', CUSTOMER_MATCHES, schema.properties.customer_match.enum],
    ['decided_by', DECIDED_BY, schema.properties.decided_by.enum],
    ['lookups[].result', LOOKUP_RESULTS, schema.properties.lookups.items.properties.result.enum],
    ['partner_key_place', PARTNER_KEY_PLACE_VALUES, schema.properties.partner_key_place.enum],
  ] as const)('%s: every value is an OpenAPI enum and explained in docs/api.md', (field, table, inSchema) => {
    expect(glossary).toContain(`**\`${field}\`**`);
    for (const value of Object.keys(table)) {
      expect(inSchema, `${field} ${value}`).toContain(value);
      expect(glossary, `${field} ${value}`).toContain(`| \`${value}\` |`);
    }
  });
});
