ALTER TABLE "programs" ADD COLUMN "fraud" jsonb DEFAULT '{}'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "programs" ADD COLUMN "caps" jsonb DEFAULT '{}'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "rewards" ADD COLUMN "hold_reason" text;--> statement-breakpoint
ALTER TABLE "rewards" ADD COLUMN "capped_from" numeric;
