/**
 * koa-appservice: the homeserver side of the Matrix Application Service API, as a Koa plugin.
 * Re-exports only; the SQLite and PostgreSQL stores and the test kit have their own subpaths
 * (`koa-appservice/sqlite`, `koa-appservice/postgres`, `koa-appservice/testing`) so that their
 * drivers load only when used.
 */
export { appservices, type Appservices } from './koa/plugin.ts';
export { defaults, type AppservicesOptions, type ResolvedOptions } from './options.ts';
export type { Host } from './host.ts';
export type { Logger, LogFn } from './logger.ts';
export type { MatrixEvent, EphemeralEvent, ToDeviceMessage } from './events.ts';
export type { QueryResult, EnsureOptions } from './query/existence.ts';
export type { AppserviceState, AppserviceContext, AppserviceKoaContext, KoaHost } from './koa/state.ts';
export type { Registration, NamespaceRule, Namespaces, NamespaceKind } from './registration/registration.ts';
export {
  loadRegistrations,
  parseRegistration,
  validateRegistration,
  type LoadOptions,
  type RegistrationSource,
} from './registration/load.ts';
export { Registry } from './registration/registry.ts';
export { NamespaceIndex, type NamespaceMatch } from './namespace/namespace-index.ts';
export { MemoryStore } from './store/memory-store.ts';
export type {
  Store,
  EnqueueItem,
  EnqueueOptions,
  OutboxClient,
  QueuedItem,
  SenderLock,
  StoredTransaction,
  TransactionBuilder,
  BatchLimits,
  Backlog,
  ItemKind,
  DeviceItemKind,
  ItemCounts,
} from './store/store.ts';
export type { DeviceListUpdate, DeviceKeyCounts } from './push/device-input.ts';
export type { DeadLetter, OversizeSupport } from './store/dead-letters.ts';
export type { DeadLetterApi } from './koa/dead-letter-api.ts';
export { mergeKeyQuery, type KeyProxyApi, type KeysQueryAnswer } from './koa/key-proxy-api.ts';
export type {
  KeyClaimRequest,
  KeyClaimResult,
  KeyQueryRequest,
  KeyQueryResult,
  KeyRequestOptions,
} from './query/key-proxy.ts';
export type { ExperimentalFeatures } from './options.ts';
export type { JsonObject } from './client/key-requests.ts';
export {
  KoaAppserviceError,
  RegistrationError,
  RegistrationLoadError,
  OptionsError,
  AppserviceRequestError,
  StoreError,
  InFlightMismatchError,
  InvalidEventError,
  MatrixError,
  type ErrorCode,
  type AppserviceFailureKind,
} from './errors.ts';
