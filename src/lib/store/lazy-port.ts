// A part of the port loaded on first call: every port method returns a promise, so an object
// whose methods first load their module and then delegate is indistinguishable from the loaded
// one. `darkserver query` starts faster without the queue's and the job records' modules.

/** `load()` runs once, at the first method call; its object answers that call and every later one. */
export function lazyPort<T extends object>(load: () => Promise<T>): T {
  let loaded: Promise<T> | undefined;
  return new Proxy({} as T, {
    get(_target, prop) {
      if (prop === 'then') return undefined; // not a promise itself
      return async (...args: unknown[]) => {
        const part = await (loaded ??= load());
        return (part[prop as keyof T] as (...a: unknown[]) => unknown).apply(part, args);
      };
    },
  });
}
