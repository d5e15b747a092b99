// From source there are no precompiled routes and fastify compiles the schemas itself. The build swaps
// this module for the generated one (scripts/precompile-routes.ts, scripts/build.ts).
import type { PrecompiledRoutes } from './route-compilers.ts';

export const precompiledRoutes: PrecompiledRoutes | undefined = undefined;
