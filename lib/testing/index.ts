/**
 * `koa-appservice/testing`: tools for testing a homeserver or a bridge built on koa-appservice.
 * Loaded only through its own subpath, so production code never pulls in test servers. It needs
 * no test framework; the Store contract suite, which needs mocha and chai, is
 * `koa-appservice/testing/store-contract`.
 */
export { MockAppService } from './mock-appservice.ts';
export type { MockAppServiceOptions, RecordedRequest, TransactionBody } from './mock-appservice.ts';
export { testHost } from './host.ts';
export { testRegistration } from './registration.ts';
export type { TestNamespaceRule, TestRegistrationSpec } from './registration.ts';
