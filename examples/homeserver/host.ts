/**
 * The Host the library asks: four questions about users, aliases and rooms, who an access token
 * belongs to, the device check of identity assertion, and the appservice room directory. All
 * answered from HomeserverData; this is the whole surface between the library and the homeserver's storage.
 */
import { MatrixError } from '../../lib/index.ts';
import type { KoaHost } from '../../lib/index.ts';
import type { HomeserverData } from './data.ts';

/**
 * @example
 * const as = await appservices({ registrations, host: homeserverHost(data) });
 */
export function homeserverHost(data: HomeserverData): KoaHost {
  return {
    serverName: data.serverName,
    authenticate: async (accessToken) => {
      const session = data.sessions.get(accessToken);
      return session === undefined ? null : { userId: session.userId, deviceId: session.deviceId };
    },
    // A deactivated user still exists: its id can never be registered again.
    userExists: async (userId) => data.users.has(userId),
    resolveAlias: async (alias) => data.aliases.get(alias)?.roomId ?? null,
    roomAliases: async (roomId) => data.roomAliases(roomId),
    joinedMembers: async (roomId) => {
      const room = data.rooms.get(roomId);
      return room === undefined ? [] : data.joinedMembers(room);
    },
    deviceExists: async (userId, deviceId) => data.deviceExists(userId, deviceId),
    setRoomDirectoryVisibility: async (appserviceId, networkId, roomId, visibility) => {
      if (!data.rooms.has(roomId)) throw new MatrixError(404, 'M_NOT_FOUND', 'Unknown room');
      setAppserviceVisibility(data, appserviceId, networkId, roomId, visibility);
    },
    // Presence "contextually": the ASes sharing a room with the user get its presence too.
    joinedRooms: async (userId) =>
      [...data.rooms.values()].filter((room) => data.membership(room, userId) === 'join').map((room) => room.roomId),
  };
}

/**
 * Adds or removes a room in one AS's list for one network.
 *
 * @example
 * setAppserviceVisibility(data, 'irc', 'libera', '!r:localhost', 'public');
 */
export function setAppserviceVisibility(
  data: HomeserverData,
  appserviceId: string,
  networkId: string,
  roomId: string,
  visibility: 'public' | 'private',
): void {
  const key = `${appserviceId}|${networkId}`;
  let list = data.appserviceLists.get(key);
  if (visibility === 'public') {
    if (list === undefined) data.appserviceLists.set(key, (list = new Set()));
    list.add(roomId);
  } else {
    list?.delete(roomId);
  }
}
