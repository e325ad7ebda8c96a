import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "./context";
import { fail, problem } from "./problem";

export const ProblemSchema = z
  .object({
    type: z.string().openapi({ example: "about:blank" }),
    title: z.string(),
    status: z.number().int(),
    code: z.string().openapi({ description: "Machine-readable error code; see the contract's table.", example: "invalid_code" }),
    detail: z.string(),
    attempts_left: z.number().int().optional(),
    retry_after: z.number().int().optional(),
    rule: z.string().optional(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .openapi("Problem");

const problemContent = { "application/problem+json": { schema: ProblemSchema } };

/** OpenAPI `responses` entries for error statuses (all share the Problem schema). */
export function problemResponses(...statuses: number[]) {
  return Object.fromEntries(statuses.map((status) => [status, { description: `Problem (${status})`, content: problemContent }])) as Record<
    number,
    { description: string; content: typeof problemContent }
  >;
}

// A field that is absent says so ("phone: is required"), not Zod's "Invalid input: expected
// string, received undefined". Global, so the compatibility bodies and the config read the same;
// a schema's own message still wins.
z.config({ customError: (issue) => (issue.code === "invalid_type" && issue.input === undefined ? "is required" : undefined) });

/**
 * A router whose validation failures all become `validation_failed` problems: the single wrap
 * of `zValidator`, so a raw Zod result never reaches a client.
 */
export function createRouter() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result, c) => {
      if (result.success) return;
      const errors = result.error.issues.map((issue) => ({ path: issue.path.join(".") || "(body)", message: issue.message }));
      const summary = errors.map((e) => `${e.path}: ${e.message}`).join("; ");
      return problem(c, fail("validation_failed", { detail: summary, errors }));
    },
  });
}

/**
 * An `operationId` for routes documented from a table rather than one by one:
 * `("compat", "post", "/api/users/send-code/")` → `compatPostApiUsersSendCode`.
 */
export function operationIdOf(prefix: string, method: string, path: string) {
  const words = [prefix, method, ...path.split(/[/{}.-]/).filter(Boolean)];
  return words.map((word, index) => (index === 0 ? word : `${word[0]?.toUpperCase()}${word.slice(1)}`)).join("");
}

export const bearerSecurity = [{ bearerAuth: [] as string[] }];

export { z };
