CREATE TYPE "public"."attribution_model" AS ENUM('customer', 'transaction');--> statement-breakpoint
CREATE TYPE "public"."bulk_run_status" AS ENUM('queued', 'running', 'completed', 'failed');--> statement-breakpoint
CREATE TYPE "public"."inbox_status" AS ENUM('received', 'queued', 'processed', 'ignored', 'failed');--> statement-breakpoint
CREATE TYPE "public"."program_type" AS ENUM('affiliate', 'refer_a_friend');--> statement-breakpoint
CREATE TYPE "public"."reward_status" AS ENUM('ok', 'review_period', 'rejected');--> statement-breakpoint
CREATE TABLE "api_keys" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"program_id" uuid NOT NULL,
	"key_hash" text NOT NULL,
	"prefix" text NOT NULL,
	"name" text DEFAULT '' NOT NULL,
	"source" text DEFAULT 'cli' NOT NULL,
	"created_at" timestamp (6) with time zone DEFAULT now() NOT NULL,
	"last_used_at" timestamp (6) with time zone,
	"revoked_at" timestamp (6) with time zone,
	CONSTRAINT "api_keys_key_hash_unique" UNIQUE("key_hash")
);
--> statement-breakpoint
CREATE TABLE "bulk_runs" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"program_id" uuid NOT NULL,
	"status" "bulk_run_status" DEFAULT 'queued' NOT NULL,
	"total" integer NOT NULL,
	"succeeded" integer DEFAULT 0 NOT NULL,
	"failed" integer DEFAULT 0 NOT NULL,
	"errors" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"options" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"callback_url" text,
	"callback_status" text,
	"created_at" timestamp (6) with time zone DEFAULT now() NOT NULL,
	"completed_at" timestamp (6) with time zone
);
--> statement-breakpoint
CREATE TABLE "customers" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"program_id" uuid NOT NULL,
	"key" text NOT NULL,
	"email" text,
	"name" text,
	"surname" text,
	"partner_id" uuid,
	"referring_customer_id" uuid,
	"gateway" text,
	"gateway_customer_id" text,
	"first_payment_at" timestamp (6) with time zone,
	"created_at" timestamp (6) with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp (6) with time zone DEFAULT now() NOT NULL,
	"deleted_at" timestamp (6) with time zone
);
--> statement-breakpoint
CREATE TABLE "partners" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"program_id" uuid NOT NULL,
	"key" text NOT NULL,
	"email" text,
	"name" text,
	"surname" text,
	"referral_code" text,
	"created_at" timestamp (6) with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp (6) with time zone DEFAULT now() NOT NULL,
	"deleted_at" timestamp (6) with time zone
);
--> statement-breakpoint
CREATE TABLE "programs" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"slug" text NOT NULL,
	"name" text NOT NULL,
	"type" "program_type" DEFAULT 'affiliate' NOT NULL,
	"attribution_model" "attribution_model" DEFAULT 'customer' NOT NULL,
	"currency" text DEFAULT 'USD' NOT NULL,
	"is_currency" boolean DEFAULT true NOT NULL,
	"commission" jsonb NOT NULL,
	"review_period_days" integer DEFAULT 0 NOT NULL,
	"js_tracking" boolean DEFAULT false NOT NULL,
	"public_key" text NOT NULL,
	"signing_secret" text NOT NULL,
	"livemode" boolean,
	"gateways" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp (6) with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp (6) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "programs_slug_unique" UNIQUE("slug"),
	CONSTRAINT "programs_public_key_unique" UNIQUE("public_key")
);
--> statement-breakpoint
CREATE TABLE "rewards" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"program_id" uuid NOT NULL,
	"transaction_id" bigint NOT NULL,
	"key" text NOT NULL,
	"action" text DEFAULT 'sale' NOT NULL,
	"partner_id" uuid,
	"customer_id" uuid,
	"amount" numeric NOT NULL,
	"original_amount" numeric NOT NULL,
	"units" text NOT NULL,
	"is_currency" boolean DEFAULT true NOT NULL,
	"status" "reward_status" NOT NULL,
	"held_from_status" "reward_status",
	"review_ends_at" timestamp (6) with time zone,
	"basis" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp (6) with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp (6) with time zone DEFAULT now() NOT NULL,
	"archived_at" timestamp (6) with time zone,
	"deleted_at" timestamp (6) with time zone
);
--> statement-breakpoint
CREATE TABLE "transactions" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"program_id" uuid NOT NULL,
	"key" text NOT NULL,
	"action" text DEFAULT 'sale' NOT NULL,
	"amount_minor" bigint NOT NULL,
	"currency" text NOT NULL,
	"is_currency" boolean DEFAULT true NOT NULL,
	"refunded_minor" bigint DEFAULT 0 NOT NULL,
	"tax_minor" bigint,
	"customer_id" uuid,
	"partner_id" uuid,
	"gateway" text NOT NULL,
	"product_id" text,
	"product_type" text,
	"attribution" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"details" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp (6) with time zone DEFAULT now() NOT NULL,
	"recorded_at" timestamp (6) with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp (6) with time zone DEFAULT now() NOT NULL,
	"archived_at" timestamp (6) with time zone,
	"deleted_at" timestamp (6) with time zone,
	"deleted_reason" text
);
--> statement-breakpoint
CREATE TABLE "webhook_events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"program_id" uuid NOT NULL,
	"gateway" text NOT NULL,
	"event_id" text NOT NULL,
	"event_type" text,
	"livemode" boolean,
	"received_at" timestamp (6) with time zone DEFAULT now() NOT NULL,
	"raw_body" text NOT NULL,
	"headers" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"verified" boolean DEFAULT true NOT NULL,
	"status" "inbox_status" DEFAULT 'received' NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"last_error" text,
	"outcome" jsonb,
	"processed_at" timestamp (6) with time zone
);
--> statement-breakpoint
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_program_id_programs_id_fk" FOREIGN KEY ("program_id") REFERENCES "public"."programs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "bulk_runs" ADD CONSTRAINT "bulk_runs_program_id_programs_id_fk" FOREIGN KEY ("program_id") REFERENCES "public"."programs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "customers" ADD CONSTRAINT "customers_program_id_programs_id_fk" FOREIGN KEY ("program_id") REFERENCES "public"."programs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "customers" ADD CONSTRAINT "customers_partner_id_partners_id_fk" FOREIGN KEY ("partner_id") REFERENCES "public"."partners"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "partners" ADD CONSTRAINT "partners_program_id_programs_id_fk" FOREIGN KEY ("program_id") REFERENCES "public"."programs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "rewards" ADD CONSTRAINT "rewards_program_id_programs_id_fk" FOREIGN KEY ("program_id") REFERENCES "public"."programs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "rewards" ADD CONSTRAINT "rewards_transaction_id_transactions_id_fk" FOREIGN KEY ("transaction_id") REFERENCES "public"."transactions"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "rewards" ADD CONSTRAINT "rewards_partner_id_partners_id_fk" FOREIGN KEY ("partner_id") REFERENCES "public"."partners"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "rewards" ADD CONSTRAINT "rewards_customer_id_customers_id_fk" FOREIGN KEY ("customer_id") REFERENCES "public"."customers"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "transactions" ADD CONSTRAINT "transactions_program_id_programs_id_fk" FOREIGN KEY ("program_id") REFERENCES "public"."programs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "transactions" ADD CONSTRAINT "transactions_customer_id_customers_id_fk" FOREIGN KEY ("customer_id") REFERENCES "public"."customers"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "transactions" ADD CONSTRAINT "transactions_partner_id_partners_id_fk" FOREIGN KEY ("partner_id") REFERENCES "public"."partners"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "webhook_events" ADD CONSTRAINT "webhook_events_program_id_programs_id_fk" FOREIGN KEY ("program_id") REFERENCES "public"."programs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "api_keys_program_idx" ON "api_keys" USING btree ("program_id");--> statement-breakpoint
CREATE INDEX "bulk_runs_program_idx" ON "bulk_runs" USING btree ("program_id","created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "customers_program_key_uq" ON "customers" USING btree ("program_id","key");--> statement-breakpoint
CREATE INDEX "customers_program_gateway_id_idx" ON "customers" USING btree ("program_id","gateway","gateway_customer_id");--> statement-breakpoint
CREATE INDEX "customers_program_email_idx" ON "customers" USING btree ("program_id",lower("email"));--> statement-breakpoint
CREATE INDEX "customers_partner_idx" ON "customers" USING btree ("partner_id");--> statement-breakpoint
CREATE UNIQUE INDEX "partners_program_key_uq" ON "partners" USING btree ("program_id","key");--> statement-breakpoint
CREATE UNIQUE INDEX "partners_program_referral_code_uq" ON "partners" USING btree ("program_id","referral_code");--> statement-breakpoint
CREATE INDEX "partners_program_email_idx" ON "partners" USING btree ("program_id",lower("email"));--> statement-breakpoint
CREATE UNIQUE INDEX "rewards_program_key_uq" ON "rewards" USING btree ("program_id","key");--> statement-breakpoint
CREATE INDEX "rewards_transaction_idx" ON "rewards" USING btree ("transaction_id");--> statement-breakpoint
CREATE INDEX "rewards_review_idx" ON "rewards" USING btree ("review_ends_at") WHERE "rewards"."status" = 'review_period';--> statement-breakpoint
CREATE UNIQUE INDEX "transactions_program_key_uq" ON "transactions" USING btree ("program_id","key");--> statement-breakpoint
CREATE INDEX "transactions_program_created_idx" ON "transactions" USING btree ("program_id","created_at","id");--> statement-breakpoint
CREATE INDEX "transactions_customer_idx" ON "transactions" USING btree ("customer_id");--> statement-breakpoint
CREATE INDEX "transactions_partner_idx" ON "transactions" USING btree ("partner_id");--> statement-breakpoint
CREATE UNIQUE INDEX "webhook_events_program_gateway_event_uq" ON "webhook_events" USING btree ("program_id","gateway","event_id");--> statement-breakpoint
CREATE INDEX "webhook_events_status_received_idx" ON "webhook_events" USING btree ("status","received_at");--> statement-breakpoint
CREATE INDEX "webhook_events_program_received_idx" ON "webhook_events" USING btree ("program_id","gateway","received_at");