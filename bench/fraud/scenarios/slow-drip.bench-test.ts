import { runScenario } from "../harness";
import { HOUR } from "../population";

runScenario({
  key: "slow-drip",
  label: "Slow drips",
  description:
    "Two Kazakh prefixes drained for 3 h, one client address per send: 10 an hour (under FRAUD_MIN_SENDS, not meant to be caught) and 24 an hour (just over it).",
  fromHour: 6,
  hours: 5,
  attacks: [
    { label: "drip 10/h (under the threshold)", prefixes: ["+7778444"], start: HOUR, sends: 30, over: 3 * HOUR, ips: "fresh" },
    { label: "drip 24/h (just over it)", prefixes: ["+7775310"], start: HOUR, sends: 72, over: 3 * HOUR, ips: "fresh" },
  ],
});
