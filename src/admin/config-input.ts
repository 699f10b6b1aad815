/**
 * A validated config turned back into what the config file would say, for `GET /config` and the
 * state file: `parseConfig(toConfigInput(config))` gives `config` again.
 */
import type { Config } from '../config.ts'

/** What `GET /config` shows in place of a secret; `PUT /config` keeps the current secret for it. */
export const REDACTED = '<redacted>'

/** The sections that cannot change while fulcrum runs: they need a restart. */
export const RESTART_SECTIONS = ['listen', 'tls', 'admin', 'accessLog', 'demo'] as const

/** `config` as config-file input. Secrets are kept; see {@link redactSecrets}. */
export function toConfigInput(config: Config): Record<string, unknown> {
  const { low, high } = config.healthCheck.expectStatus
  return structuredClone({
    ...config,
    healthCheck: {
      ...config.healthCheck,
      expectStatus: low === high ? String(low) : `${low}-${high}`,
    },
  }) as Record<string, unknown>
}

/** `input` without its secrets: sticky keys shown as {@link REDACTED}, the admin token left out. */
export function redactSecrets(input: Record<string, unknown>): Record<string, unknown> {
  const copy = structuredClone(input)
  const sticky = copy.sticky as { secret?: string; secrets?: { secret: string }[] } | undefined
  if (sticky?.secret !== undefined) sticky.secret = REDACTED
  for (const key of sticky?.secrets ?? []) key.secret = REDACTED
  const admin = copy.admin as { token?: string } | undefined
  if (admin) delete admin.token
  return copy
}

/**
 * Put the current secrets back where `input` (a `PUT /config` body) says {@link REDACTED}, and the
 * current admin token where it gives none.
 */
export function restoreSecrets(input: Record<string, unknown>, current: Config): void {
  const sticky = input.sticky as
    { secret?: unknown; secrets?: { kid?: unknown; secret?: unknown }[] } | undefined
  if (sticky && typeof sticky === 'object') {
    if (sticky.secret === REDACTED) sticky.secret = current.sticky.secret
    for (const key of Array.isArray(sticky.secrets) ? sticky.secrets : []) {
      if (key?.secret === REDACTED) {
        key.secret = current.sticky.secrets?.find((k) => k.kid === key.kid)?.secret
      }
    }
  }
  const admin = input.admin as { token?: unknown } | undefined
  if (admin && typeof admin === 'object' && admin.token === undefined && current.admin.token) {
    admin.token = current.admin.token
  }
}
