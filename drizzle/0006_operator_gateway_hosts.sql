-- Gateway API hosts are the operator's (environment) only: drop any a program had stored, and a
-- Chargebee site that is not a site name (the SDK builds its host from it).
UPDATE "programs" SET "gateways" = (
  SELECT coalesce(jsonb_object_agg(g.key, CASE
      WHEN jsonb_typeof(g.value) <> 'object' THEN g.value
      WHEN g.key = 'chargebee' AND coalesce(g.value->>'site', 'x') !~ '^[a-z0-9-]{1,100}$' THEN g.value - 'apiBase' - 'site'
      ELSE g.value - 'apiBase'
    END), '{}'::jsonb)
  FROM jsonb_each("programs"."gateways") AS g
)
WHERE "gateways" <> '{}'::jsonb;
