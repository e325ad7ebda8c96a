import type { Context } from "hono";
import { base64url } from "../crypto";
import type { WebEnv } from "./context";
import { readCookie, writeCookie } from "./cookies";

/** A sign-in in progress, between the phone page and the code page. */
export type SignInFlow = {
  /** E.164, as the send answered it. */
  phone: string;
  /** When the last code went out (ms), for the resend cooldown shown on the page. */
  sentAt: number;
  codeLength: number;
  /** Development sandbox only ("SMS simulation"): the code that was sent. */
  devCode?: string;
};

/** The cookie is ours but comes back from the client: only a well-formed flow is used. */
function asFlow(value: unknown): SignInFlow | undefined {
  const flow = value as Partial<SignInFlow> | null;
  const wellFormed =
    typeof flow?.phone === "string" &&
    /^\+\d{7,15}$/.test(flow.phone) &&
    Number.isSafeInteger(flow.sentAt) &&
    Number.isInteger(flow.codeLength) &&
    (flow.devCode === undefined || (typeof flow.devCode === "string" && /^\d{4,10}$/.test(flow.devCode)));
  return wellFormed
    ? { phone: flow.phone as string, sentAt: flow.sentAt as number, codeLength: flow.codeLength as number, devCode: flow.devCode }
    : undefined;
}

export function readFlow(c: Context<WebEnv>): SignInFlow | undefined {
  const raw = readCookie(c, "flow");
  if (!raw) return undefined;
  try {
    const json = new TextDecoder().decode(Uint8Array.from(atob(raw.replace(/-/g, "+").replace(/_/g, "/")), (ch) => ch.charCodeAt(0)));
    return asFlow(JSON.parse(json));
  } catch {
    return undefined;
  }
}

export function writeFlow(c: Context<WebEnv>, flow: SignInFlow) {
  const config = c.get("config");
  // Only the sandbox ever has a code to show; never carry one otherwise.
  const stored = config.sandbox ? flow : { ...flow, devCode: undefined };
  const value = base64url(new TextEncoder().encode(JSON.stringify(stored)));
  writeCookie(c, "flow", value, Math.max(config.OTP_TTL_SECONDS, 3600));
}
