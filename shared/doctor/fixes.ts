/** The one-sentence fixes the checks share. */

/** Grant `action` on `resource` to the caller and to the roles that need it (deploy/ram/<role>.json). */
export function grantFix(action: string, resource: string, roles: readonly string[]): string {
  const who = roles.length === 0 ? 'these credentials' : `these credentials and to role ${roles.join(', ')} (deploy/ram/<role>.json)`;
  return `grant ${action} on ${resource} to ${who}`;
}

/** What a refused request (status, code) says, for a detail. */
export const answerOf = (e: { status: number | string; code: string }): string => `${e.status} ${e.code}`;
