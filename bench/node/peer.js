'use strict';
// Node `ws` peer for bench/fanout.py: the slice of shotfeed's surface that the bench uses,
// with each broadcast framed ONCE and the same bytes written to every client's socket.
//
//   node bench/node/peer.js --port 8765 [--host 127.0.0.1] [--game BENCH] [--state state.json]
//
//   GET  /api/games/{game}/state      the state (seq = last event's seq); the bench polls it
//                                     to know the server is up
//   POST /api/games/{game}/graphics   Authorization: Bearer $SHOTFEED_OPERATOR_TOKEN,
//                                     {"action", "name", "payload"} -> {"event": {...}}, and the
//                                     event is broadcast as shotfeed does it:
//                                     {"seq","type":"graphic","game","at","data":{...}}
//   WS   /ws/games/{game}             {"type":"hello","protocol":1,"game","seq","state","gap"}
//                                     first, then every event in seq order; {"op":"ping"} gets
//                                     {"type":"pong"}. ?types=a,b filters like shotfeed's.
//
// Broadcast: JSON.stringify once, Buffer once, `Sender.frame()` (ws's public static framing
// function, made public for exactly this: websockets/ws#1016) once, concatenated into one
// buffer, then written to each client's net.Socket (`ws._socket`, the socket ws itself writes
// to; no compression is negotiated and ws's sender queue is only used while compressing, so
// the write cannot interleave with a frame ws is writing). A client whose socket holds more
// than 64 KiB + 256 frames unsent (shotfeed's transport limit + parked queue) is closed with
// 1013, as shotfeed cuts a client that falls 256 messages behind.
//
// --state FILE: a state JSON (the bench saves shotfeed's) so the hello has shotfeed's size.

const http = require('node:http');
const fs = require('node:fs');
const { WebSocketServer, WebSocket } = require('ws');
const { Sender } = WebSocket;

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

const HOST = arg('host', '127.0.0.1');
const PORT = Number(arg('port', '8765'));
const GAME = arg('game', 'BENCH');
const TOKEN = process.env.SHOTFEED_OPERATOR_TOKEN || '';
const STATE_FILE = arg('state', '');
const MAX_BODY = 256 * 1024;
const MAX_FRAME = 64 * 1024;
const BUFFER_LIMIT = 64 * 1024;
const QUEUE_SIZE = 256;
const CLOSE_POLICY = 1008;
const CLOSE_TRY_AGAIN = 1013;
const EVENT_TYPES = new Set([
  'shot', 'made_three', 'shot_update', 'shot_removed', 'score_update', 'period_change',
  'game_status', 'clock', 'feed_status', 'scoring_run', 'hot_hand', 'graphic', 'hold',
  'config', 'override',
]);

let state = { game: GAME, seq: 0 };
if (STATE_FILE) state = JSON.parse(fs.readFileSync(STATE_FILE, 'utf8'));
let lastSeq = Number(state.seq) || 0;

const clients = new Set(); // open WebSocket connections of GAME; ws.types: Set | null

function frameOnce(text) {
  const list = Sender.frame(Buffer.from(text), { fin: true, opcode: 1, mask: false, readOnly: true });
  return list.length === 1 ? list[0] : Buffer.concat(list);
}

function broadcast(type, text) {
  const frame = frameOnce(text);
  const limit = BUFFER_LIMIT + QUEUE_SIZE * frame.length;
  let dropped = null;
  for (const ws of clients) {
    if (ws.types !== null && !ws.types.has(type)) continue;
    const sock = ws._socket;
    if (sock.writableLength > limit) {
      (dropped ||= []).push(ws);
      continue;
    }
    sock.write(frame);
  }
  if (dropped) {
    for (const ws of dropped) {
      clients.delete(ws);
      ws.close(CLOSE_TRY_AGAIN, 'too slow: resume with since');
      setTimeout(() => ws.terminate(), 2000).unref();
    }
  }
}

function json(res, status, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function error(res, status, code, message) {
  json(res, status, { error: code, message });
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  const prefix = `/api/games/${GAME}/`;
  if (!url.pathname.startsWith('/api/games/')) return error(res, 404, 'not_found', 'no such route');
  if (!url.pathname.startsWith(prefix)) return error(res, 404, 'unknown_game', 'game is not being followed');
  const rest = url.pathname.slice(prefix.length);
  if (rest === 'state' && req.method === 'GET') {
    state.seq = lastSeq;
    return json(res, 200, state);
  }
  if (rest !== 'graphics' || req.method !== 'POST') return error(res, 404, 'not_found', 'no such route');
  if (!TOKEN || req.headers.authorization !== `Bearer ${TOKEN}`) {
    return error(res, 401, 'unauthorized', 'send Authorization: Bearer <token>');
  }
  const chunks = [];
  let size = 0;
  req.on('data', (c) => {
    size += c.length;
    if (size <= MAX_BODY) chunks.push(c);
  });
  req.on('end', () => {
    if (size > MAX_BODY) return error(res, 413, 'too_big', 'body over 256 KiB');
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return error(res, 400, 'invalid_json', 'send a JSON object');
    }
    const { action, name, payload } = body || {};
    if (!['show', 'hide', 'update'].includes(action) || typeof name !== 'string' || !name.trim()) {
      return error(res, 422, 'invalid', 'send {"action": "show"|"hide"|"update", "name": str}');
    }
    lastSeq += 1;
    const event = {
      seq: lastSeq,
      type: 'graphic',
      game: GAME,
      at: Date.now(),
      data: { action, name: name.trim(), payload: payload || {} },
    };
    const text = JSON.stringify(event); // encoded once: the log's bytes and every client's
    broadcast(event.type, text);
    json(res, 200, { event });
  });
});

const wss = new WebSocketServer({
  noServer: true,
  clientTracking: false,
  perMessageDeflate: false,
  maxPayload: MAX_FRAME,
});

function parseTypes(raw) {
  if (raw === null || raw === '') return null;
  const names = raw.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = names.filter((n) => !EVENT_TYPES.has(n));
  if (bad.length) throw new Error(`unknown event type(s): ${bad.sort().join(', ')}`);
  return names.length ? new Set(names) : null;
}

server.on('upgrade', (req, socket, head) => {
  const url = new URL(req.url, 'http://x');
  if (!url.pathname.startsWith('/ws/games/')) {
    socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n');
    return;
  }
  const game = url.pathname.slice('/ws/games/'.length);
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.on('error', () => {});
    const sendError = (message) => ws.send(JSON.stringify({ type: 'error', message }));
    if (game !== GAME) {
      sendError(`game ${JSON.stringify(game)} is not being followed`);
      ws.close(CLOSE_POLICY);
      return;
    }
    try {
      ws.types = parseTypes(url.searchParams.get('types'));
    } catch (exc) {
      sendError(`bad query: ${exc.message}`);
      ws.close(CLOSE_POLICY);
      return;
    }
    state.seq = lastSeq;
    ws.send(JSON.stringify({ type: 'hello', protocol: 1, game: GAME, seq: lastSeq, state, gap: false }));
    clients.add(ws);
    ws.on('close', () => clients.delete(ws));
    ws.on('message', (data, isBinary) => {
      if (isBinary) return sendError('binary frames are not supported; send JSON text');
      let msg;
      try {
        msg = JSON.parse(data.toString('utf8'));
      } catch {
        return sendError('invalid JSON; send {"op": "ping"} or {"op": "subscribe"}');
      }
      const op = msg && typeof msg === 'object' ? msg.op : undefined;
      if (op === 'ping') ws.send('{"type":"pong"}');
      else sendError(`unknown op ${JSON.stringify(String(op).slice(0, 40))}; known: ping`);
    });
  });
});

server.keepAliveTimeout = 60_000;
server.listen(PORT, HOST, 2048, () => {
  process.stdout.write(`node ${process.version} ws ${require('ws/package.json').version} peer on ${HOST}:${PORT} game ${GAME}\n`);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
