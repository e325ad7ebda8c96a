import { runScenario } from "../harness";
import { HOUR, MINUTE } from "../population";

runScenario({
  key: "prefix-hammered",
  label: "One prefix hammered from 2 addresses",
  description:
    "One send every 5 s for 30 min to +7903444xxxx, a prefix real users also sign in from (the third busiest in Russia), from 2 client addresses in turn (6 a minute each, over the limit of 5).",
  fromHour: 9,
  hours: 3,
  attacks: [{ label: "1 send / 5 s, 2 IPs", prefixes: ["+7903444"], start: HOUR, sends: 360, over: 30 * MINUTE, ips: 2 }],
});
