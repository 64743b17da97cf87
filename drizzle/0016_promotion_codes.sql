CREATE TABLE "coupons" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"program_id" uuid NOT NULL,
	"uuid_code" text NOT NULL,
	"name" text,
	"active" boolean DEFAULT true NOT NULL,
	"discount_type" text,
	"discount_amount" numeric,
	"duration_type" text,
	"duration_value" integer,
	"restrictions" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"metadata" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp (6) with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp (6) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "promotion_codes" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"program_id" uuid NOT NULL,
	"code" text NOT NULL,
	"partner_id" uuid,
	"coupon_id" uuid,
	"restrictions" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"metadata" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp (6) with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp (6) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "coupons" ADD CONSTRAINT "coupons_program_id_programs_id_fk" FOREIGN KEY ("program_id") REFERENCES "public"."programs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "promotion_codes" ADD CONSTRAINT "promotion_codes_program_id_programs_id_fk" FOREIGN KEY ("program_id") REFERENCES "public"."programs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "promotion_codes" ADD CONSTRAINT "promotion_codes_partner_id_partners_id_fk" FOREIGN KEY ("partner_id") REFERENCES "public"."partners"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "promotion_codes" ADD CONSTRAINT "promotion_codes_coupon_id_coupons_id_fk" FOREIGN KEY ("coupon_id") REFERENCES "public"."coupons"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "coupons_program_uuid_code_uq" ON "coupons" USING btree ("program_id",lower("uuid_code"));--> statement-breakpoint
CREATE INDEX "coupons_program_idx" ON "coupons" USING btree ("program_id","created_at","id");--> statement-breakpoint
CREATE UNIQUE INDEX "promotion_codes_program_code_uq" ON "promotion_codes" USING btree ("program_id",lower("code"));--> statement-breakpoint
CREATE INDEX "promotion_codes_partner_idx" ON "promotion_codes" USING btree ("partner_id","created_at","id");--> statement-breakpoint
CREATE INDEX "promotion_codes_program_idx" ON "promotion_codes" USING btree ("program_id","created_at","id");--> statement-breakpoint
CREATE INDEX "promotion_codes_coupon_idx" ON "promotion_codes" USING btree ("coupon_id");
