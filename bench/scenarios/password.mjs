// POST /v1/auth/password/login: a pool of users with a password (set once, unmeasured) in turn.
export const PASSWORD = "correct horse battery staple 42 bench";

export default {
  key: "password",
  label: "POST /v1/auth/password/login",
  prepare: async (w) => {
    if (w.passwordUsers.length === 0) {
      w.passwordUsers = await w.many(w.poolUsers, async () => {
        const user = await w.signIn();
        await w.expect("PUT", "/v1/me/password", 204, { body: { new_password: PASSWORD }, token: user.access_token });
        return user;
      });
    }
    return w.passwordUsers;
  },
  requests: (w, users) => {
    let turn = 0;
    return [
      {
        method: "POST",
        path: "/v1/auth/password/login",
        setupRequest: (r) => ({
          ...r,
          headers: w.jsonHeaders(w.ip()),
          body: JSON.stringify({ phone: users[turn++ % users.length].phone, password: PASSWORD }),
        }),
      },
    ];
  },
};
