import { expect } from 'chai';

/** The error a promise rejects with; fails the spec when it resolves instead. */
export async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  return expect.fail('expected the promise to reject');
}
