/**
 * The client kinds of the e2e matrices. A `bare` client sends only what each test gives; a
 * `browser` one also sends `User-Agent` and `Accept`, as browsers and curl do. Bun forwards a
 * request with both through its faster fetch and any other through node:http (see
 * runtimes/bun.ts), so Bun runs with both clients; Node and Deno have one path.
 */
import { RUNTIMES, type RuntimeName } from './fulcrum.ts'

/** Which client a test case plays. */
export type Client = 'bare' | 'browser'

/** What a `browser` client adds to every request. */
export const BROWSER_HEADERS = { 'user-agent': 'fulcrum-e2e/1.0', accept: '*/*' }

/** A test case of the matrix: runtime, scheme, client. */
export type Mode = [RuntimeName, 'http' | 'https', Client]

/**
 * Every runtime over HTTP and HTTPS with a bare client, then Bun with a browser client over
 * `browserSchemes`.
 */
export function clientModes(browserSchemes: readonly ('http' | 'https')[]): Mode[] {
  return RUNTIMES.flatMap((runtime): Mode[] => [
    [runtime, 'http', 'bare'],
    [runtime, 'https', 'bare'],
    ...(runtime === 'bun'
      ? browserSchemes.map((scheme): Mode => [runtime, scheme, 'browser'])
      : []),
  ])
}
