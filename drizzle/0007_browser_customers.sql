-- Customers created through the public browser key are told apart: never matched by email.
ALTER TABLE "customers" ADD COLUMN "origin" text DEFAULT 'server' NOT NULL;
