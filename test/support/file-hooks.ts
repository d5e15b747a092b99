// A test file's shared set-up and tear-down. node:test runs a file-level `before` as soon as it is
// registered, and when a name pattern leaves the file no test to run it runs `after` at once, without
// waiting for `before` to finish: the tear-down then finds nothing to stop, and what the set-up starts
// (a control plane, a node) keeps the file alive until the runner's timeout. Here the tear-down waits
// for the set-up to settle, whatever the filter.
import { after, before } from 'node:test';

export function setUpAndTearDown(setUp: () => Promise<void>, tearDown: () => Promise<void>): void {
  let setUpSettled: Promise<unknown> = Promise.resolve();
  before(() => {
    const running = setUp();
    setUpSettled = running.catch(() => undefined);
    return running;
  });
  after(async () => {
    await setUpSettled;
    await tearDown();
  });
}
