// Issue #15's sign-in flow against the floor Worker: send → verify → me at 8 connections, 3 rounds,
// on our Worker, the baseline and the floor.
import { flowOf } from "./flow.mjs";

export default flowOf(["send", "verify", "me"], {
  key: "signin",
  label: "sign-in: send → verify → me",
  floor: "load",
  connections: 8,
  rounds: 3,
});
