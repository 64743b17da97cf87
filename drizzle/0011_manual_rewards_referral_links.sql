-- Manual rewards (POST /v1/partners/{key}/reward): a reward of no transaction, told apart by its kind.
ALTER TABLE "rewards" ALTER COLUMN "transaction_id" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "rewards" ADD COLUMN "kind" text DEFAULT 'commission' NOT NULL;--> statement-breakpoint
ALTER TABLE "rewards" ADD COLUMN "note" text;--> statement-breakpoint
ALTER TABLE "rewards" ADD CONSTRAINT "rewards_kind_check" CHECK ("rewards"."kind" in ('commission', 'manual') and ("rewards"."kind" = 'manual' or "rewards"."transaction_id" is not null));--> statement-breakpoint
CREATE INDEX "rewards_partner_idx" ON "rewards" USING btree ("partner_id","created_at","id") WHERE "rewards"."partner_id" is not null;
