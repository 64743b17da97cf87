ALTER TABLE "programs" ADD COLUMN "referral_parameter" text DEFAULT 'ref' NOT NULL;--> statement-breakpoint
ALTER TABLE "programs" ADD COLUMN "cookie_lifetime_days" integer DEFAULT 30 NOT NULL;--> statement-breakpoint
ALTER TABLE "customers" ADD COLUMN "linked_by" text;--> statement-breakpoint
ALTER TABLE "partner_referral_links" ADD COLUMN "clicks" integer DEFAULT 0 NOT NULL;
