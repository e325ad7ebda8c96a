import type { Provider } from "../types";

/** Development only (config refuses it in production): the message goes to the log, with the channel it stands in for. */
export const consoleProvider: Provider = {
  name: "console",
  async send({ channel, to, text }) {
    console.log(`[delivery:console] ${channel} to ${to}: ${text}`);
    return { ok: true, messageId: null };
  },
};
