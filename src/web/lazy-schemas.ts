/**
 * Route schemas compiled on first use instead of at start (issue 20, idle RSS).
 *
 * Fastify compiles every route's JSON Schemas when the app is built: one ajv validator per request
 * part (body, querystring, params, headers) and one fast-json-stringify serializer per response
 * status. The administration listener has ~100 routes, so that is ~225 generated functions, their
 * source text and ajv's schema environment, ~10 MiB of V8 heap held by a server that may never
 * see an API call. These factories (fastify's `schemaController.compilersFactory`) wrap fastify's
 * own compilers (`@fastify/ajv-compiler`, `@fastify/fast-json-stringify-compiler`, same options)
 * so that each schema is compiled on the first request that needs it, then kept. Validation and
 * serialization results are identical; only the moment of compilation moves.
 *
 * A schema error therefore surfaces on first use, not at start: {@link PendingSchemas.compileAll} compiles
 * every pending schema at once (test/unit/lazy-schemas.test.ts runs it over the whole app).
 *
 * Note: fastify lower-cases request `headers` schemas only for its built-in compiler; no route
 * here declares a request `headers` schema (response headers are documentation only).
 */
import AjvCompiler from '@fastify/ajv-compiler';
import { SerializerSelector } from '@fastify/fast-json-stringify-compiler';
import type { FastifyServerOptions } from 'fastify';

type Factories = NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>;
type ValidatorFactory = NonNullable<Factories['buildValidator']>;
type SerializerFactory = NonNullable<Factories['buildSerializer']>;

/** A validator as fastify calls it: ajv's signature, `errors` read after a `false` result. */
interface Validate {
  (data: unknown, cxt?: unknown): unknown;
  errors?: unknown;
}

/** Compilers that have not run yet, per app (one set per {@link lazySchemaCompilers} call). */
export interface PendingSchemas {
  /** Compiles every schema not compiled yet; returns how many were compiled. @throws the compiler's error */
  compileAll(): number;
}

/** Memoizes `build`, and registers it in `pending` until it has run. */
function once<T>(pending: Set<() => unknown>, build: () => T): () => T {
  let value: T | undefined;
  let done = false;
  const get = (): T => {
    if (!done) {
      value = build();
      done = true;
      pending.delete(get);
    }
    return value as T;
  };
  pending.add(get);
  return get;
}

/**
 * Fastify's default schema compilers, made lazy: pass `compilersFactory` as the server option
 * `schemaController.compilersFactory`.
 * @returns the factories, and the schemas still to compile ({@link PendingSchemas})
 */
export function lazySchemaCompilers(): { compilersFactory: Factories; pending: PendingSchemas } {
  const waiting = new Set<() => unknown>();
  const ajv = AjvCompiler() as unknown as ValidatorFactory;
  const fjs = SerializerSelector();
  const buildValidator = ((externalSchemas: unknown, options: unknown) => {
    const compiler = once(waiting, () =>
      (ajv as (e: unknown, o: unknown) => (r: unknown) => Validate)(externalSchemas, options),
    );
    return (route: unknown) => {
      const real = once(waiting, () => compiler()(route));
      const validate: Validate = (data, cxt) => {
        const fn = real();
        const ok = fn(data, cxt);
        validate.errors = fn.errors;
        return ok;
      };
      // fastify passes ajv's data context (parent object and key) only to a function that has a
      // `schemaEnv`, as every ajv validator has; the real one gets it on every call.
      return Object.assign(validate, { schemaEnv: true });
    };
  }) as unknown as ValidatorFactory;
  const buildSerializer: SerializerFactory = (externalSchemas, options) => {
    const compiler = once(waiting, () => fjs(externalSchemas, options));
    return (route) => {
      const real = once(waiting, () => compiler()(route));
      return (doc: unknown) => real()(doc);
    };
  };
  return {
    compilersFactory: { buildValidator, buildSerializer },
    pending: {
      compileAll() {
        let n = 0;
        // Compiling a route's schema first compiles its app-level compiler: loop until empty.
        while (waiting.size > 0) {
          for (const get of [...waiting]) {
            get();
            n++;
          }
        }
        return n;
      },
    },
  };
}
