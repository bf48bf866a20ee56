/**
 * The route table's data: every client-server API path the plugin looks at, with the parts of the
 * chain that act on it and whether the client must be authenticated first. The matching is in
 * route-table.ts; this file only declares.
 */
import { DEVICE_ROUTES } from './device-routes.ts';

export type RouteName =
  | 'register'
  | 'registerAvailable'
  | 'login'
  | 'createRoom'
  | 'aliasLookup'
  | 'aliasEdit'
  | 'join'
  | 'knock'
  | 'profile'
  | 'invite'
  | 'canonicalAlias'
  | 'send'
  | 'state'
  | 'thirdpartyProtocols'
  | 'thirdpartyProtocol'
  | 'thirdpartyLocation'
  | 'thirdpartyUser'
  | 'ping'
  | 'directoryList'
  | (typeof DEVICE_ROUTES)[number]['name'];

/** The parts of the chain after auth (which reads every route), in the order they run. */
export type ChainPart = 'guards' | 'routes' | 'interceptors' | 'aliasChanges' | 'deviceManagement';

/**
 * Whether a client that is no AS must be authenticated by the host before the plugin does any
 * work for it: `required` routes answer 401 without a known token (the client-server spec requires
 * one there); on `optional` ones (the spec allows anonymous lookups) an anonymous request reaches
 * the homeserver without any AS being asked, and an unknown token is still a 401.
 */
export type ClientAuth = 'required' | 'optional';

export interface RouteSpec {
  readonly name: RouteName;
  readonly auth?: ClientAuth;
  /**
   * Which parts of the chain act on this route; the chain runs only those. None: only auth reads
   * it (timestamp massaging), so only an AS's request needs the plugin there.
   */
  readonly parts: readonly ChainPart[];
  readonly methods: readonly string[];
  readonly versions: readonly string[];
  /** `literal`, `:param`, a trailing `:param?` (optional) or a trailing `*` (any further segments). */
  readonly pattern: string;
}

const CLIENT = ['r0', 'v3'];

/** Order matters only where two patterns overlap: the first declared wins. */
export const TABLE: readonly RouteSpec[] = [
  { name: 'register', parts: ['guards'], methods: ['POST'], versions: CLIENT, pattern: 'register' },
  { name: 'registerAvailable', parts: ['guards'], methods: ['GET'], versions: CLIENT, pattern: 'register/available' },
  { name: 'login', parts: ['guards'], methods: ['POST'], versions: CLIENT, pattern: 'login' },
  {
    name: 'createRoom',
    auth: 'required',
    parts: ['guards', 'interceptors'],
    methods: ['POST'],
    versions: CLIENT,
    pattern: 'createroom',
  },
  {
    name: 'aliasLookup',
    auth: 'optional',
    parts: ['interceptors'],
    methods: ['GET'],
    versions: CLIENT,
    pattern: 'directory/room/:alias',
  },
  {
    name: 'aliasEdit',
    parts: ['guards', 'aliasChanges'],
    methods: ['PUT', 'DELETE'],
    versions: CLIENT,
    pattern: 'directory/room/:alias',
  },
  {
    name: 'join',
    auth: 'required',
    parts: ['interceptors'],
    methods: ['POST'],
    versions: CLIENT,
    pattern: 'join/:target',
  },
  {
    name: 'knock',
    auth: 'required',
    parts: ['interceptors'],
    methods: ['POST'],
    versions: CLIENT,
    pattern: 'knock/:target',
  },
  {
    name: 'profile',
    auth: 'optional',
    parts: ['interceptors'],
    methods: ['GET'],
    versions: CLIENT,
    pattern: 'profile/:userId/:field?',
  },
  {
    name: 'invite',
    auth: 'required',
    parts: ['interceptors'],
    methods: ['POST'],
    versions: CLIENT,
    pattern: 'rooms/:roomId/invite/:rest?',
  },
  {
    name: 'canonicalAlias',
    auth: 'required',
    parts: ['interceptors'],
    methods: ['PUT'],
    versions: CLIENT,
    pattern: 'rooms/:roomId/state/m.room.canonical_alias/:stateKey?',
  },
  { name: 'send', parts: [], methods: ['PUT'], versions: CLIENT, pattern: 'rooms/:roomId/send/*' },
  { name: 'state', parts: [], methods: ['PUT'], versions: CLIENT, pattern: 'rooms/:roomId/state/*' },
  {
    name: 'thirdpartyProtocols',
    auth: 'required',
    parts: ['routes'],
    methods: ['GET'],
    versions: CLIENT,
    pattern: 'thirdparty/protocols',
  },
  {
    name: 'thirdpartyProtocol',
    auth: 'required',
    parts: ['routes'],
    methods: ['GET'],
    versions: CLIENT,
    pattern: 'thirdparty/protocol/:protocol',
  },
  {
    name: 'thirdpartyLocation',
    auth: 'required',
    parts: ['routes'],
    methods: ['GET'],
    versions: CLIENT,
    pattern: 'thirdparty/location/:protocol?',
  },
  {
    name: 'thirdpartyUser',
    auth: 'required',
    parts: ['routes'],
    methods: ['GET'],
    versions: CLIENT,
    pattern: 'thirdparty/user/:protocol?',
  },
  { name: 'ping', parts: ['routes'], methods: ['POST'], versions: ['v1'], pattern: 'appservice/:appserviceId/ping' },
  {
    name: 'directoryList',
    parts: ['routes'],
    methods: ['PUT', 'DELETE'],
    versions: CLIENT,
    pattern: 'directory/list/appservice/:networkId/:roomId',
  },
  ...DEVICE_ROUTES,
];
