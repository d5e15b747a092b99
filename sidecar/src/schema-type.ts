/**
 * The TypeScript type a JSON schema (written `as const`) describes, for the flat objects our routes
 * answer with: the schema is the one source, the type follows from it.
 */
type JsonType<T> = T extends 'string'
  ? string
  : T extends 'integer' | 'number'
    ? number
    : T extends 'boolean'
      ? boolean
      : T extends 'null'
        ? null
        : unknown;

type PropertyType<P> = P extends { type: infer T }
  ? T extends readonly (infer U)[]
    ? JsonType<U>
    : JsonType<T>
  : unknown;

type Required<S> = S extends { required: readonly (infer R)[] } ? R : never;

export type FromSchema<S extends { properties: Record<string, unknown> }> = {
  -readonly [K in keyof S['properties'] & Required<S>]: PropertyType<S['properties'][K]>;
} & {
  -readonly [K in Exclude<keyof S['properties'], Required<S>>]?: PropertyType<S['properties'][K]>;
};
