CREATE TYPE "public"."payout_request_status" AS ENUM('requested', 'approved', 'rejected', 'finished');--> statement-breakpoint
CREATE TABLE "payout_requests" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"program_id" uuid NOT NULL,
	"partner_id" uuid NOT NULL,
	"status" "payout_request_status" DEFAULT 'requested' NOT NULL,
	"amount" numeric NOT NULL,
	"currency" text NOT NULL,
	"gateway" text DEFAULT 'manual' NOT NULL,
	"payout_settings" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"note" text,
	"reference" text,
	"created_at" timestamp (6) with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp (6) with time zone DEFAULT now() NOT NULL,
	"approved_at" timestamp (6) with time zone,
	"rejected_at" timestamp (6) with time zone,
	"paid_at" timestamp (6) with time zone
);
--> statement-breakpoint
CREATE TABLE "payout_request_rewards" (
	"payout_request_id" bigint NOT NULL,
	"reward_id" bigint NOT NULL,
	"amount" numeric NOT NULL,
	"released" boolean DEFAULT false NOT NULL,
	CONSTRAINT "payout_request_rewards_pk" PRIMARY KEY("payout_request_id","reward_id")
);
--> statement-breakpoint
CREATE TABLE "clawbacks" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"program_id" uuid NOT NULL,
	"partner_id" uuid NOT NULL,
	"kind" text DEFAULT 'clawback' NOT NULL,
	"amount" numeric NOT NULL,
	"currency" text NOT NULL,
	"reward_id" bigint,
	"refund_id" bigint,
	"dispute_id" bigint,
	"payout_request_id" bigint,
	"settled_payout_request_id" bigint,
	"created_at" timestamp (6) with time zone DEFAULT now() NOT NULL,
	"cancelled_at" timestamp (6) with time zone,
	CONSTRAINT "clawbacks_kind_check" CHECK ("clawbacks"."kind" = 'clawback'),
	CONSTRAINT "clawbacks_amount_check" CHECK ("clawbacks"."amount" > 0)
);
--> statement-breakpoint
ALTER TABLE "payout_requests" ADD CONSTRAINT "payout_requests_program_id_programs_id_fk" FOREIGN KEY ("program_id") REFERENCES "public"."programs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "payout_requests" ADD CONSTRAINT "payout_requests_partner_id_partners_id_fk" FOREIGN KEY ("partner_id") REFERENCES "public"."partners"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "payout_request_rewards" ADD CONSTRAINT "payout_request_rewards_payout_request_id_payout_requests_id_fk" FOREIGN KEY ("payout_request_id") REFERENCES "public"."payout_requests"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "payout_request_rewards" ADD CONSTRAINT "payout_request_rewards_reward_id_rewards_id_fk" FOREIGN KEY ("reward_id") REFERENCES "public"."rewards"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "clawbacks" ADD CONSTRAINT "clawbacks_program_id_programs_id_fk" FOREIGN KEY ("program_id") REFERENCES "public"."programs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "clawbacks" ADD CONSTRAINT "clawbacks_partner_id_partners_id_fk" FOREIGN KEY ("partner_id") REFERENCES "public"."partners"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "clawbacks" ADD CONSTRAINT "clawbacks_reward_id_rewards_id_fk" FOREIGN KEY ("reward_id") REFERENCES "public"."rewards"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "clawbacks" ADD CONSTRAINT "clawbacks_refund_id_refunds_id_fk" FOREIGN KEY ("refund_id") REFERENCES "public"."refunds"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "clawbacks" ADD CONSTRAINT "clawbacks_dispute_id_disputes_id_fk" FOREIGN KEY ("dispute_id") REFERENCES "public"."disputes"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "clawbacks" ADD CONSTRAINT "clawbacks_payout_request_id_payout_requests_id_fk" FOREIGN KEY ("payout_request_id") REFERENCES "public"."payout_requests"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "clawbacks" ADD CONSTRAINT "clawbacks_settled_payout_request_id_payout_requests_id_fk" FOREIGN KEY ("settled_payout_request_id") REFERENCES "public"."payout_requests"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "payout_requests_program_created_idx" ON "payout_requests" USING btree ("program_id","created_at","id");--> statement-breakpoint
CREATE INDEX "payout_requests_partner_idx" ON "payout_requests" USING btree ("partner_id","status");--> statement-breakpoint
CREATE UNIQUE INDEX "payout_request_rewards_taken_uq" ON "payout_request_rewards" USING btree ("reward_id") WHERE NOT "payout_request_rewards"."released";--> statement-breakpoint
CREATE INDEX "clawbacks_partner_idx" ON "clawbacks" USING btree ("partner_id","currency");
