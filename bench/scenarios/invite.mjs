// POST /v1/me/invite: activation is once per account, so one fresh signed-in caller per request,
// all activating one inviter's code.
export default {
  key: "invite",
  label: "POST /v1/me/invite (activation)",
  prepare: async (w, size) => ({ inviter: await w.signIn(), callers: await w.many(size, () => w.signIn()) }),
  amount: (state) => state.callers.length,
  requests: (w, state) => [
    {
      method: "POST",
      path: "/v1/me/invite",
      setupRequest: (r) => ({
        ...r,
        headers: { ...w.jsonHeaders(), authorization: `Bearer ${state.callers.pop()?.access_token ?? "missing"}` },
        body: JSON.stringify({ invite_code: state.inviter.user.invite_code }),
      }),
    },
  ],
};
