/**
 * A homeserver's memory in a few maps: enough of `Host` (plus the device hook of the Koa layer)
 * for the Koa specs, with a record of what the plugin asked it to do.
 */
import type { KoaHost } from '../../../lib/koa/state.ts';

export class ToyHost implements KoaHost {
  readonly serverName: string;
  readonly users = new Set<string>();
  readonly aliases = new Map<string, string>();
  readonly devices = new Set<string>();
  readonly directory: { appserviceId: string; networkId: string; roomId: string; visibility: 'public' | 'private' }[] =
    [];
  /** Users' access tokens: `syt_<anything>` is a session of `@alice`, unless listed here otherwise. */
  readonly sessions = new Map<string, { userId: string; deviceId?: string }>();
  userExistsCalls = 0;
  authenticateCalls = 0;
  /** Leave undefined to model a host without an appservice room directory. */
  setRoomDirectoryVisibility?: KoaHost['setRoomDirectoryVisibility'];
  /** Leave undefined to model a host that cannot check devices. */
  deviceExists?: KoaHost['deviceExists'];

  constructor(serverName = 'hs.test', options: { directory?: boolean; devices?: boolean } = {}) {
    this.serverName = serverName;
    if (options.devices !== false) {
      this.deviceExists = async (userId, deviceId) => this.devices.has(`${userId}|${deviceId}`);
    }
    if (options.directory !== false) {
      this.setRoomDirectoryVisibility = async (appserviceId, networkId, roomId, visibility) => {
        this.directory.push({ appserviceId, networkId, roomId, visibility });
      };
    }
  }

  async userExists(userId: string): Promise<boolean> {
    this.userExistsCalls++;
    return this.users.has(userId);
  }

  async resolveAlias(alias: string): Promise<string | null> {
    return this.aliases.get(alias) ?? null;
  }

  async roomAliases(roomId: string): Promise<string[]> {
    return [...this.aliases].filter(([, id]) => id === roomId).map(([alias]) => alias);
  }

  async joinedMembers(): Promise<string[]> {
    return [];
  }

  async authenticate(accessToken: string): Promise<{ userId: string; deviceId?: string } | null> {
    this.authenticateCalls++;
    return (
      this.sessions.get(accessToken) ??
      (accessToken.startsWith('syt_') ? { userId: `@alice:${this.serverName}` } : null)
    );
  }
}
