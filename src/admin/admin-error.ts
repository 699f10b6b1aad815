/** The error of an admin request that cannot be done. */

/** An admin request that cannot be done: the HTTP status and a message (and the fields, if any). */
export class AdminError extends Error {
  override name = 'AdminError'
  constructor(
    readonly status: number,
    message: string,
    readonly issues?: { path: string; message: string }[],
  ) {
    super(message)
  }
}

/** A 400 naming each wrong field. */
export function invalid(issues: { path: string; message: string }[]): AdminError {
  const message = issues.map((i) => `${i.path || '(body)'}: ${i.message}`).join('\n')
  return new AdminError(400, message, issues)
}
