// POST /v1/auth/token: rotating chains; every answer's new refresh token goes back into the queue.
export default {
  key: "refresh",
  label: "POST /v1/auth/token (refresh)",
  prepare: async (w) => {
    const missing = 4 * w.connections - w.refreshQueue.length;
    if (missing > 0) w.refreshQueue.push(...(await w.many(missing, () => w.signIn())).map((user) => user.refresh_token));
    return w.refreshQueue;
  },
  requests: (w, queue) => [
    {
      method: "POST",
      path: "/v1/auth/token",
      setupRequest: (r) => ({ ...r, headers: w.jsonHeaders(), body: JSON.stringify({ refresh_token: queue.shift() ?? "rt_missing" }) }),
      onResponse: (status, body) => {
        if (status === 200) queue.push(JSON.parse(body).refresh_token);
      },
    },
  ],
};
