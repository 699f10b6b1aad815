import { describe, expect, it } from 'vitest'
import { HttpParseError, RequestParser, type RequestHead } from '../../../src/http1/parser.ts'
import { llhttpParse, trimOws, type LlhttpOutcome } from '../../helpers/llhttp.ts'
import { generateCase, type GeneratedCase } from '../../helpers/mutate.ts'

const MAX_HEAD = 8192
const CASES = Number(process.env.DIFF_CASES ?? 3000)
const SEED = Number(process.env.DIFF_SEED ?? 0x5eed)

interface Message {
  method: string
  target: string
  version: string
  fields: string[]
  body: string
  keepAlive: boolean
  upgrade: boolean
  end: number
}

interface Outcome {
  messages: Message[]
  pending: Omit<Message, 'body' | 'end'> | undefined
  state: 'idle' | 'partial' | 'upgrade' | 'error'
  error: string | undefined
}

function fromHead(head: RequestHead) {
  return {
    method: head.method,
    target: head.target,
    version: `1.${head.minor}`,
    fields: head.fields,
    keepAlive: head.keepAlive,
    upgrade: head.upgrade !== undefined,
  }
}

function fulcrum(input: Uint8Array, cuts: number[]): Outcome {
  const messages: Message[] = []
  let pending: RequestHead | undefined
  let body: string[] = []
  let fed = 0
  let ended = false
  let upgraded = false
  const parser = new RequestParser(
    {
      head: (head) => {
        pending = head
        body = []
      },
      data: (chunk) => body.push(String.fromCharCode(...chunk)),
      end: () => {
        messages.push({ ...fromHead(pending!), body: body.join(''), end: fed - parser.buffered })
        upgraded = pending!.upgrade !== undefined
        pending = undefined
        ended = true
      },
    },
    { maxHeadBytes: MAX_HEAD },
  )
  let from = 0
  try {
    for (const at of [...cuts, input.length]) {
      const piece = input.subarray(from, at)
      from = at
      fed += piece.length
      parser.feed(piece)
      while (ended && !upgraded) {
        ended = false
        parser.next()
      }
      if (upgraded) break
    }
  } catch (error) {
    if (!(error instanceof HttpParseError)) throw error
    return {
      messages,
      pending: pending && fromHead(pending),
      state: 'error',
      error: `${error.status} ${error.message}`,
    }
  }
  return {
    messages,
    pending: pending && fromHead(pending),
    state: upgraded ? 'upgrade' : parser.inMessage ? 'partial' : 'idle',
    error: undefined,
  }
}

function llhttp(input: Uint8Array): Outcome {
  const outcome: LlhttpOutcome = llhttpParse(input, { maxHeaderSize: MAX_HEAD })
  const convert = (m: Omit<Message, 'version'> & { major: number; minor: number }) => ({
    method: m.method,
    target: m.target,
    version: `${m.major}.${m.minor}`,
    fields: m.fields,
    keepAlive: m.keepAlive,
    upgrade: m.upgrade,
  })
  return {
    messages: outcome.messages.map((m) => ({ ...convert(m), body: m.body, end: m.end })),
    pending: outcome.pending && convert({ ...outcome.pending, body: '', end: 0 }),
    state: outcome.state,
    error: outcome.error && `${outcome.error.code} ${outcome.error.reason}`,
  }
}

const normal = (m: Omit<Message, 'body' | 'end'>) => ({
  ...m,
  fields: m.fields.map((text, i) => (i % 2 ? trimOws(text) : text)),
  upgrade: m.method === 'CONNECT' ? false : m.upgrade,
})

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}

describe('explore', () => {
  it('runs', () => {
    const groups = new Map<string, { n: number; example: GeneratedCase }>()
    for (let i = 0; i < CASES; i++) {
      const c = generateCase(SEED, i)
      const f = fulcrum(c.bytes, [])
      const s = fulcrum(c.bytes, [c.split])
      expect(same(s, f), `split ${JSON.stringify(String.fromCharCode(...c.bytes))}`).toBe(true)
      const l = llhttp(c.bytes)
      let n = 0
      while (
        n < f.messages.length &&
        n < l.messages.length &&
        same(
          { ...normal(f.messages[n]!), body: f.messages[n]!.body, end: f.messages[n]!.end },
          { ...normal(l.messages[n]!), body: l.messages[n]!.body, end: l.messages[n]!.end },
        )
      )
        n++
      let key: string
      if (n === f.messages.length && n === l.messages.length && f.state === l.state) {
        key = f.state === 'error' ? 'both refuse' : 'both accept'
      } else if (n < f.messages.length && n < l.messages.length) {
        key = 'MISMATCH'
      } else if (n === f.messages.length && f.state === 'error') {
        key = `F ${f.error} | L ${l.state} ${l.error ?? ''}`
      } else if (n === l.messages.length && l.state === 'error') {
        key = `L ${l.error} | F ${f.state} ${f.error ?? ''}`
      } else key = `OTHER f=${f.state}/${f.messages.length} l=${l.state}/${l.messages.length}`
      const g = groups.get(key) ?? { n: 0, example: c }
      g.n++
      groups.set(key, g)
    }
    for (const [key, g] of [...groups].sort((a, b) => b[1].n - a[1].n)) {
      console.log(g.n, key, JSON.stringify(String.fromCharCode(...g.example.bytes)).slice(0, 300))
    }
  })
})
