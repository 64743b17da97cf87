ALTER TABLE "refunds" ADD COLUMN "reversed_at" timestamp (6) with time zone;--> statement-breakpoint
ALTER TABLE "transactions" ADD COLUMN "deleted_by" text;--> statement-breakpoint
ALTER TABLE "transactions" ADD COLUMN "reduced_by" text[] DEFAULT '{}'::text[] NOT NULL;--> statement-breakpoint
ALTER TABLE "rewards" ADD COLUMN "deleted_reason" text;--> statement-breakpoint
ALTER TABLE "clawbacks" DROP CONSTRAINT "clawbacks_amount_check";--> statement-breakpoint
ALTER TABLE "clawbacks" ADD CONSTRAINT "clawbacks_amount_check" CHECK ("clawbacks"."amount" <> 0);
