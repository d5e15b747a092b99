// The parts of prom-client the sidecar uses, loaded without its index: the index also loads the cluster
// aggregator (node:cluster, child_process, worker_threads), the Pushgateway (http, https, zlib) and
// Summary (tdigest), which no sidecar start needs. prom-client has no `exports` map, so its files can be
// imported by path; their types are the package's own (prom-client-modules.d.ts).
/// <reference path="./prom-client-modules.d.ts" />
import type { Registry as RegistryType } from 'prom-client';
import CounterImpl from 'prom-client/lib/counter.js';
import collectDefaultMetricsImpl from 'prom-client/lib/defaultMetrics.js';
import GaugeImpl from 'prom-client/lib/gauge.js';
import HistogramImpl from 'prom-client/lib/histogram.js';
import RegistryImpl from 'prom-client/lib/registry.js';

export const Registry = RegistryImpl;
export type Registry = RegistryType;
export const Counter = CounterImpl;
export const Gauge = GaugeImpl;
export const Histogram = HistogramImpl;
export const collectDefaultMetrics = collectDefaultMetricsImpl;
