import { runScenario } from "../harness";
import { HOUR } from "../population";

runScenario({
  key: "many-ips",
  label: "Attack spread over many addresses",
  description:
    "60 sends an hour to each of 5 prefixes in 5 countries (RU, BY, KZ, IR, DE) for an hour, every send from a client address never seen before, so no per-IP window ever fills.",
  fromHour: 12,
  hours: 3,
  attacks: [
    {
      label: "5 prefixes × 60/h, fresh IP per send",
      prefixes: ["+7958123", "+37544321", "+7702555", "+98936777", "+491761234"],
      start: HOUR,
      sends: 300,
      over: HOUR,
      ips: "fresh",
    },
  ],
});
