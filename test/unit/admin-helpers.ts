/**
 * A balancer over a fake upstream, with its admin app, for the admin unit tests.
 */
import { createBalancer } from '../../src/balancer.ts'
import { parseConfig, type ConfigInput } from '../../src/config.ts'
import { silentLogger } from '../../src/log.ts'
import type { RuntimeDeps, UpstreamInit } from '../../src/types.ts'

export const TOKEN = 'test-token-0123456789abcdef'
export const ADMIN = 'http://127.0.0.1:9090'

/** A fake upstream answer: by default 200 with the backend's origin as the body. */
export type Answer = (url: string, init: UpstreamInit) => Promise<Response> | Response

/** A balancer whose upstream is `answer`, and helpers to call its public and admin apps. */
export function adminBalancer(
  config: ConfigInput = {},
  answer: Answer = (url) => new Response(new URL(url).origin),
  deps: Partial<RuntimeDeps> = {},
) {
  const calls: string[] = []
  const balancer = createBalancer(
    parseConfig({
      healthCheck: { enabled: false },
      ...config,
      admin: { token: TOKEN, ...config.admin },
    }),
    {
      fetch: async (url, init) => {
        calls.push(new URL(url).origin)
        return answer(url, init)
      },
      clientAddress: (_request, env) => (env as { ip?: string } | undefined)?.ip ?? '192.0.2.1',
      tcpConnect: async () => {},
      readTextFile: async () => {
        throw new Error('ENOENT')
      },
      logger: silentLogger,
      ...deps,
    },
  )
  /** Call the admin API with the token (unless `headers.authorization` says otherwise). */
  const admin = (method: string, path: string, body?: unknown, headers: HeadersInit = {}) => {
    const h = new Headers({ host: '127.0.0.1:9090', authorization: `Bearer ${TOKEN}` })
    if (body !== undefined) h.set('content-type', 'application/json')
    for (const [name, value] of new Headers(headers)) h.set(name, value)
    if (h.get('authorization') === '') h.delete('authorization')
    return balancer.admin!.request(`${ADMIN}${path}`, {
      method,
      headers: h,
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    })
  }
  /** A public request; its body is read to the end, so that the request counts as finished. */
  const get = async (path = '/', init: RequestInit = {}, ip = '192.0.2.1') => {
    const headers = new Headers(init.headers)
    if (!headers.has('host')) headers.set('host', 'shop.example')
    const response = await balancer.app.request(
      `http://shop.example${path}`,
      { ...init, headers },
      { ip },
    )
    return { status: response.status, text: await response.text(), headers: response.headers }
  }
  return { balancer, calls, admin, get }
}
