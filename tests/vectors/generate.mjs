// Golden vectors for the Rust runner-protocol codec, produced with the official
// TypeScript codec (`@rivetkit/engine-runner-protocol`), one package per protocol
// version (see package.json: v5 = 2.0.33, v6 = 2.1.5, v7 = 2.2.1).
//
// Usage: `npm ci && node generate.mjs` in this folder. Writes v5.json, v6.json
// and v7.json next to this script; the Rust test `tests/tests/codec_vectors.rs`
// reads them.
//
// File format (one vector per line so diffs stay readable):
//
//   { "package": "@rivetkit/engine-runner-protocol@2.0.33", "protocol": 5,
//     "vectors": [ { "name", "direction": "to_server" | "to_client",
//                    "value": <TS object as JSON>, "hex" | "hex_parts" }, ... ] }
//
// JSON shape of a TS value:
//   ArrayBuffer          -> {"hex": "0a0b"}, or {"repeat_hex": "30313233", "len": N}
//                           for large generated bodies (the unit repeated and cut to N bytes)
//   bigint (i64, u64)    -> decimal string, e.g. "-9223372036854775808"
//   Map (BARE map)       -> {"map": [[key, value], ...]} in wire order
//   number, string, bool, null -> as is
//
// Encodings of vectors with a generated body are stored as "hex_parts": a list of
// {"hex": ...} and {"repeat_hex", "len"} pieces whose concatenation is the
// encoding, so that multi-megabyte hex never lands in git.

import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { isDeepStrictEqual } from "node:util";

import * as v5 from "proto-v5";
import * as v6 from "proto-v6";
import * as v7 from "proto-v7";

const PACKAGES = [
	{ protocol: 5, codec: v5, pkg: "@rivetkit/engine-runner-protocol@2.0.33" },
	{ protocol: 6, codec: v6, pkg: "@rivetkit/engine-runner-protocol@2.1.5" },
	{ protocol: 7, codec: v7, pkg: "@rivetkit/engine-runner-protocol@2.2.1" },
];

const HERE = dirname(fileURLToPath(import.meta.url));

// ------------------------------------------------------------------ values

const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;
const U64_MAX = 2n ** 64n - 1n;
const U32_MAX = 2 ** 32 - 1;
const U16_MAX = 2 ** 16 - 1;

/** Generated buffers, remembered so that JSON output can describe them compactly. */
const PATTERNS = new WeakMap();

function bytes(hex) {
	return Uint8Array.from(Buffer.from(hex.replaceAll(" ", ""), "hex")).buffer;
}

function utf8(text) {
	return Uint8Array.from(Buffer.from(text, "utf8")).buffer;
}

/** `len` bytes: the bytes of `unitHex` repeated and cut to length. */
function pattern(unitHex, len) {
	const unit = Buffer.from(unitHex, "hex");
	const out = new Uint8Array(len);
	for (let i = 0; i < len; i++) out[i] = unit[i % unit.length];
	PATTERNS.set(out.buffer, { repeat_hex: unitHex, len });
	return out.buffer;
}

const DIGITS = Buffer.from("0123456789").toString("hex");
const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i)).toString("hex");
const KIB_200 = 200 * 1024;
const MIB_1 = 1024 * 1024;

const GW = bytes("01020304");
const RQ = bytes("05060708");
const ACTOR = "A";

function mid(messageIndex, gatewayId = GW, requestId = RQ) {
	return { gatewayId, requestId, messageIndex };
}

function cp(actorId, generation, index) {
	return { actorId, generation, index };
}

const EIGHT_HEADERS = new Map([
	["host", "actor.example"],
	["user-agent", "runner-bench/1.0"],
	["accept", "*/*"],
	["accept-encoding", "gzip, br"],
	["accept-language", "en-US,en;q=0.9"],
	["x-rivet-target", "actor"],
	["x-request-id", "c0ffee00-1234-5678-9abc-def012345678"],
	["cookie", "session=abc123; theme=dark"],
]);

// ------------------------------------------------------------ ToServer set

function toServerVectors(protocol) {
	const v = [];
	const add = (name, val) => v.push({ name, direction: "to_server", value: val });
	const tag = (t, val) => ({ tag: t, val });

	add("init_minimal", tag("ToServerInit", {
		name: "r", version: 1, totalSlots: 1000, prepopulateActorNames: null, metadata: null,
	}));
	add("init_full_non_ascii", tag("ToServerInit", {
		name: "ランナー-🦀", version: U32_MAX, totalSlots: 0,
		prepopulateActorNames: new Map([
			["counter", { metadata: "{}" }],
			["聊天室", { metadata: '{"icon":"💬","tags":["ü","ß"]}' }],
		]),
		metadata: '{"region":"东京","emoji":"🚀"}',
	}));
	add("init_empty_map_empty_metadata", tag("ToServerInit", {
		name: "", version: 0, totalSlots: U32_MAX, prepopulateActorNames: new Map(), metadata: "",
	}));

	const events = (list) => tag("ToServerEvents", list);
	const ev = (checkpoint, inner) => ({ checkpoint, inner });
	add("events_empty", events([]));
	add("events_intent_sleep", events([ev(cp(ACTOR, 0, 1n), tag("EventActorIntent", { intent: tag("ActorIntentSleep", null) }))]));
	add("events_intent_stop", events([ev(cp(ACTOR, 3, 2n), tag("EventActorIntent", { intent: tag("ActorIntentStop", null) }))]));
	add("events_state_running", events([ev(cp(ACTOR, 0, 0n), tag("EventActorStateUpdate", { state: tag("ActorStateRunning", null) }))]));
	add("events_state_stopped_ok_no_message", events([ev(cp(ACTOR, 1, 5n), tag("EventActorStateUpdate", {
		state: tag("ActorStateStopped", { code: "Ok", message: null }),
	}))]));
	add("events_state_stopped_error_non_ascii", events([ev(cp(ACTOR, 1, 6n), tag("EventActorStateUpdate", {
		state: tag("ActorStateStopped", { code: "Error", message: "崩溃了 💥 crash" }),
	}))]));
	add("events_set_alarm_some", events([ev(cp(ACTOR, 0, 3n), tag("EventActorSetAlarm", { alarmTs: 1767225600000n }))]));
	add("events_set_alarm_negative", events([ev(cp(ACTOR, 0, 4n), tag("EventActorSetAlarm", { alarmTs: -1n }))]));
	add("events_set_alarm_none", events([ev(cp(ACTOR, 0, 5n), tag("EventActorSetAlarm", { alarmTs: null }))]));
	add("events_many_boundaries", events([
		ev(cp("01234567890123456789abcdefghij", U32_MAX, I64_MAX), tag("EventActorIntent", { intent: tag("ActorIntentSleep", null) })),
		ev(cp("b", 0, I64_MIN), tag("EventActorSetAlarm", { alarmTs: I64_MIN })),
		ev(cp("c", 65536, 0n), tag("EventActorSetAlarm", { alarmTs: I64_MAX })),
		ev(cp("🦀", 128, 127n), tag("EventActorStateUpdate", { state: tag("ActorStateRunning", null) })),
	]));

	add("ack_commands_empty", tag("ToServerAckCommands", { lastCommandCheckpoints: [] }));
	add("ack_commands_many", tag("ToServerAckCommands", {
		lastCommandCheckpoints: [cp(ACTOR, 0, 0n), cp("B", U32_MAX, I64_MAX), cp("C", 1, I64_MIN), cp("D", 2, -1n)],
	}));

	add("stopping", tag("ToServerStopping", null));

	add("pong_zero", tag("ToServerPong", { ts: 0n }));
	add("pong_now", tag("ToServerPong", { ts: 1767225600123n }));
	add("pong_i64_max", tag("ToServerPong", { ts: I64_MAX }));
	add("pong_i64_min", tag("ToServerPong", { ts: I64_MIN }));
	add("pong_negative", tag("ToServerPong", { ts: -1000n }));

	const kv = (name, requestId, data) => add(name, tag("ToServerKvRequest", { actorId: ACTOR, requestId, data }));
	kv("kv_get_empty", 0, tag("KvGetRequest", { keys: [] }));
	kv("kv_get_keys", 7, tag("KvGetRequest", { keys: [utf8("k"), bytes(""), bytes("00ff80"), utf8("キー")] }));
	kv("kv_list_all", 1, tag("KvListRequest", { query: tag("KvListAllQuery", null), reverse: null, limit: null }));
	kv("kv_list_range_exclusive", 2, tag("KvListRequest", {
		query: tag("KvListRangeQuery", { start: utf8("a"), end: utf8("z"), exclusive: true }), reverse: false, limit: U64_MAX,
	}));
	kv("kv_list_range_inclusive", 3, tag("KvListRequest", {
		query: tag("KvListRangeQuery", { start: bytes(""), end: bytes("ffff"), exclusive: false }), reverse: null, limit: 16384n,
	}));
	kv("kv_list_prefix", 4, tag("KvListRequest", {
		query: tag("KvListPrefixQuery", { key: utf8("k") }), reverse: true, limit: 0n,
	}));
	kv("kv_put", 5, tag("KvPutRequest", { keys: [utf8("a"), utf8("b")], values: [utf8("1"), pattern(ALL_BYTES, 300)] }));
	kv("kv_put_empty", 6, tag("KvPutRequest", { keys: [], values: [] }));
	kv("kv_delete", 8, tag("KvDeleteRequest", { keys: [utf8("a"), bytes("00")] }));
	if (protocol >= 7) {
		kv("kv_delete_range", 9, tag("KvDeleteRangeRequest", { start: utf8("a"), end: utf8("b") }));
		kv("kv_delete_range_empty_bounds", 10, tag("KvDeleteRangeRequest", { start: bytes(""), end: bytes("") }));
	}
	kv("kv_drop", U32_MAX, tag("KvDropRequest", null));

	const tun = (name, messageId, messageKind) => add(name, tag("ToServerTunnelMessage", { messageId, messageKind }));
	tun("tunnel_response_start", mid(1), tag("ToServerResponseStart", {
		status: 200, headers: new Map([["content-type", "text/plain; charset=utf-8"], ["x-ünïcödé", "值 ✓"]]),
		body: utf8("hello, 世界 👋"), stream: false,
	}));
	tun("tunnel_response_start_small_body", mid(2), tag("ToServerResponseStart", {
		status: 200, headers: new Map([["content-type", "application/octet-stream"]]),
		body: pattern(DIGITS, 100), stream: false,
	}));
	tun("tunnel_response_start_empty", mid(0, bytes("ffffffff"), bytes("00000000")), tag("ToServerResponseStart", {
		status: 0, headers: new Map(), body: null, stream: true,
	}));
	tun("tunnel_response_start_empty_body", mid(U16_MAX), tag("ToServerResponseStart", {
		status: U16_MAX, headers: new Map(), body: bytes(""), stream: false,
	}));
	tun("tunnel_response_start_200k", mid(3), tag("ToServerResponseStart", {
		status: 200, headers: new Map([["content-length", String(KIB_200)]]), body: pattern(ALL_BYTES, KIB_200), stream: false,
	}));
	tun("tunnel_response_start_1mib", mid(4), tag("ToServerResponseStart", {
		status: 200, headers: new Map([["content-length", String(MIB_1)]]), body: pattern(DIGITS, MIB_1), stream: false,
	}));
	tun("tunnel_response_chunk", mid(5), tag("ToServerResponseChunk", { body: utf8("chunk"), finish: false }));
	tun("tunnel_response_chunk_empty_finish", mid(6), tag("ToServerResponseChunk", { body: bytes(""), finish: true }));
	tun("tunnel_response_abort", mid(7), tag("ToServerResponseAbort", null));
	tun("tunnel_ws_open_hibernate", mid(0), tag("ToServerWebSocketOpen", { canHibernate: true }));
	tun("tunnel_ws_open_no_hibernate", mid(0), tag("ToServerWebSocketOpen", { canHibernate: false }));
	tun("tunnel_ws_message_binary", mid(8), tag("ToServerWebSocketMessage", { data: bytes("00010203fffe"), binary: true }));
	tun("tunnel_ws_message_text", mid(9), tag("ToServerWebSocketMessage", { data: utf8("héllo 🌍 你好"), binary: false }));
	tun("tunnel_ws_message_empty", mid(10), tag("ToServerWebSocketMessage", { data: bytes(""), binary: false }));
	tun("tunnel_ws_message_ack", mid(2), tag("ToServerWebSocketMessageAck", { index: 258 }));
	tun("tunnel_ws_message_ack_max", mid(3), tag("ToServerWebSocketMessageAck", { index: U16_MAX }));
	tun("tunnel_ws_close_full", mid(11), tag("ToServerWebSocketClose", { code: 1000, reason: "bye 👋", hibernate: false }));
	tun("tunnel_ws_close_none_hibernate", mid(12), tag("ToServerWebSocketClose", { code: null, reason: null, hibernate: true }));
	tun("tunnel_ws_close_max_code", mid(13), tag("ToServerWebSocketClose", { code: U16_MAX, reason: "", hibernate: false }));
	return v;
}

// ------------------------------------------------------------ ToClient set

function toClientVectors(protocol) {
	const v = [];
	const add = (name, val) => v.push({ name, direction: "to_client", value: val });
	const tag = (t, val) => ({ tag: t, val });

	const meta = (runnerLostThreshold, actorStopThreshold, serverlessDrainGracePeriod) =>
		protocol >= 6
			? { runnerLostThreshold, actorStopThreshold, serverlessDrainGracePeriod }
			: { runnerLostThreshold };
	add("init", tag("ToClientInit", { runnerId: "R", metadata: meta(15000n, 30000n, null) }));
	add("init_boundaries", tag("ToClientInit", {
		runnerId: "01234567890123456789abcdefghij", metadata: meta(I64_MAX, I64_MIN, null),
	}));
	add("init_zero", tag("ToClientInit", { runnerId: "", metadata: meta(0n, 0n, null) }));
	if (protocol >= 6) {
		add("init_serverless_drain", tag("ToClientInit", { runnerId: "R", metadata: meta(15000n, 60000n, 5000n) }));
		add("init_serverless_drain_boundaries", tag("ToClientInit", { runnerId: "ラ", metadata: meta(-1n, I64_MAX, I64_MIN) }));
	}

	const commands = (list) => tag("ToClientCommands", list);
	const cw = (checkpoint, inner) => ({ checkpoint, inner });
	const start = (config, hibernatingRequests) => tag("CommandStartActor", { config, hibernatingRequests });
	const stop = tag("CommandStopActor", null);
	add("commands_empty", commands([]));
	add("commands_start_minimal", commands([cw(cp(ACTOR, 0, 0n), start(
		{ name: "c", key: null, createTs: -1n, input: null }, []))]));
	add("commands_start_full", commands([cw(cp(ACTOR, 2, 1n), start(
		{ name: "聊天室", key: "key/🔑/1", createTs: 1767225600000n, input: bytes("83a1610102") },
		[{ gatewayId: GW, requestId: RQ }, { gatewayId: bytes("ffffffff"), requestId: bytes("00000000") }],
	))]));
	add("commands_start_empty_input", commands([cw(cp(ACTOR, 0, 0n), start(
		{ name: "", key: "", createTs: I64_MIN, input: bytes("") }, [{ gatewayId: GW, requestId: RQ }]))]));
	add("commands_stop", commands([cw(cp(ACTOR, 0, 1n), stop)]));
	add("commands_many", commands([
		cw(cp("a", U32_MAX, I64_MAX), stop),
		cw(cp("b", 0, 0n), start({ name: "n", key: null, createTs: I64_MAX, input: pattern(ALL_BYTES, 1000) }, [])),
		cw(cp("c", 1, 2n), stop),
	]));

	add("ack_events_empty", tag("ToClientAckEvents", { lastEventCheckpoints: [] }));
	add("ack_events_many", tag("ToClientAckEvents", {
		lastEventCheckpoints: [cp(ACTOR, 0, 0n), cp("ß", U32_MAX, I64_MAX), cp("C", 7, I64_MIN)],
	}));

	const kv = (name, requestId, data) => add(name, tag("ToClientKvResponse", { requestId, data }));
	kv("kv_error", 7, tag("KvErrorResponse", { message: "e" }));
	kv("kv_error_non_ascii", U32_MAX, tag("KvErrorResponse", { message: "キーが大きすぎます 🙅" }));
	kv("kv_get_empty", 0, tag("KvGetResponse", { keys: [], values: [], metadata: [] }));
	kv("kv_get", 7, tag("KvGetResponse", {
		keys: [utf8("k"), bytes("00ff")], values: [utf8("v"), bytes("")],
		metadata: [{ version: bytes("01"), updateTs: 2n }, { version: bytes(""), updateTs: I64_MIN }],
	}));
	kv("kv_list", 8, tag("KvListResponse", {
		keys: [utf8("a"), utf8("b"), utf8("c")], values: [utf8("1"), utf8("2"), pattern(DIGITS, 4096)],
		metadata: [
			{ version: bytes("00000001"), updateTs: 1767225600000n },
			{ version: bytes("00000002"), updateTs: 0n },
			{ version: bytes("00000003"), updateTs: I64_MAX },
		],
	}));
	kv("kv_list_empty", 9, tag("KvListResponse", { keys: [], values: [], metadata: [] }));
	kv("kv_put", 10, tag("KvPutResponse", null));
	kv("kv_delete", 11, tag("KvDeleteResponse", null));
	kv("kv_drop", 12, tag("KvDropResponse", null));

	const tun = (name, messageId, messageKind) => add(name, tag("ToClientTunnelMessage", { messageId, messageKind }));
	tun("tunnel_request_start_get", mid(0), tag("ToClientRequestStart", {
		actorId: ACTOR, method: "GET", path: "/p", headers: new Map([["h", "v"]]), body: null, stream: false,
	}));
	tun("tunnel_request_start_get_8_headers", mid(0), tag("ToClientRequestStart", {
		actorId: "01234567890123456789abcdefghij", method: "GET", path: "/api/items?limit=10&cursor=abc",
		headers: EIGHT_HEADERS, body: null, stream: false,
	}));
	tun("tunnel_request_start_post_non_ascii", mid(1), tag("ToClientRequestStart", {
		actorId: ACTOR, method: "POST", path: "/写/🦀?q=ü", headers: new Map([["content-type", "application/json"]]),
		body: utf8('{"名前":"テスト","emoji":"🎉"}'), stream: false,
	}));
	tun("tunnel_request_start_stream", mid(2, bytes("ffffffff"), bytes("ffffffff")), tag("ToClientRequestStart", {
		actorId: ACTOR, method: "PUT", path: "/", headers: new Map(), body: null, stream: true,
	}));
	tun("tunnel_request_start_empty_body", mid(U16_MAX), tag("ToClientRequestStart", {
		actorId: "", method: "", path: "", headers: new Map(), body: bytes(""), stream: false,
	}));
	tun("tunnel_request_start_200k", mid(3), tag("ToClientRequestStart", {
		actorId: ACTOR, method: "POST", path: "/upload", headers: new Map([["content-length", String(KIB_200)]]),
		body: pattern(ALL_BYTES, KIB_200), stream: false,
	}));
	tun("tunnel_request_start_1mib", mid(4), tag("ToClientRequestStart", {
		actorId: ACTOR, method: "POST", path: "/upload", headers: new Map([["content-length", String(MIB_1)]]),
		body: pattern(DIGITS, MIB_1), stream: false,
	}));
	tun("tunnel_request_chunk", mid(5), tag("ToClientRequestChunk", { body: utf8("part"), finish: false }));
	tun("tunnel_request_chunk_empty_finish", mid(6), tag("ToClientRequestChunk", { body: bytes(""), finish: true }));
	tun("tunnel_request_abort", mid(7), tag("ToClientRequestAbort", null));
	tun("tunnel_ws_open", mid(0), tag("ToClientWebSocketOpen", { actorId: ACTOR, path: "/ws", headers: new Map() }));
	tun("tunnel_ws_open_headers_non_ascii", mid(0), tag("ToClientWebSocketOpen", {
		actorId: ACTOR, path: "/ws/房间/🎮", headers: new Map([["sec-websocket-protocol", "rivet"], ["x-名前", "値"]]),
	}));
	tun("tunnel_ws_message_text", mid(1), tag("ToClientWebSocketMessage", { data: utf8("hi"), binary: false }));
	tun("tunnel_ws_message_binary", mid(2), tag("ToClientWebSocketMessage", { data: bytes("deadbeef00"), binary: true }));
	tun("tunnel_ws_message_empty", mid(3), tag("ToClientWebSocketMessage", { data: bytes(""), binary: true }));
	tun("tunnel_ws_close_code_only", mid(2), tag("ToClientWebSocketClose", { code: 1000, reason: null }));
	tun("tunnel_ws_close_full", mid(4), tag("ToClientWebSocketClose", { code: 4000, reason: "さようなら 👋" }));
	tun("tunnel_ws_close_none", mid(5), tag("ToClientWebSocketClose", { code: null, reason: null }));

	add("ping", tag("ToClientPing", { ts: 1n }));
	add("ping_zero", tag("ToClientPing", { ts: 0n }));
	add("ping_i64_max", tag("ToClientPing", { ts: I64_MAX }));
	add("ping_i64_min", tag("ToClientPing", { ts: I64_MIN }));
	add("ping_negative", tag("ToClientPing", { ts: -1767225600000n }));
	return v;
}

// ------------------------------------------------------------ JSON shape

function isBuffer(x) {
	return x instanceof ArrayBuffer || ArrayBuffer.isView(x);
}

function hexOf(x) {
	const view = x instanceof ArrayBuffer ? new Uint8Array(x) : new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
	return Buffer.from(view).toString("hex");
}

/**
 * The JSON shape of a TS value (see the header comment). With `compact`,
 * generated buffers are written as their pattern rather than as hex.
 */
function toJson(x, compact) {
	if (x === null || typeof x === "string" || typeof x === "boolean") return x;
	if (typeof x === "number") {
		if (!Number.isInteger(x)) throw new Error(`non-integer number ${x}`);
		return x;
	}
	if (typeof x === "bigint") return x.toString();
	if (isBuffer(x)) {
		const p = compact && x instanceof ArrayBuffer ? PATTERNS.get(x) : undefined;
		return p ? { ...p } : { hex: hexOf(x) };
	}
	if (x instanceof Map) return { map: [...x].map(([k, val]) => [k, toJson(val, compact)]) };
	if (Array.isArray(x)) return x.map((e) => toJson(e, compact));
	if (typeof x === "object") {
		return Object.fromEntries(Object.entries(x).map(([k, val]) => [k, toJson(val, compact)]));
	}
	throw new Error(`cannot describe ${typeof x}`);
}

/**
 * Splits an encoding into hex pieces and the generated buffers it contains,
 * so a 1 MiB body is stored as its pattern. Returns a plain hex string when
 * nothing large is inside.
 */
function describeEncoding(encoded, value) {
	const large = [];
	collectPatterns(value, large);
	const big = large.filter((b) => b.byteLength >= 4096);
	if (big.length === 0) return { hex: hexOf(encoded) };
	const buf = Buffer.from(encoded);
	const parts = [];
	let at = 0;
	for (const b of big) {
		const found = buf.indexOf(Buffer.from(b), at);
		if (found < 0) throw new Error("generated body not found in its encoding");
		if (found > at) parts.push({ hex: buf.subarray(at, found).toString("hex") });
		parts.push({ ...PATTERNS.get(b) });
		at = found + b.byteLength;
	}
	if (at < buf.length) parts.push({ hex: buf.subarray(at).toString("hex") });
	return { hex_parts: parts };
}

function collectPatterns(x, out) {
	if (x instanceof ArrayBuffer) {
		if (PATTERNS.has(x)) out.push(x);
	} else if (x instanceof Map) {
		for (const val of x.values()) collectPatterns(val, out);
	} else if (Array.isArray(x)) {
		for (const e of x) collectPatterns(e, out);
	} else if (x !== null && typeof x === "object") {
		for (const val of Object.values(x)) collectPatterns(val, out);
	}
}

function expandParts(parts) {
	return Buffer.concat(parts.map((p) => {
		if (p.hex !== undefined) return Buffer.from(p.hex, "hex");
		return Buffer.from(pattern(p.repeat_hex, p.len));
	}));
}

// ------------------------------------------------------------ main

function encodeVector(codec, vector) {
	const encode = vector.direction === "to_server" ? codec.encodeToServer : codec.encodeToClient;
	const decode = vector.direction === "to_server" ? codec.decodeToServer : codec.decodeToClient;
	const encoded = encode(vector.value);
	// The official decoder must give back the value we meant, or the vector is
	// describing something other than what the bytes say.
	const decoded = decode(encoded);
	if (!isDeepStrictEqual(toJson(decoded, false), toJson(vector.value, false))) {
		throw new Error(`${vector.name}: TS decode does not give back the encoded value`);
	}
	const encoding = describeEncoding(encoded, vector.value);
	if (encoding.hex_parts && !expandParts(encoding.hex_parts).equals(Buffer.from(encoded))) {
		throw new Error(`${vector.name}: hex_parts do not reassemble to the encoding`);
	}
	return { name: vector.name, direction: vector.direction, value: toJson(vector.value, true), ...encoding };
}

function generate({ protocol, codec, pkg }) {
	const all = [...toServerVectors(protocol), ...toClientVectors(protocol)];
	const names = new Set();
	for (const v of all) {
		const key = `${v.direction}/${v.name}`;
		if (names.has(key)) throw new Error(`duplicate vector name ${key}`);
		names.add(key);
	}
	const vectors = all.map((v) => encodeVector(codec, v));
	const lines = vectors.map((v) => `    ${JSON.stringify(v)}`).join(",\n");
	const text = `{\n  "package": ${JSON.stringify(pkg)},\n  "protocol": ${protocol},\n  "vectors": [\n${lines}\n  ]\n}\n`;
	const file = join(HERE, `v${protocol}.json`);
	writeFileSync(file, text);
	console.log(`v${protocol}: ${vectors.length} vectors -> ${file}`);
}

for (const p of PACKAGES) generate(p);
