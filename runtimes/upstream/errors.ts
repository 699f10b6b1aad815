/**
 * Classify a runtime fetch error. Connect-phase failures (refused, unreachable, name not found,
 * connect timeout, TLS handshake) become `UpstreamConnectError`: nothing was sent.
 */
import { UpstreamConnectError } from '../../src/errors.ts'

const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
  'ConnectionRefused',
  'FailedToOpenSocket',
  'ConnectionTimedOut',
])

const CONNECT_MESSAGE =
  /connection refused|os error 111|failed to connect|unable to connect|dns error|no such host|tcp connect error/i

function codeOf(error: unknown): string | undefined {
  const e = error as { code?: unknown; cause?: { code?: unknown } } | undefined
  const code = e?.code ?? e?.cause?.code
  return typeof code === 'string' ? code : undefined
}

/** Wrap connect-phase failures; pass everything else through unchanged. */
export function classifyUpstreamError(error: unknown): unknown {
  if (error instanceof UpstreamConnectError) return error
  const code = codeOf(error)
  const message = `${(error as Error)?.message ?? ''} ${String((error as { cause?: unknown })?.cause ?? '')}`
  if ((code && CONNECT_CODES.has(code)) || CONNECT_MESSAGE.test(message)) {
    return new UpstreamConnectError(code ?? (error as Error).message, { cause: error })
  }
  return error
}
