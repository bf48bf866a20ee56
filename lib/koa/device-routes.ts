/**
 * The route table's entries for MSC4190 (device management for application services): the
 * routes on which an AS that manages its users' devices needs no user-interactive auth, and on
 * which `PUT` creates the device. Kept apart so the device rules read in one place; the table
 * (route-table.ts) takes them as they are, and matches them like any other entry.
 *
 * Homeservers serve these under `r0`, `v3` and `unstable` (Synapse's client patterns), so the
 * table knows all three.
 */

const VERSIONS = ['r0', 'v3', 'unstable'] as const;

/** The entries, in the table's `RouteSpec` shape. */
export const DEVICE_ROUTES = [
  {
    name: 'device',
    parts: ['deviceManagement'],
    methods: ['PUT', 'DELETE'],
    versions: VERSIONS,
    pattern: 'devices/:deviceId',
  },
  {
    name: 'deleteDevices',
    parts: ['deviceManagement'],
    methods: ['POST'],
    versions: VERSIONS,
    pattern: 'delete_devices',
  },
  {
    name: 'deviceSigningUpload',
    parts: ['deviceManagement'],
    methods: ['POST'],
    versions: VERSIONS,
    pattern: 'keys/device_signing/upload',
  },
] as const;
