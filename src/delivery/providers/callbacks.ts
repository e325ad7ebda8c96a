import type { Config } from "../../config";
import type { ProviderName } from "../types";

/**
 * Where a provider sends its status callbacks: `PUBLIC_URL` + `/v1/hooks/delivery/{provider}`.
 * Without PUBLIC_URL no callback is asked for (the request's own Host is never trusted for it).
 */
export function receiptUrl(config: Pick<Config, "PUBLIC_URL">, provider: ProviderName): string | undefined {
  return config.PUBLIC_URL ? `${config.PUBLIC_URL.replace(/\/$/, "")}/v1/hooks/delivery/${provider}` : undefined;
}
