-- Deliveries' raw bodies (about 3 KB: above the size PostgreSQL compresses at) compressed with lz4
-- rather than pglz: a quarter of the CPU per stored webhook, on the path every delivery takes. A
-- server built without lz4 keeps pglz. Rows stored before keep their compression.
DO $$
BEGIN
  ALTER TABLE "webhook_events" ALTER COLUMN "raw_body" SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
  RAISE NOTICE 'lz4 is not available on this server: raw_body stays compressed with pglz';
END $$;
