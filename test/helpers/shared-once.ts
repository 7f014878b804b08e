// A fixture made at most once per test file, on the first test that asks for it, and shared by
// the file's tests from then on (a feederd start costs about 3 s of CPU). A test that runs alone
// (--test-name-pattern) still makes it; a file whose tests all skip never does.

/**
 * `setup` runs on the first call; every call gets the same promise (a failed setup fails every
 * test that asks, with the same error). What `setup` starts it registers with the file's `after`
 * (e.g. an aws rig's `feeders` and `dirs`), which tears it down once the file's tests are done.
 */
export function sharedOnce<T>(setup: () => Promise<T>): () => Promise<T> {
  let made: Promise<T> | undefined;
  return () => {
    made ??= setup();
    return made;
  };
}
