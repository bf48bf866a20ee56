/**
 * `koa-appservice/testing`: tools for testing a homeserver or a bridge built on koa-appservice.
 * Loaded only through its own subpath, so production code never pulls in test servers.
 */
export { MockAppService } from './mock-appservice.ts';
export type { MockAppServiceOptions, RecordedRequest, TransactionBody } from './mock-appservice.ts';
export { storeContractTests } from './store-contract.ts';
export type { StoreContractSubject } from './store-contract.ts';
export { testRegistration } from './registration.ts';
export type { TestNamespaceRule, TestRegistrationSpec } from './registration.ts';
