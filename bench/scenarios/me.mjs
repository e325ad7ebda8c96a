// GET /v1/me: a pool of signed-in users in turn.
export default {
  key: "me",
  label: "GET /v1/me",
  floor: "count",
  prepare: (w) => w.many(w.poolUsers, () => w.signIn()),
  requests: (_w, users) => {
    let turn = 0;
    return [
      {
        method: "GET",
        path: "/v1/me",
        setupRequest: (r) => ({ ...r, headers: { authorization: `Bearer ${users[turn++ % users.length].access_token}` } }),
      },
    ];
  },
};
