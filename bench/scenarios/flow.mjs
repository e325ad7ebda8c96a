// The sign-in flow, per connection: a new phone, its code from the SMS webhook, then the tokens it
// got (send → verify → me → refresh).
const STEPS = {
  send: (w) => ({
    method: "POST",
    path: "/v1/auth/otp",
    setupRequest: (r, context) => {
      context.phone = w.phone();
      context.ip = w.ip();
      return { ...r, headers: w.jsonHeaders(context.ip), body: JSON.stringify({ phone: context.phone }) };
    },
  }),
  verify: (w) => ({
    method: "POST",
    path: "/v1/auth/otp/verify",
    setupRequest: (r, context) => {
      const code = w.codes.get(context.phone) ?? "000000";
      w.codes.delete(context.phone);
      return { ...r, headers: w.jsonHeaders(context.ip), body: JSON.stringify({ phone: context.phone, code }) };
    },
    onResponse: (status, body, context) => {
      if (status !== 200) return;
      const tokens = JSON.parse(body);
      context.access = tokens.access_token;
      context.refresh = tokens.refresh_token;
    },
  }),
  me: () => ({
    method: "GET",
    path: "/v1/me",
    setupRequest: (r, context) => ({ ...r, headers: { authorization: `Bearer ${context.access ?? "missing"}` } }),
  }),
  refresh: (w) => ({
    method: "POST",
    path: "/v1/auth/token",
    setupRequest: (r, context) => ({
      ...r,
      headers: w.jsonHeaders(),
      body: JSON.stringify({ refresh_token: context.refresh ?? "rt_missing" }),
    }),
  }),
};

/** A flow scenario of `steps` (names of STEPS), each connection cycling through them in order. */
export const flowOf = (steps, scenario) => ({ ...scenario, steps, requests: (w) => steps.map((step) => STEPS[step](w)) });

export default flowOf(["send", "verify", "me", "refresh"], { key: "flow", label: "flow: send → verify → me → refresh" });
