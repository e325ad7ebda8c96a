// BENCH_PROFILE: a V8 CPU profile of one Worker (Miniflare's inspector) over the load runs, and
// where its samples fall: by function (self time) and by source module (bundle without minify).
import { writeFileSync } from "node:fs";
import WebSocket from "ws";

/** Connects to the inspector target `id` (e.g. "core:user:" for the Worker) on `port`. */
export async function profiler(port, id) {
  const socket = new WebSocket(`ws://127.0.0.1:${port}/${id}`);
  await new Promise((resolve, reject) => {
    socket.once("open", resolve);
    socket.once("error", reject);
  });
  let next = 1;
  const waiting = new Map();
  socket.on("message", (data) => {
    const message = JSON.parse(String(data));
    const pending = waiting.get(message.id);
    if (!pending) return;
    waiting.delete(message.id);
    if (message.error) pending.reject(new Error(message.error.message));
    else pending.resolve(message.result);
  });
  const send = (method, params = {}) =>
    new Promise((resolve, reject) => {
      const id = next++;
      waiting.set(id, { resolve, reject });
      socket.send(JSON.stringify({ id, method, params }));
    });
  await send("Profiler.enable");
  await send("Profiler.setSamplingInterval", { interval: INTERVAL_US });
  return {
    start: () => send("Profiler.start"),
    /** Stops sampling; the profile taken since `start`. */
    stop: async () => (await send("Profiler.stop")).profile,
    close: () => socket.close(),
  };
}

const INTERVAL_US = 200;
const CAP_US = 3 * INTERVAL_US;

const moduleOf = (url, line, modules) => {
  if (!url) return "(native)";
  const found = modules.findLast((m) => m.line <= line);
  return found ? found.name : url.split("/").pop();
};

/**
 * Self time per function and per module of `profile`; `modules`: [{ line, name }] from the
 * unminified bundle's `// path` comments. Writes the raw profile to `file` (.cpuprofile).
 */
export function summarizeProfile(profile, modules, file) {
  const byFunction = new Map();
  const byModule = new Map();
  let total = 0;
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const deltas = profile.timeDeltas;
  profile.samples.forEach((id, i) => {
    // The time to the next sample, capped: V8 samples only while the isolate runs, so a long
    // gap is time spent elsewhere (another Worker's turn, waiting), not in this frame.
    const ms = Math.min(deltas[i + 1] ?? 0, CAP_US) / 1000;
    const { callFrame } = nodes.get(id);
    if (callFrame.functionName === "(idle)") return;
    total += ms;
    const module = moduleOf(callFrame.url, callFrame.lineNumber + 1, modules);
    const name = `${callFrame.functionName || "(anonymous)"} ${module}:${callFrame.lineNumber + 1}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + ms);
    byModule.set(module, (byModule.get(module) ?? 0) + ms);
  });
  if (file) writeFileSync(file, JSON.stringify(profile));
  const top = (map, n) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, ms]) => ({ name, ms, share: ms / total }));
  return { totalMs: total, functions: top(byFunction, 40), modules: top(byModule, 40) };
}

/** `// path/to/module.ts` comment lines in an unminified esbuild bundle: where each module starts. */
export function bundleModules(text) {
  const modules = [];
  text.split("\n").forEach((line, i) => {
    const match = /^\/\/ (\S+\.(?:ts|js|mjs))$/.exec(line);
    if (match) modules.push({ line: i + 1, name: match[1] });
  });
  return modules;
}
