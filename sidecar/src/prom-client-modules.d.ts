// Types for the prom-client files imported by path (prom-client-parts.ts): the package's own types.
declare module 'prom-client/lib/registry.js' {
  import type { Registry } from 'prom-client';

  const RegistryImpl: typeof Registry;
  export default RegistryImpl;
}

declare module 'prom-client/lib/counter.js' {
  import type { Counter } from 'prom-client';

  const CounterImpl: typeof Counter;
  export default CounterImpl;
}

declare module 'prom-client/lib/gauge.js' {
  import type { Gauge } from 'prom-client';

  const GaugeImpl: typeof Gauge;
  export default GaugeImpl;
}

declare module 'prom-client/lib/histogram.js' {
  import type { Histogram } from 'prom-client';

  const HistogramImpl: typeof Histogram;
  export default HistogramImpl;
}

declare module 'prom-client/lib/defaultMetrics.js' {
  import type { collectDefaultMetrics } from 'prom-client';

  const collect: typeof collectDefaultMetrics;
  export default collect;
}
