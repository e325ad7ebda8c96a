// POST /v1/auth/otp: a new phone and a new client address per request.
export default {
  key: "send",
  label: "POST /v1/auth/otp (send code)",
  floor: "count",
  requests: (w) => [
    {
      method: "POST",
      path: "/v1/auth/otp",
      setupRequest: (r) => ({ ...r, headers: w.jsonHeaders(w.ip()), body: JSON.stringify({ phone: w.phone() }) }),
    },
  ],
};
