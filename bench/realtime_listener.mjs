// The listening side of bench/realtime.py: many websocket sessions in one cheap
// Node process, so that receiving ~10^4 messages/s does not saturate the load
// generator (a Python asyncio client cannot on a small machine).
//
//   node --experimental-websocket bench/realtime_listener.mjs '<json>'
//
// <json>: {"url": "ws://…/api/v1/ws", "token": "…", "projects": ["<id>", …],
//          "sessions": 1000, "first": 0, "out": "/tmp/deliveries.tsv"}
// Session i (i = first … first + sessions - 1) subscribes to projects[i % projects.length].
//
// Protocol with the parent: prints `ready` once every session is open and
// subscribed (or has failed: see the summary); on the stdin line `stop`, or when
// stdin closes, writes one line `<title>\t<receive ns>` per delivery of a
// `task.updated` event whose title starts with `t=`, closes the sessions, prints a
// one-line JSON summary and exits 0. Receive times are process.hrtime.bigint():
// CLOCK_MONOTONIC in nanoseconds, the clock of Python's time.monotonic_ns().

import { writeFileSync } from "node:fs";
import { createInterface } from "node:readline";

const OPEN_CONCURRENCY = 50; // handshakes in flight at once
const OPEN_TIMEOUT_MS = 30_000; // per session, until `subscribed`
const CLOSE_WAIT_MS = 2_000; // for close handshakes on stop

const config = JSON.parse(process.argv[2] ?? "{}");
for (const key of ["url", "token", "projects", "sessions", "out"]) {
  if (config[key] === undefined) {
    process.stderr.write(`realtime_listener: missing "${key}" in the JSON argument\n`);
    process.exit(2);
  }
}
const first = config.first ?? 0;

const titles = []; // parallel arrays: cheaper than one object per delivery
const times = [];
const closesBeforeStop = {}; // close code → count
let errors = 0;
let serverErrors = 0; // {"type": "error"} messages
let opened = 0;
let subscribed = 0;
let failed = 0;
let stopping = false;
let extensions = null; // negotiated, e.g. permessage-deflate (costs inflating here)
const sockets = [];

function onMessage(event) {
  const data = event.data;
  if (typeof data !== "string") return;
  if (!data.includes('"t=')) {
    if (data.includes('"error"')) {
      const message = JSON.parse(data);
      if (message.type === "error") serverErrors += 1;
    }
    return;
  }
  const at = process.hrtime.bigint();
  const message = JSON.parse(data);
  if (message.type !== "event" || message.event !== "task.updated") return;
  const title = message.payload?.changes?.title;
  if (typeof title === "string" && title.startsWith("t=")) {
    titles.push(title);
    times.push(at);
  }
}

function openSession(i) {
  const projectId = config.projects[i % config.projects.length];
  return new Promise((resolve) => {
    let settled = false;
    const settle = (ok) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (ok) subscribed += 1;
      else failed += 1;
      resolve();
    };
    const timer = setTimeout(() => settle(false), OPEN_TIMEOUT_MS);
    let ws;
    try {
      ws = new WebSocket(config.url, ["taskhive", `bearer.${config.token}`]);
    } catch (err) {
      errors += 1;
      process.stderr.write(`realtime_listener: session ${i}: ${err}\n`);
      settle(false);
      return;
    }
    sockets.push(ws);
    ws.addEventListener("open", () => {
      opened += 1;
      extensions ??= ws.extensions;
      ws.send(JSON.stringify({ type: "subscribe", project_id: projectId }));
    });
    ws.addEventListener("message", (event) => {
      if (!settled && typeof event.data === "string" && event.data.includes('"subscribed"')) {
        const message = JSON.parse(event.data);
        if (message.type === "subscribed" && message.project_id === projectId) settle(true);
        return;
      }
      onMessage(event);
    });
    ws.addEventListener("error", () => {
      errors += 1;
    });
    ws.addEventListener("close", (event) => {
      if (!stopping) {
        closesBeforeStop[event.code] = (closesBeforeStop[event.code] ?? 0) + 1;
      }
      settle(false);
    });
  });
}

async function openAll() {
  let next = first;
  const end = first + config.sessions;
  const worker = async () => {
    while (next < end) {
      const i = next++;
      await openSession(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(OPEN_CONCURRENCY, config.sessions) }, worker));
}

async function stop() {
  if (stopping) return;
  stopping = true;
  const lines = new Array(titles.length);
  for (let k = 0; k < titles.length; k++) lines[k] = `${titles[k]}\t${times[k]}`;
  writeFileSync(config.out, lines.length ? lines.join("\n") + "\n" : "");
  const live = sockets.filter((ws) => ws.readyState === WebSocket.OPEN);
  const closed = Promise.all(
    live.map((ws) => new Promise((resolve) => ws.addEventListener("close", resolve))),
  );
  for (const ws of live) ws.close(1000);
  await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, CLOSE_WAIT_MS))]);
  const summary = {
    sessions: config.sessions,
    opened,
    subscribed,
    failed,
    deliveries: titles.length,
    closes: closesBeforeStop,
    errors,
    server_errors: serverErrors,
    extensions,
  };
  process.stdout.write(JSON.stringify(summary) + "\n", () => process.exit(0));
}

const stdin = createInterface({ input: process.stdin });
stdin.on("line", (line) => {
  if (line.trim() === "stop") stop();
});
stdin.on("close", () => stop());

await openAll();
if (!stopping) process.stdout.write("ready\n");
