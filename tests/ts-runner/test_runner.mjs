// The test runner of shared/spec/test-runner.md on the TypeScript runner
// `@rivetkit/engine-runner@2.0.33`, so that the load comparison
// (`cargo run --release -p tests --bin load_compare`) drives the same program
// shape on both sides.
//
//     cd tests/ts-runner && npm ci && RIVET_ENDPOINT=http://127.0.0.1:6420 node test_runner.mjs
//
// Implemented: the configuration variables, the JSON stdout lines, SIGTERM /
// SIGINT (graceful, a second one immediate), the HTTP routes /ping, /echo,
// /headers, /status/<code>, /big, /kv/<key> (PUT, GET, DELETE), /kv (list),
// /kv-range, /kv-drop, /sleep, /stop, /crash, the /ws echo, and the
// serverless mode (RIVET_SERVERLESS_LISTEN, for the cold-start comparison of
// tests/tests/e2e_serverless.rs). Not
// implemented: /alarm and /hws (hibernatable sockets), which no benchmark
// uses. The runner logs nothing (no logger is given): the benchmark measures
// the library, not its logging.

import { randomUUID } from "node:crypto";
import { Runner } from "@rivetkit/engine-runner";

function fail(message) {
	process.stderr.write(`test_runner: invalid configuration: ${message}\n`);
	process.exit(2);
}

function number(name, fallback) {
	const raw = process.env[name];
	if (raw === undefined || raw === "") return fallback;
	if (!/^[0-9]+$/.test(raw)) fail(`${name}=${JSON.stringify(raw)} is not a number`);
	return Number(raw);
}

const endpoint = process.env.RIVET_ENDPOINT || "http://127.0.0.1:6420";
try {
	const url = new URL(endpoint);
	if (!["http:", "https:", "ws:", "wss:"].includes(url.protocol)) throw new Error("scheme");
} catch {
	fail(`RIVET_ENDPOINT=${JSON.stringify(endpoint)} is not an http(s) URL`);
}
const protocolVersion = number("RIVET_PROTOCOL_VERSION", 5);
if (protocolVersion !== 5) fail(`this runner speaks protocol 5 only, not ${protocolVersion}`);

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const KV_PREFIX = "kv/";

function print(event) {
	process.stdout.write(`${JSON.stringify(event)}\n`);
}

/** How many times this process started each actor id (`/ping`'s `starts`). */
const starts = new Map();

function empty(status) {
	return new Response(null, { status });
}

function json(value) {
	return new Response(JSON.stringify(value), {
		status: 200,
		headers: { "content-type": "application/json" },
	});
}

function storedKey(key) {
	return encoder.encode(KV_PREFIX + key);
}

function pairs(entries) {
	return json(
		entries.map(([k, v]) => [decoder.decode(k).slice(KV_PREFIX.length), decoder.decode(v)]),
	);
}

function listOptions(params) {
	const options = {};
	if (params.get("reverse") === "true" || params.get("reverse") === "1") options.reverse = true;
	if (params.has("limit")) options.limit = Number(params.get("limit"));
	return options;
}

function digits(n) {
	return "0123456789".repeat(Math.ceil(n / 10)).slice(0, n);
}

async function route(runner, actorId, request) {
	const url = new URL(request.url);
	const path = url.pathname;
	const method = request.method;
	if (method === "GET" && path === "/ping") {
		const actor = runner.getActor(actorId);
		return json({
			actorId,
			generation: actor ? actor.generation : 0,
			starts: starts.get(actorId) ?? 0,
			status: "ok",
		});
	}
	if (method === "POST" && path === "/echo") {
		const body = new Uint8Array(await request.arrayBuffer());
		const headers = {};
		const type = request.headers.get("content-type");
		if (type !== null) headers["content-type"] = type;
		return new Response(body, { status: 200, headers });
	}
	if (method === "GET" && path === "/headers") {
		const object = {};
		request.headers.forEach((value, name) => {
			object[name] = value;
		});
		return json(object);
	}
	if (method === "GET" && path.startsWith("/status/")) {
		return empty(Number(path.slice("/status/".length)));
	}
	if (method === "GET" && path === "/big") {
		return new Response(digits(Number(url.searchParams.get("bytes"))), {
			headers: { "content-type": "text/plain" },
		});
	}
	if (path.startsWith("/kv/") && path.length > 4) {
		const key = storedKey(decodeURIComponent(path.slice(4)));
		if (method === "PUT") {
			const value = new Uint8Array(await request.arrayBuffer());
			await runner.kvPut(actorId, [[key, value]]);
			return empty(204);
		}
		if (method === "GET") {
			const [value] = await runner.kvGet(actorId, [key]);
			return value === null ? empty(404) : new Response(value, { status: 200 });
		}
		if (method === "DELETE") {
			await runner.kvDelete(actorId, [key]);
			return empty(204);
		}
	}
	if (method === "GET" && path === "/kv") {
		const prefix = storedKey(url.searchParams.get("prefix") ?? "");
		return pairs(await runner.kvListPrefix(actorId, prefix, listOptions(url.searchParams)));
	}
	if (method === "GET" && path === "/kv-range") {
		const start = storedKey(url.searchParams.get("start") ?? "");
		const end = storedKey(url.searchParams.get("end") ?? "");
		const exclusive = url.searchParams.get("exclusive") === "true";
		return pairs(await runner.kvListRange(actorId, start, end, exclusive));
	}
	if (method === "POST" && path === "/kv-drop") {
		await runner.kvDrop(actorId);
		return empty(204);
	}
	if (method === "POST" && path === "/sleep") {
		setImmediate(() => runner.sleepActor(actorId));
		return empty(200);
	}
	if (method === "POST" && path === "/stop") {
		setImmediate(() => runner.stopActor(actorId));
		return empty(200);
	}
	if (method === "POST" && path === "/crash") {
		setImmediate(() => runner.forceStopActor(actorId));
		return empty(200);
	}
	return new Response(`no route ${path}\n`, { status: 404 });
}

function echoSocket(ws) {
	ws.addEventListener("message", (event) => {
		const data = event.data;
		if (typeof data === "string") {
			if (data === "close") ws.close(1000, "bye");
			else ws.send(data);
		} else {
			ws.send(data);
		}
	});
}

/** A runner of this program; `hooks` adds to its connect and shutdown. */
function makeRunner(settings, hooks = {}) {
	const runner = new Runner({
	version: number("RIVET_RUNNER_VERSION", 1),
	endpoint: settings.endpoint,
	token: settings.token,
	namespace: settings.namespace,
	totalSlots: settings.totalSlots,
	runnerName: settings.runnerName,
	runnerKey: process.env.RIVET_RUNNER_KEY || randomUUID(),
	prepopulateActorNames: {},
	noAutoShutdown: true,
	onConnected: () => {
		print({ event: "connected", runnerId: runner.runnerId });
		hooks.onConnected?.(runner);
	},
	onDisconnected: (code, reason) => print({ event: "disconnected", code, reason }),
	onShutdown: () => hooks.onShutdown?.(runner),
	fetch: (runner, actorId, _gatewayId, _requestId, request) =>
		route(runner, actorId, request).catch(
			(err) => new Response(`${err}\n`, { status: 500 }),
		),
	websocket: async (_runner, _actorId, ws, _gatewayId, _requestId, _request, path) => {
		const route = path.split("?")[0];
		if (route === "/ws") {
			echoSocket(ws);
		} else {
			throw new Error(`no such WebSocket route ${route}`);
		}
	},
	hibernatableWebSocket: { canHibernate: () => false },
	onActorStart: async (actorId, generation, config) => {
		starts.set(actorId, (starts.get(actorId) ?? 0) + 1);
		print({
			event: "actor_start",
			actorId,
			generation,
			name: config.name,
			key: config.key ?? null,
		});
	},
	onActorStop: async (actorId, generation) => {
		print({ event: "actor_stop", actorId, generation });
	},
	});
	return runner;
}

/** Runners to shut down on a signal. */
const runners = new Set();

let stopping = false;
async function onSignal() {
	if (stopping) {
		// A second signal: immediate.
		print({ event: "shutdown" });
		process.exit(0);
	}
	stopping = true;
	await Promise.all([...runners].map((runner) => runner.shutdown(false)));
	print({ event: "shutdown" });
	process.exit(0);
}
process.on("SIGTERM", onSignal);
process.on("SIGINT", onSignal);

const serverlessListen = process.env.RIVET_SERVERLESS_LISTEN;
if (serverlessListen) {
	await serveServerless(serverlessListen);
} else {
	const runner = makeRunner({
		endpoint,
		token: process.env.RIVET_TOKEN ?? "dev",
		namespace: process.env.RIVET_NAMESPACE || "default",
		totalSlots: number("RIVET_TOTAL_SLOTS", 1000),
		runnerName: process.env.RIVET_RUNNER_NAME || "test-runner",
	});
	runners.add(runner);
	await runner.start();
}

/**
 * Serverless mode, as rivetkit's engine test runner serves it
 * (`engine/sdks/typescript/test-runner`): one runner per `GET /api/rivet/start`,
 * configured from the request headers, the init packet as the first SSE
 * message once connected, a ping every second, an aborted request shuts the
 * runner down (immediately, as there).
 */
async function serveServerless(listen) {
	const { createServer } = await import("node:http");
	const [host, port] = [listen.slice(0, listen.lastIndexOf(":")), Number(listen.slice(listen.lastIndexOf(":") + 1))];
	const server = createServer((req, res) => {
		const path = new URL(req.url, "http://x").pathname;
		if (req.method === "GET" && path === "/api/rivet/metadata") {
			res.writeHead(200, { "content-type": "application/json" });
			res.end(JSON.stringify({ runtime: "rivetkit", version: "1" }));
			return;
		}
		if (req.method !== "GET" || path !== "/api/rivet/start") {
			res.writeHead(404).end();
			return;
		}
		const header = (name) => req.headers[name];
		if (!header("x-rivet-endpoint") || !header("x-rivet-runner-name")) {
			res.writeHead(400).end("missing x-rivet-* headers");
			return;
		}
		res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
		let ping;
		const runner = makeRunner(
			{
				endpoint: header("x-rivet-endpoint"),
				token: header("x-rivet-token") ?? process.env.RIVET_TOKEN ?? "dev",
				namespace: header("x-rivet-namespace-name") || "default",
				totalSlots: Number(header("x-rivet-total-slots") || 1),
				runnerName: header("x-rivet-runner-name"),
			},
			{
				onConnected: (runner) => {
					if (ping) return;
					res.write(`data: ${runner.getServerlessInitPacket()}\n\n`);
					ping = setInterval(() => res.write("event: ping\ndata:\n\n"), 1000);
				},
				onShutdown: () => {
					clearInterval(ping);
					runners.delete(runner);
					res.end();
				},
			},
		);
		runners.add(runner);
		res.on("close", () => {
			if (!res.writableEnded) runner.shutdown(true);
		});
		runner.start();
	});
	await new Promise((resolve) => server.listen(port, host, resolve));
	const address = server.address();
	print({ event: "listening", addr: `${address.address}:${address.port}` });
}
