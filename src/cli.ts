/**
 * The command line, shared by every runtime's entry point. It only parses and merges; reading the
 * config file goes through the `readTextFile` the runtime passes in.
 */
import { ConfigError, parseConfig, type Config } from './config.ts'
import pkg from '../package.json' with { type: 'json' }

/** The fulcrum version, from package.json. */
export const VERSION: string = pkg.version

/** Usage text for `--help`. */
export const USAGE = `fulcrum ${VERSION}: an HTTP(S) load balancer for Node, Deno and Bun

Usage: fulcrum [options]

  --config FILE             JSON config file, validated (flags override it)
  --port N                  public port (default 8080, or 8443 with --tls)
  --host ADDR               public address (default 0.0.0.0)
  --tls                     terminate HTTPS; without --cert/--key, a self-signed certificate
                            is generated into certs/ and reused
  --cert FILE --key FILE    a PEM certificate chain and private key (implies --tls); repeat
                            the pair for more certificates, picked by SNI (the first is the
                            default)
  --watch-certs             reload the certificates when their files change (SIGHUP always
                            reloads them)
  --http-redirect-port N    also listen on N for plain HTTP and redirect it to HTTPS
  --hsts-max-age DUR        send Strict-Transport-Security over HTTPS (8760h is a year)
  --backend URL[=WEIGHT]    a backend origin, repeatable (replaces the config file's list);
                            dns:HOST:PORT or dns+srv:NAME follows a DNS name's A/AAAA or SRV
                            records instead
  --pool NAME=URL,URL       a named pool and its backends (URL=WEIGHT as for --backend),
                            repeatable; the top-level flags are the pool "default"
  --route [HOST][/PATH]=POOL
                            a route, repeatable and tried in order (replaces the config
                            file's routes): HOST is exact or *.example.com, PATH a Hono
                            pattern (/v1/* for a prefix, /users/:id); without --route,
                            everything goes to the pool "default"
  --strategy NAME           balancing strategy (default round-robin): round-robin,
                            weighted-round-robin, random, least-connections,
                            weighted-least-connections, least-time, power-of-two, resource,
                            ip-hash, url-hash, consistent-hash, threshold
  --hash-key KEY            consistent-hash key: ip (default), path, header:NAME, cookie:NAME
  --hash-epsilon E          consistent-hash bounded loads: a backend takes at most (1 + E) x
                            the average load (default 0.25; none turns the bound off)
  --url-hash-query          url-hash: hash the query as well as the path
  --least-time-decay DUR    least-time: the latency average's time constant (default 10s)
  --threshold N             threshold: requests in flight per backend (x weight) before the
                            next one fills (default 10)
  --health-path PATH        active probe path (default /health)
  --health-interval DUR     probe interval (default 5s; DUR is 500ms, 5s, 1m)
  --health-timeout DUR      probe timeout (default 2s)
  --sticky                  sticky sessions: pin each client to a backend with a signed
                            lb_sid cookie, over any strategy
  --sticky-secret SECRET    the cookie's HMAC secret (implies --sticky; or set
                            FULCRUM_STICKY_SECRET); without one, a random one is generated
  --sticky-max-age DUR      how long a cookie pins its client (default 1h; implies --sticky)
  --tcp [HOST:]PORT=POOL    a layer-4 listener relaying to POOL's tcp://HOST:PORT backends
                            (with --pool), repeatable (replaces the config file's list)
  --etcd URL[,URL…]         fleet mode: share backends, routes, strategies and TTL
                            registrations with the other instances through etcd (v3)
  --cluster-name NAME       this instance's name in the fleet (default fulcrum-<random>)
  --cluster-prefix PATH     the fleet's keys in etcd (default /fulcrum)
  --admin-port N            admin API and dashboard port (default 9090; 0 picks a free one)
  --admin-host ADDR         admin address (default 127.0.0.1; never the public listener)
  --admin-token TOKEN       admin bearer token (or set FULCRUM_ADMIN_TOKEN); without one, a
                            random token is generated and printed once
  --no-admin                no admin listener
  --state FILE              persist admin changes to FILE (atomically) and restore them at start
  --access-log FILE         one line per request, appended to FILE (- for standard output)
  --access-log-format F     json (default) or combined
  --watch-config            reload the config file when it changes (SIGHUP always
                            reloads it; a bad file is rejected and the old config kept)
  --max-body-size SIZE      request bodies at most (default 100MiB; 0 for no limit): 413
  --rate-limit N[/DUR]      per-client token bucket: N requests per DUR (default 1s): 429
  --rate-limit-burst N      requests a client may send at once (default N)
  --allow CIDR              serve only these client addresses, repeatable: 403 for others
  --deny CIDR               refuse these client addresses, repeatable: 403
  --workers N               processes serving the port (default 1): node:cluster on Node,
                            SO_REUSEPORT processes on Bun (not on Deno)
  --demo                    start three demo backends on loopback and balance across them
  --help                    print this text
  --version                 print the version

Exit status: 0 on a clean shutdown, 2 on a bad flag or config, 1 on a startup failure.`

/** What the command line asks for. */
export type CliCommand =
  | { kind: 'help' }
  | { kind: 'version' }
  | { kind: 'run'; configFile?: string; overrides: Record<string, unknown> }

type Setter = (overrides: Record<string, unknown>, value: string) => void

function setIn(path: string[]): (overrides: Record<string, unknown>, value: unknown) => void {
  return (overrides, value) => {
    let node = overrides
    for (const key of path.slice(0, -1)) node = (node[key] ??= {}) as Record<string, unknown>
    node[path.at(-1)!] = value
  }
}

function wholeNumberAt(path: string[], flag: string): Setter {
  const set = setIn(path)
  return (overrides, value) => {
    if (!/^\d+$/.test(value))
      throw new ConfigError(`${flag}: Expected a whole number, got "${value}"`)
    set(overrides, Number(value))
  }
}

/** A decimal number, or `none` for `null`. */
function numberOrNoneAt(path: string[], flag: string): Setter {
  const set = setIn(path)
  return (overrides, value) => {
    if (value === 'none') return set(overrides, null)
    if (!/^\d+(\.\d+)?$/.test(value)) {
      throw new ConfigError(`${flag}: Expected a number or none, got "${value}"`)
    }
    set(overrides, Number(value))
  }
}

/** Push `value` onto the list at `path`. */
function appendAt(overrides: Record<string, unknown>, path: string[], value: string): void {
  let node = overrides
  for (const key of path.slice(0, -1)) node = (node[key] ??= {}) as Record<string, unknown>
  ;((node[path.at(-1)!] ??= []) as string[]).push(value)
}

/** `--cert` and `--key` in pairs: the first pair is the default certificate. */
function certificatePart(
  overrides: Record<string, unknown>,
  part: 'cert' | 'key',
  value: string,
): void {
  const tls = (overrides.tls ??= {}) as Record<string, unknown>
  if (tls[part] === undefined) {
    tls[part] = value
    return
  }
  const more = (tls.certificates ??= []) as Record<string, string>[]
  const open = more.find((pair) => pair[part] === undefined)
  if (open) open[part] = value
  else more.push({ [part]: value })
}

const VALUE_FLAGS: Record<string, Setter> = {
  '--port': wholeNumberAt(['listen', 'port'], '--port'),
  '--host': setIn(['listen', 'host']),
  // The first pair is tls.cert/tls.key; each further pair goes to tls.certificates.
  '--cert': (overrides, value) => certificatePart(overrides, 'cert', value),
  '--key': (overrides, value) => certificatePart(overrides, 'key', value),
  '--http-redirect-port': wholeNumberAt(['tls', 'redirectPort'], '--http-redirect-port'),
  '--hsts-max-age': setIn(['tls', 'hsts', 'maxAge']),
  '--max-body-size': setIn(['limits', 'maxBodySize']),
  '--rate-limit': (overrides, value) => {
    const match = /^(\d+(?:\.\d+)?)(?:\/(.+))?$/.exec(value)
    if (!match) throw new ConfigError(`--rate-limit: Expected N or N/DURATION, got "${value}"`)
    setIn(['rateLimit', 'requests'])(overrides, Number(match[1]))
    if (match[2])
      setIn(['rateLimit', 'per'])(overrides, /^\d/.test(match[2]) ? match[2] : `1${match[2]}`)
  },
  '--rate-limit-burst': wholeNumberAt(['rateLimit', 'burst'], '--rate-limit-burst'),
  '--allow': (overrides, value) => appendAt(overrides, ['access', 'allow'], value),
  '--deny': (overrides, value) => appendAt(overrides, ['access', 'deny'], value),
  '--strategy': setIn(['strategy']),
  '--hash-key': setIn(['strategyOptions', 'consistentHash', 'key']),
  '--hash-epsilon': numberOrNoneAt(
    ['strategyOptions', 'consistentHash', 'epsilon'],
    '--hash-epsilon',
  ),
  '--least-time-decay': setIn(['strategyOptions', 'leastTime', 'decay']),
  '--threshold': wholeNumberAt(['strategyOptions', 'threshold', 'connections'], '--threshold'),
  '--sticky-secret': setIn(['sticky', 'secret']),
  '--sticky-max-age': setIn(['sticky', 'maxAge']),
  '--health-path': setIn(['healthCheck', 'path']),
  '--health-interval': setIn(['healthCheck', 'interval']),
  '--health-timeout': setIn(['healthCheck', 'timeout']),
  '--admin-port': wholeNumberAt(['admin', 'port'], '--admin-port'),
  '--workers': wholeNumberAt(['workers'], '--workers'),
  '--admin-host': setIn(['admin', 'host']),
  '--admin-token': setIn(['admin', 'token']),
  '--state': setIn(['admin', 'stateFile']),
  '--access-log': setIn(['accessLog', 'path']),
  '--access-log-format': setIn(['accessLog', 'format']),
  '--pool': (overrides, value) => {
    const at = value.indexOf('=')
    if (at <= 0) throw new ConfigError(`--pool: Expected NAME=URL[,URL…], got "${value}"`)
    const pools = (overrides.pools ??= {}) as Record<string, { backends: string[] }>
    const urls = value
      .slice(at + 1)
      .split(',')
      .filter((url) => url !== '')
    pools[value.slice(0, at)] = { backends: urls }
  },
  '--route': (overrides, value) => {
    const at = value.lastIndexOf('=')
    if (at <= 0) throw new ConfigError(`--route: Expected [HOST][/PATH]=POOL, got "${value}"`)
    const where = value.slice(0, at)
    const slash = where.indexOf('/')
    const host = slash === -1 ? where : where.slice(0, slash)
    const path = slash === -1 ? undefined : where.slice(slash)
    const match = {
      ...(host === '' || host === '*' ? {} : { host }),
      ...(path === undefined || path === '/*' ? {} : { path }),
    }
    const route = { pool: value.slice(at + 1), ...(Object.keys(match).length ? { match } : {}) }
    ;((overrides.routes ??= []) as unknown[]).push(route)
  },
  '--tcp': (overrides, value) => {
    const match = /^(?:(.+):)?(\d{1,5})=(.+)$/.exec(value)
    if (!match) throw new ConfigError(`--tcp: Expected [HOST:]PORT=POOL, got "${value}"`)
    const [, host, port, pool] = match
    const listen = {
      ...(host ? { host: host.replace(/^\[(.*)\]$/, '$1') } : {}),
      port: Number(port),
    }
    ;((overrides.tcp ??= []) as unknown[]).push({ name: `tcp-${port}`, listen, pool })
  },
  '--etcd': (overrides, value) => {
    const cluster = (overrides.cluster ??= {}) as Record<string, unknown>
    cluster.etcd = value.split(',').filter((url) => url !== '')
  },
  '--cluster-name': setIn(['cluster', 'name']),
  '--cluster-prefix': setIn(['cluster', 'prefix']),
  '--backend': (overrides, value) => {
    // dns: entries are discovered, not fixed; they go to the discovery list.
    const list = value.startsWith('dns:') || value.startsWith('dns+srv:') ? 'discovery' : 'backends'
    ;((overrides[list] ??= []) as string[]).push(value)
  },
}

const BOOLEAN_FLAGS: Record<string, string[]> = {
  '--tls': ['tls', 'enabled'],
  '--watch-certs': ['tls', 'watch'],
  '--demo': ['demo'],
  '--watch-config': ['watchConfig'],
  '--sticky': ['sticky', 'enabled'],
  '--url-hash-query': ['strategyOptions', 'urlHash', 'includeQuery'],
}

/** Flags that turn something off. */
const NEGATED_FLAGS: Record<string, string[]> = {
  '--no-admin': ['admin', 'enabled'],
}

/**
 * Parse the command line.
 *
 * @example
 * ```ts
 * parseArgs(['--tls', '--backend', 'http://127.0.0.1:9001=2'])
 * ```
 * @throws {ConfigError} on an unknown flag or a missing value
 */
export function parseArgs(argv: readonly string[]): CliCommand {
  const overrides: Record<string, unknown> = {}
  let configFile: string | undefined
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1
    const flag = eq === -1 ? arg : arg.slice(0, eq)
    if (flag === '--help' || flag === '-h') return { kind: 'help' }
    if (flag === '--version' || flag === '-v') return { kind: 'version' }
    const booleanPath = BOOLEAN_FLAGS[flag] ?? NEGATED_FLAGS[flag]
    if (booleanPath) {
      if (eq !== -1) throw new ConfigError(`${flag}: Takes no value`)
      setIn(booleanPath)(overrides, !(flag in NEGATED_FLAGS))
      continue
    }
    if (flag !== '--config' && !(flag in VALUE_FLAGS)) {
      throw new ConfigError(`${arg}: Unknown option (see --help)`)
    }
    const value = eq === -1 ? argv[++i] : arg.slice(eq + 1)
    if (value === undefined || (eq === -1 && value.startsWith('--'))) {
      throw new ConfigError(`${flag}: Expected a value`)
    }
    if (flag === '--config') configFile = value
    else VALUE_FLAGS[flag]!(overrides, value)
  }
  return { kind: 'run', configFile, overrides }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Deep-merge `override` into `base`; arrays and scalars in `override` replace. */
export function mergeConfig(base: unknown, override: Record<string, unknown>): unknown {
  if (!isPlainObject(base)) return override
  const merged: Record<string, unknown> = { ...base }
  for (const [key, value] of Object.entries(override)) {
    merged[key] = isPlainObject(value) ? mergeConfig(base[key], value) : value
  }
  return merged
}

/**
 * Build the validated configuration from the command line and the config file it names.
 *
 * @throws {ConfigError} naming the file or field that is wrong
 */
export async function loadConfig(
  command: Extract<CliCommand, { kind: 'run' }>,
  readTextFile: (path: string) => Promise<string>,
  env: Readonly<Record<string, string | undefined>> = {},
): Promise<Config> {
  let fileConfig: unknown = {}
  if (command.configFile !== undefined) {
    let text: string
    try {
      text = await readTextFile(command.configFile)
    } catch (error) {
      throw new ConfigError(
        `--config: Cannot read ${command.configFile}: ${(error as Error).message}`,
      )
    }
    try {
      fileConfig = JSON.parse(text)
    } catch (error) {
      throw new ConfigError(`${command.configFile}: Invalid JSON: ${(error as Error).message}`)
    }
    if (!isPlainObject(fileConfig)) {
      throw new ConfigError(`${command.configFile}: Expected a JSON object`)
    }
  }
  const merged = mergeConfig(fileConfig, command.overrides) as Record<string, unknown>
  // FULCRUM_STICKY_SECRET keeps the secret out of `ps` and config files; it fills in only when
  // sticky sessions are configured without a secret.
  const sticky = merged.sticky
  if (env.FULCRUM_STICKY_SECRET && isPlainObject(sticky)) {
    if (sticky.secret === undefined && sticky.secrets === undefined) {
      merged.sticky = { ...sticky, secret: env.FULCRUM_STICKY_SECRET }
    }
  }
  // FULCRUM_ADMIN_TOKEN likewise keeps the admin token out of `ps`; a configured token wins.
  if (env.FULCRUM_ADMIN_TOKEN) {
    const admin = isPlainObject(merged.admin) ? merged.admin : {}
    if (admin.token === undefined) merged.admin = { ...admin, token: env.FULCRUM_ADMIN_TOKEN }
  }
  return parseConfig(merged)
}
