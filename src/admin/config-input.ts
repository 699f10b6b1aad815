/**
 * A validated config turned back into what the config file would say, for `GET /config` and the
 * state file: `parseConfig(toConfigInput(config))` gives `config` again.
 */
import type { Config } from '../config.ts'

/** What `GET /config` shows in place of a secret; `PUT /config` keeps the current secret for it. */
export const REDACTED = '<redacted>'

/** The sections that cannot change while fulcrum runs: they need a restart. */
export const RESTART_SECTIONS = [
  'listen',
  'tls',
  'admin',
  'accessLog',
  'demo',
  'cluster',
  'tcp',
] as const

/** A pool's section (or the top level) as config-file input: the status range as text. */
function sectionInput<T extends { healthCheck: Config['healthCheck'] }>(section: T) {
  const { low, high } = section.healthCheck.expectStatus
  return {
    ...section,
    healthCheck: {
      ...section.healthCheck,
      expectStatus: low === high ? String(low) : `${low}-${high}`,
    },
  }
}

/** `config` as config-file input. Secrets are kept; see {@link redactSecrets}. */
export function toConfigInput(config: Config): Record<string, unknown> {
  return structuredClone({
    ...sectionInput(config),
    pools: Object.fromEntries(
      Object.entries(config.pools).map(([name, pool]) => [name, sectionInput(pool)]),
    ),
  }) as Record<string, unknown>
}

type StickyInput = { secret?: unknown; secrets?: { kid?: unknown; secret?: unknown }[] }

/** The top level and every pool, each with the sticky section in force for it. */
function stickySections(
  input: Record<string, unknown>,
  current?: Config,
): { sticky: StickyInput | undefined; current: Config['sticky'] | undefined }[] {
  const pools = (input.pools ?? {}) as Record<string, { sticky?: StickyInput } | undefined>
  return [
    { sticky: input.sticky as StickyInput | undefined, current: current?.sticky },
    ...Object.entries(typeof pools === 'object' ? pools : {}).map(([name, pool]) => ({
      sticky: pool?.sticky,
      current: current?.pools[name]?.sticky,
    })),
  ].filter((entry) => entry.sticky !== undefined && typeof entry.sticky === 'object')
}

/** `input` without its secrets: sticky keys shown as {@link REDACTED}, the admin token left out. */
export function redactSecrets(input: Record<string, unknown>): Record<string, unknown> {
  const copy = structuredClone(input)
  for (const { sticky } of stickySections(copy)) {
    if (sticky!.secret !== undefined) sticky!.secret = REDACTED
    for (const key of Array.isArray(sticky!.secrets) ? sticky!.secrets : []) key.secret = REDACTED
  }
  const admin = copy.admin as { token?: string } | undefined
  if (admin) delete admin.token
  return copy
}

/**
 * Put the current secrets back where `input` (a `PUT /config` body) says {@link REDACTED}, and the
 * current admin token where it gives none. With `all` (a state file, which holds no secret),
 * every sticky section takes the current secrets.
 */
export function restoreSecrets(input: Record<string, unknown>, current: Config, all = false): void {
  for (const { sticky, current: now } of stickySections(input, current)) {
    if (all) {
      sticky!.secret = now?.secret
      sticky!.secrets = now?.secrets
      continue
    }
    if (sticky!.secret === REDACTED) sticky!.secret = now?.secret
    for (const key of Array.isArray(sticky!.secrets) ? sticky!.secrets : []) {
      if (key?.secret === REDACTED) {
        key.secret = now?.secrets?.find((k) => k.kid === key.kid)?.secret
      }
    }
  }
  const admin = input.admin as { token?: unknown } | undefined
  if (admin && typeof admin === 'object' && admin.token === undefined && current.admin.token) {
    admin.token = current.admin.token
  }
}
