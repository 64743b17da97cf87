ALTER TABLE "customers" ADD COLUMN "archived_at" timestamp (6) with time zone;--> statement-breakpoint
ALTER TABLE "partners" ADD COLUMN "tags" text[] DEFAULT '{}'::text[] NOT NULL;--> statement-breakpoint
ALTER TABLE "partners" ADD COLUMN "archived_at" timestamp (6) with time zone;