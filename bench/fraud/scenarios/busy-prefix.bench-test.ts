import { runScenario } from "../harness";
import { HOUR } from "../population";

runScenario({
  key: "busy-prefix",
  label: "Pumping hidden in a busy prefix",
  description:
    "80 sends an hour for 2 h to +7916123xxxx, the busiest real prefix (about 60 real sends an hour at the evening peak, 60 % of them verified), one client address per send.",
  fromHour: 17,
  hours: 3,
  attacks: [{ label: "80/h into the busiest prefix", prefixes: ["+7916123"], start: HOUR, sends: 160, over: 2 * HOUR, ips: "fresh" }],
});
