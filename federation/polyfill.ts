/**
 * `Promise.withResolvers` for Node 20: libp2p v3 calls it (it is native from
 * Node 22). Import this module before any libp2p module, as the first import
 * of every file that loads libp2p: ES modules evaluate their imports in order,
 * so the polyfill is in place before libp2p's code runs.
 *
 * @example
 * ```ts
 * import '../polyfill.js';
 * import { createLibp2p } from 'libp2p';
 * ```
 */

interface Resolvers<T> {
  promise: Promise<T>;
  resolve: (value: T | PromiseLike<T>) => void;
  reject: (reason?: unknown) => void;
}

const PromiseCtor = Promise as unknown as { withResolvers?: <T>() => Resolvers<T> };

if (typeof PromiseCtor.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers<T>(): Resolvers<T> {
      let resolve!: Resolvers<T>['resolve'];
      let reject!: Resolvers<T>['reject'];
      const promise = new Promise<T>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      return { promise, resolve, reject };
    },
  });
}

export {};
