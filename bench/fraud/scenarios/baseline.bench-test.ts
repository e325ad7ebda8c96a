import { runScenario } from "../harness";

runScenario({
  key: "baseline",
  label: "Baseline: the legitimate population alone",
  description: "A whole day of real sign-ins and nothing else: every block here is a false positive.",
  fromHour: 0,
  hours: 24,
  attacks: [],
});
