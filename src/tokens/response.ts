import type { Config } from "../config";
import type { User } from "../users/profile";
import { type Role, signAccessToken } from "./jwt";
import { refreshExpiresIn } from "./sessions";

export type SessionGrant = { id: string; userId: string; role: Role; authTime: number; expiresAt: number };

/** The contract's token response: a fresh access token next to the session's refresh token. */
export async function tokenResponse(
  config: Config,
  input: { session: SessionGrant; refreshToken: string; isNewUser: boolean; user?: User },
  now: number,
) {
  const { session } = input;
  const accessToken = await signAccessToken(
    config,
    { sub: session.userId, sid: session.id, role: session.role, authTimeMs: session.authTime },
    now,
  );
  return {
    access_token: accessToken,
    token_type: "Bearer" as const,
    expires_in: config.ACCESS_TOKEN_TTL_SECONDS,
    refresh_token: input.refreshToken,
    refresh_expires_in: refreshExpiresIn(config, session.expiresAt, now),
    is_new_user: input.isNewUser,
    ...(input.user ? { user: input.user } : {}),
  };
}
