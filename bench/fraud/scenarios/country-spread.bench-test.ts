import { runScenario } from "../harness";
import { HOUR } from "../population";

// 40 Iranian prefixes no real user of this population has: each stays under FRAUD_MIN_SENDS an hour.
const OPERATORS = [
  "910",
  "911",
  "913",
  "914",
  "915",
  "916",
  "918",
  "920",
  "921",
  "922",
  "933",
  "936",
  "937",
  "938",
  "939",
  "990",
  "991",
  "902",
  "903",
  "905",
];
const PREFIXES = OPERATORS.flatMap((operator) => [`+98${operator}471`, `+98${operator}862`]);

runScenario({
  key: "country-spread",
  label: "Many prefixes of one country",
  description:
    "400 sends in an hour to Iran, round-robin over 40 prefixes (10 an hour each), one client address per send, at the evening peak.",
  fromHour: 17,
  hours: 3,
  attacks: [{ label: "40 IR prefixes × 10/h", prefixes: PREFIXES, start: HOUR, sends: 400, over: HOUR, ips: "fresh" }],
});
