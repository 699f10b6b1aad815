/** Shared by the command-line unit tests. */
import { loadConfig, parseArgs } from '../../src/cli.ts'
import type { Config } from '../../src/config.ts'

/**
 * The config a command line gives, as `fulcrum` would load it with an empty config file.
 * Rejects when the command line is refused, or is not a run command.
 *
 * @param env the environment. @default {}
 */
export async function configFromArgs(
  argv: string[],
  env: Record<string, string> = {},
): Promise<Config> {
  const command = parseArgs(argv)
  if (command.kind !== 'run') throw new Error('Expected a run command')
  return loadConfig(command, async () => '{}', env)
}
