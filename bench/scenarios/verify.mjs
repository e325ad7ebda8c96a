// POST /v1/auth/otp/verify: one fresh code per request, sent (unmeasured) right before the run,
// which stops when they are used up.
export default {
  key: "verify",
  label: "POST /v1/auth/otp/verify",
  floor: "count",
  prepare: (w, size) => w.many(size, () => w.sendCode()),
  amount: (codes) => codes.length,
  requests: (w, codes) => [
    {
      method: "POST",
      path: "/v1/auth/otp/verify",
      setupRequest: (r) => ({
        ...r,
        headers: w.jsonHeaders(w.ip()),
        body: JSON.stringify(codes.pop() ?? { phone: "+375291111111", code: "000000" }),
      }),
    },
  ],
};
