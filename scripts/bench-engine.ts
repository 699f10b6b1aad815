/**
 * `npm run bench:engine`: the CPU cost of one proxied request through fulcrum's own code, with
 * no kernel in the way. fulcrum starts as `node dist/node.js --backend … --backend …` would
 * (startFulcrum: config, edge, routes, app, engine, health checks, access log), on a runtime
 * adapter whose sockets are in memory: 64 keep-alive clients send `GET /` back to back, and the
 * backends answer as the bench's nginx does (the same head and a 100-byte body). What is left is
 * the engine, the edge and the app: µs of CPU per request, the figure that wrk cannot give on a
 * small, busy machine, where other processes and the kernel's loopback blur it.
 *
 * Each round runs for --duration seconds; the report gives every round and the minimum (the
 * round least disturbed by anything else on the machine). It runs on each runtime as it is:
 *
 *   npm run bench:engine                                  # Node (bundled as dist/node.js is)
 *   node_modules/.bin/bun scripts/bench-engine.ts
 *   node_modules/deno/deno run -A scripts/bench-engine.ts
 *   npm run bench:engine -- --rounds 9 --duration 1 --close   # Connection: close
 *
 * The access log goes to stdout as in production: redirect it (`> /dev/null`) to keep the
 * report, which is on stderr.
 */
import process from 'node:process'
import type { RuntimeAdapter } from '../runtimes/adapter.ts'
import { startFulcrum } from '../runtimes/start/start.ts'
import type { Socket, SocketEvents } from '../src/socket.ts'

const args = process.argv.slice(2)
const flag = (name: string, fallback: number) => {
  const at = args.indexOf(name)
  return at === -1 ? fallback : Number(args[at + 1])
}
const ROUNDS = flag('--rounds', 5)
const DURATION = flag('--duration', 2) * 1000
const CLIENTS = flag('--clients', 64)
const CLOSE = args.includes('--close')
const PORT = 8080

const encoder = new TextEncoder()
const BODY = 'ok backend 9001 ' + '.'.repeat(84)
/** What the bench's nginx backend answers to `GET /` (lib/backend-nginx.conf.tmpl). */
const ANSWER = encoder.encode(
  'HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Mon, 07 Dec 2026 02:40:00 GMT\r\n' +
    'Content-Type: text/plain\r\nContent-Length: 100\r\nConnection: keep-alive\r\n' +
    `X-Backend: 9001\r\n\r\n${BODY}`,
)
const REQUEST = encoder.encode(
  'GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n' + (CLOSE ? 'Connection: close\r\n' : '') + '\r\n',
)
const HEAD_END = encoder.encode('\r\n\r\n')

/** Where `needle` starts in `bytes` from `from`, or -1. */
function indexOf(bytes: Uint8Array, needle: Uint8Array, from = 0): number {
  outer: for (let i = from; i <= bytes.length - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) if (bytes[i + j] !== needle[j]) continue outer
    return i
  }
  return -1
}

/** One end of an in-memory connection; writes reach the peer on a later turn of the loop. */
class MemorySocket implements Socket {
  peer: ((chunk: Uint8Array) => void) | undefined
  events: SocketEvents | undefined
  ended = false
  remoteAddress = '127.0.0.1'
  remotePort = 40000
  encrypted = false
  write(bytes: Uint8Array): boolean {
    // A copy: the engine may reuse what it wrote from.
    const chunk = bytes.slice()
    setImmediate(() => this.peer?.(chunk))
    return true
  }
  end(): void {
    if (this.ended) return
    this.ended = true
    setImmediate(() => this.onEnd?.())
  }
  /** The client reads its answer, then reports the close itself (see `client`). */
  endAndClose(): void {
    this.end()
  }
  onEnd: (() => void) | undefined
  destroy(): void {
    this.ended = true
    setImmediate(() => this.events?.close())
  }
  pause(): void {}
  resume(): void {}
}

let accept: ((socket: Socket) => SocketEvents) | undefined
const adapter: RuntimeAdapter = {
  name: 'node',
  async listen(options, onAccept) {
    if (options.port === PORT) accept = onAccept
    return { port: options.port, close: async () => {} }
  },
  // A backend: each request head gets the answer.
  async connect(_host, _port, events) {
    const socket = new MemorySocket()
    let pending = new Uint8Array(0)
    socket.peer = (chunk) => {
      const joined = new Uint8Array(pending.length + chunk.length)
      joined.set(pending)
      joined.set(chunk, pending.length)
      pending = joined
      for (let end = indexOf(pending, HEAD_END); end !== -1; end = indexOf(pending, HEAD_END)) {
        pending = pending.subarray(end + 4)
        setImmediate(() => events.data(ANSWER.slice()))
      }
    }
    socket.onEnd = () => events.close()
    socket.events = events
    return socket
  },
  httpsFetch: () => () => Promise.reject(new Error('no https in this bench')),
}

let served = 0
/** One client: sends a request, reads the whole answer, sends the next. */
function client(): void {
  if (!accept) throw new Error('fulcrum did not listen on the public port')
  const socket = new MemorySocket()
  const events = accept(socket)
  let received = 0
  let expected = -1
  let head = new Uint8Array(0)
  socket.peer = (chunk) => {
    received += chunk.length
    if (expected === -1) {
      const joined = new Uint8Array(head.length + chunk.length)
      joined.set(head)
      joined.set(chunk, head.length)
      head = joined
      const end = indexOf(head, HEAD_END)
      if (end === -1) return
      const text = new TextDecoder().decode(head.subarray(0, end)).toLowerCase()
      if (!text.startsWith('http/1.1 200 ') || !text.includes('x-backend: 9001')) {
        throw new Error(`Not the backend's answer:\n${text}`)
      }
      const length = /content-length: *(\d+)/.exec(text)
      expected = end + 4 + Number(length?.[1] ?? 0)
    }
    if (received < expected) return
    served++
    received = 0
    expected = -1
    head = new Uint8Array(0)
    if (CLOSE) {
      events.end()
      events.close()
      setImmediate(client)
    } else setImmediate(() => events.data(REQUEST))
  }
  socket.onEnd = () => {}
  socket.events = events
  setImmediate(() => events.data(REQUEST))
}

await startFulcrum(adapter, [
  '--port',
  String(PORT),
  '--backend',
  'http://127.0.0.1:9001',
  '--backend',
  'http://127.0.0.1:9002',
])
for (let i = 0; i < CLIENTS; i++) client()

const report: number[] = []
// A warm-up round first, not reported.
for (let round = 0; round <= ROUNDS; round++) {
  const before = process.cpuUsage()
  const from = served
  await new Promise((resolve) => setTimeout(resolve, round === 0 ? 1000 : DURATION))
  const cpu = process.cpuUsage(before)
  const count = served - from
  if (round === 0) continue
  const perRequest = (cpu.user + cpu.system) / count
  report.push(perRequest)
  process.stderr.write(`round ${round}: ${count} requests, ${perRequest.toFixed(2)} µs CPU each\n`)
}
const sorted = [...report].sort((a, b) => a - b)
process.stderr.write(
  `min ${sorted[0]!.toFixed(2)} µs, median ${sorted[sorted.length >> 1]!.toFixed(2)} µs ` +
    `CPU per request (${CLOSE ? 'Connection: close' : 'keep-alive'}, ${CLIENTS} clients)\n`,
)
process.exit(0)
