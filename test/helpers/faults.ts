/**
 * Fault-injection backends for end-to-end tests: a recording backend (see backends.ts) whose
 * behaviour the test switches at run time. It can answer, hang, be slow, answer an error status,
 * reset the connection before answering or in the middle of the body, and be killed and revived
 * (to flap). It counts requests per method and path, and its open sockets.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { startBackend, type TestBackend } from './backends.ts'

/** What the backend does with the next requests. */
export type Fault =
  /** Answer 200 with its name (the default). */
  | { kind: 'ok' }
  /** Answer 200 after `ms` (health checks at once: a busy application, not a broken one). */
  | { kind: 'slow'; ms: number }
  /** Never answer; keep the connection open. */
  | { kind: 'hang' }
  /** Answer this status, with its name as the body. */
  | { kind: 'status'; status: number }
  /** Read the request, then destroy the connection without answering. */
  | { kind: 'reset' }
  /** Send the headers and part of the body, then destroy the connection. */
  | { kind: 'reset-mid-body' }
  /** Send the headers and part of the body, then nothing more; keep the connection open. */
  | { kind: 'stall-mid-body' }

/** A test backend with switchable faults. */
export interface FaultyBackend extends TestBackend {
  /** Switch the behaviour for the next requests. Health checks follow it too. */
  set(fault: Fault): void
  /** The behaviour now. */
  readonly fault: Fault
  /** Requests that are not health checks, optionally only one method. */
  count(method?: string): number
  /** Requests (not health checks) it is handling now, and the most it handled at once. */
  readonly active: number
  readonly maxActive: number
  /** Connections open to it now. */
  openSockets(): number
  /**
   * Connections still open that carry a request (not a health check) it never finished
   * answering (hang, stall).
   */
  hungSockets(): number
  /** Resolves when no connection is open to it any more, or rejects after `timeoutMs`. */
  socketsClosed(timeoutMs?: number): Promise<void>
}

/** Start a backend whose faults the test switches. */
export async function startFaultyBackend(
  name: string,
  initial: Fault = { kind: 'ok' },
): Promise<FaultyBackend> {
  let fault = initial
  const sockets = new Set<Socket>()
  const hung = new Set<Socket>()
  let active = 0
  let maxActive = 0
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const current = fault
    if (req.url !== '/health') {
      active++
      maxActive = Math.max(maxActive, active)
      res.once('close', () => active--)
    }
    if ((current.kind === 'hang' || current.kind === 'stall-mid-body') && req.url !== '/health') {
      hung.add(req.socket) // until the connection closes (see track below)
    }
    if (current.kind === 'hang') return
    const answer = (status: number) => {
      res.writeHead(status, { 'content-type': 'text/plain', 'x-backend': name })
      res.end(name)
    }
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      switch (current.kind) {
        case 'ok':
          return answer(200)
        case 'slow':
          if (req.url === '/health') return answer(200)
          return void setTimeout(() => answer(200), current.ms)
        case 'status':
          return answer(current.status)
        case 'reset':
          return void req.socket.destroy()
        case 'reset-mid-body':
          res.writeHead(200, {
            'content-type': 'text/plain',
            'x-backend': name,
            'content-length': '1000',
          })
          res.write('x'.repeat(100))
          return void setTimeout(() => req.socket.destroy(), 50)
        case 'stall-mid-body':
          res.writeHead(200, { 'content-type': 'text/plain', 'x-backend': name })
          return void res.write('x'.repeat(100))
      }
    })
  }
  const backend = await startBackend(name, (req, res) => handler(req, res))
  const track = (server: TestBackend['server']) =>
    server.on('connection', (socket: Socket) => {
      sockets.add(socket)
      socket.once('close', () => {
        sockets.delete(socket)
        hung.delete(socket)
      })
    })
  track(backend.server)
  const revive = backend.revive.bind(backend)
  const faulty = Object.assign(backend, {
    set(next: Fault) {
      fault = next
    },
    count(method?: string) {
      return backend.requests.filter(
        (r) => r.url !== '/health' && (method === undefined || r.method === method),
      ).length
    },
    openSockets: () => sockets.size,
    hungSockets: () => hung.size,
    async socketsClosed(timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs
      while (sockets.size > 0) {
        if (Date.now() > deadline) throw new Error(`${sockets.size} sockets still open to ${name}`)
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    },
    async revive() {
      await revive()
      track(backend.server)
    },
  })
  // A getter (Object.assign would copy its value once).
  Object.defineProperty(faulty, 'fault', { get: () => fault })
  Object.defineProperty(faulty, 'active', { get: () => active })
  Object.defineProperty(faulty, 'maxActive', { get: () => maxActive })
  return faulty as FaultyBackend
}
