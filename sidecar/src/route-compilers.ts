// Where the route schemas' validators and serializers come from. From source (the unit tests) fastify
// compiles them with ajv and fast-json-stringify as the app starts. The bundle carries them compiled at
// build time (scripts/precompile-routes.ts): no ajv or fast-json-stringify runs at start, which took
// ~40 ms of every start and the memory of two code generators.
import type { FastifyServerOptions } from 'fastify';

export type CompilersFactory = NonNullable<
  NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']
>;

/** What fastify passes a validator or serializer compiler about one route schema. */
export interface RouteSchemaRef {
  method: string;
  url: string;
  httpPart?: string;
  httpStatus?: string;
  contentType?: string;
}

/** Compiled route code, loaded on first use: validators and serializers by routeSchemaKey. */
export interface PrecompiledRoutes {
  validators: Record<string, () => unknown>;
  serializers: Record<string, () => unknown>;
}

/** "GET /leader querystring", "GET /leader 200": one key per route schema. */
export function routeSchemaKey(ref: RouteSchemaRef): string {
  const part = ref.httpPart ?? [ref.httpStatus, ref.contentType].filter(Boolean).join(' ');
  return `${ref.method} ${ref.url} ${part}`;
}

/** Compilers that hand back what the build compiled; a schema it did not see is a build error. */
export function precompiledCompilers(routes: PrecompiledRoutes): CompilersFactory {
  const restore = (table: Record<string, () => unknown>, kind: string) => (ref: RouteSchemaRef) => {
    const key = routeSchemaKey(ref);
    const load = table[key];
    if (!load) throw new Error(`no precompiled ${kind} for "${key}": build the sidecar again`);
    return load();
  };
  return {
    buildValidator: () => restore(routes.validators, 'validator'),
    buildSerializer: () => restore(routes.serializers, 'serializer'),
  } as unknown as CompilersFactory;
}
