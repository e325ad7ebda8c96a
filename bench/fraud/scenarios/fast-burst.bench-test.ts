import { runScenario } from "../harness";
import { HOUR, MINUTE } from "../population";

runScenario({
  key: "fast-burst",
  label: "Large fast bursts",
  description:
    "300 sends to one German prefix in 2 minutes at the evening peak, then, an hour later, 300 to one Kazakh prefix in 5 minutes; one client address per send.",
  fromHour: 19,
  hours: 3,
  attacks: [
    { label: "300 in 2 min", prefixes: ["+491791234"], start: HOUR, sends: 300, over: 2 * MINUTE, ips: "fresh" },
    { label: "300 in 5 min", prefixes: ["+7700888"], start: 2 * HOUR, sends: 300, over: 5 * MINUTE, ips: "fresh" },
  ],
});
