/**
 * A `Host` built in code, for tests and benchmarks that need a homeserver which knows no one: no
 * user exists, no alias resolves, no room has aliases or members, no access token is valid. Any
 * method can be overridden.
 */
import type { Host } from '../host.ts';

/**
 * @example
 * ```ts
 * const host = testHost({ serverName: 'hs.test', userExists: async (id) => id === '@alice:hs.test' });
 * ```
 */
export function testHost(overrides: Partial<Host> & Pick<Host, 'serverName'>): Host {
  return {
    userExists: async () => false,
    resolveAlias: async () => null,
    roomAliases: async () => [],
    joinedMembers: async () => [],
    authenticate: async () => null,
    ...overrides,
  };
}
