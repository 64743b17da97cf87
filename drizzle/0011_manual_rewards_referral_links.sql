-- Manual rewards (POST /v1/partners/{key}/reward): a reward of no transaction, told apart by its kind.
ALTER TABLE "rewards" ALTER COLUMN "transaction_id" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "rewards" ADD COLUMN "kind" text DEFAULT 'commission' NOT NULL;--> statement-breakpoint
ALTER TABLE "rewards" ADD COLUMN "note" text;--> statement-breakpoint
ALTER TABLE "rewards" ADD CONSTRAINT "rewards_kind_check" CHECK ("rewards"."kind" in ('commission', 'manual') and ("rewards"."kind" = 'manual' or "rewards"."transaction_id" is not null));--> statement-breakpoint
CREATE INDEX "rewards_partner_idx" ON "rewards" USING btree ("partner_id","created_at","id") WHERE "rewards"."partner_id" is not null;
--> statement-breakpoint
-- A partner's referral links (Partnero's /v1/partner_referral_links): a key unique in its program.
CREATE TABLE "partner_referral_links" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"program_id" uuid NOT NULL,
	"partner_id" uuid NOT NULL,
	"key" text NOT NULL,
	"url" text,
	"is_additional" boolean DEFAULT false NOT NULL,
	"direct_tracking" boolean DEFAULT false NOT NULL,
	"direct_tracking_redirect" boolean DEFAULT false NOT NULL,
	"direct_tracking_redirect_url" text,
	"created_at" timestamp (6) with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp (6) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "partner_referral_links" ADD CONSTRAINT "partner_referral_links_program_id_programs_id_fk" FOREIGN KEY ("program_id") REFERENCES "public"."programs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "partner_referral_links" ADD CONSTRAINT "partner_referral_links_partner_id_partners_id_fk" FOREIGN KEY ("partner_id") REFERENCES "public"."partners"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "partner_referral_links_program_key_uq" ON "partner_referral_links" USING btree ("program_id","key");--> statement-breakpoint
CREATE INDEX "partner_referral_links_partner_idx" ON "partner_referral_links" USING btree ("partner_id","created_at","id");--> statement-breakpoint
CREATE INDEX "partner_referral_links_program_idx" ON "partner_referral_links" USING btree ("program_id","created_at","id");
