import { z } from "../http/openapi";

export const UserSchema = z
  .object({
    id: z.string(),
    phone: z.string().openapi({ example: "+375291234567" }),
    first_name: z.string().nullable(),
    last_name: z.string().nullable(),
    email: z.string().nullable(),
    invite_code: z.string().openapi({ example: "K7M2QX" }),
    activated_invite_code: z.string().nullable(),
    has_password: z.boolean(),
    role: z.enum(["user", "admin"]),
    created_at: z.string().openapi({ format: "date-time" }),
    last_login_at: z.string().nullable().openapi({ format: "date-time" }),
    points: z.number().int(),
    referrals_count: z.number().int(),
    referral_tree: z.object({ level_1: z.number().int(), level_2: z.number().int(), total_network: z.number().int() }),
  })
  .openapi("User");

const nameField = z.string().trim().min(1).max(64).nullable().optional();

/** The fields a user may edit on their profile (null clears). */
export const ProfilePatchSchema = z
  .object({
    first_name: nameField,
    last_name: nameField,
    email: z.email().max(254).nullable().optional(),
  })
  .openapi("ProfilePatch");
