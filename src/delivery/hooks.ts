import { createRoute } from "@hono/zod-openapi";
import { timingSafeEqual } from "../crypto";
import { batch } from "../db/client";
import { receiptRollupSql } from "../fraud/rollups";
import { deps } from "../http/deps";
import { createRouter, problemResponses, z } from "../http/openapi";
import { ApiError, fail } from "../http/problem";
import { providersIn } from "./routing";
import { receiptSql } from "./store";
import type { ProviderName } from "./types";

const receiptRoute = createRoute({
  method: "post",
  path: "/v1/hooks/delivery/{provider}",
  operationId: "receiveDeliveryReceipt",
  tags: ["Delivery"],
  summary: "A provider's delivery status callback",
  description:
    "Takes a provider's status callbacks (Twilio, Vonage, WhatsApp Cloud, Telegram Gateway), checked with that provider's own " +
    "signature scheme (X-Twilio-Signature, Vonage's signed `sig`, X-Hub-Signature-256, X-Request-Signature). A missing or " +
    "wrong signature answers 401 and records nothing; a good one updates each named attempt's status in one statement.",
  security: [],
  request: {
    params: z.object({
      provider: z.string().openapi({ description: "twilio, vonage, whatsapp_cloud or telegram_gateway", example: "twilio" }),
    }),
  },
  responses: {
    204: { description: "Receipt recorded (or carried no status we record)" },
    ...problemResponses(401, 404, 413, 429, 503),
  },
});

const subscribeRoute = createRoute({
  method: "get",
  path: "/v1/hooks/delivery/whatsapp_cloud",
  operationId: "subscribeWhatsAppWebhook",
  tags: ["Delivery"],
  summary: "Meta's webhook verification request",
  description:
    "Meta subscribes the status webhook with `hub.mode=subscribe`, `hub.verify_token` and `hub.challenge`; the challenge is " +
    "echoed when the token equals WHATSAPP_VERIFY_TOKEN, otherwise 401.",
  security: [],
  request: {
    query: z.object({
      "hub.mode": z.string().optional(),
      "hub.verify_token": z.string().optional(),
      "hub.challenge": z.string().max(256).optional(),
    }),
  },
  responses: {
    200: { description: "The challenge, as plain text", content: { "text/plain": { schema: z.string() } } },
    ...problemResponses(401, 429, 503),
  },
});

/**
 * `POST /v1/hooks/delivery/{provider}`: signature first, then one UPDATE per status the callback
 * carries; and Meta's GET handshake that subscribes the WhatsApp webhook.
 */
export const deliveryHooks = createRouter()
  .openapi(subscribeRoute, (c) => {
    const query = c.req.valid("query");
    const expected = c.get("config").WHATSAPP_VERIFY_TOKEN;
    const token = query["hub.verify_token"];
    if (query["hub.mode"] !== "subscribe" || !expected || !token || !timingSafeEqual(token, expected)) {
      throw new ApiError(fail("unauthorized", { detail: "The verify token is missing or wrong." }));
    }
    return c.text(query["hub.challenge"] ?? "", 200);
  })
  .openapi(receiptRoute, async (c) => {
    const { provider: name } = c.req.valid("param");
    const services = deps(c);
    const provider = services.delivery.provider(name);
    // Only providers a route names take callbacks: the others have no credentials to check against.
    if (!provider?.verifyReceipt || !providersIn(services.config.delivery.routes).has(name as ProviderName)) {
      throw new ApiError(fail("not_found", { detail: "No delivery receipts are taken for this provider." }));
    }
    const body = await c.req.text();
    // Providers sign the URL they called: the one built from PUBLIC_URL (which they were given) when set.
    const path = new URL(c.req.url);
    const url = services.config.PUBLIC_URL ? `${services.config.PUBLIC_URL.replace(/\/$/, "")}${path.pathname}${path.search}` : c.req.url;
    const receipts = await provider.verifyReceipt({ url, body, headers: c.req.raw.headers });
    if (!receipts) throw new ApiError(fail("unauthorized", { detail: "The callback's signature is missing or wrong." }));
    if (receipts.length > 0)
      await batch(
        services.db,
        // Each receipt's counter change runs just before its UPDATE, while the old status is still there.
        receipts.flatMap((receipt) => [receiptRollupSql(name, receipt), receiptSql(name, receipt, services.now)]),
      );
    return c.body(null, 204);
  });
