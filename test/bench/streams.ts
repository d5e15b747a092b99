// node test/bench/streams.ts [--streams 256] [--past 100]
// What an app that opens streams without bound costs the sidecar: RSS idle, at MAX_STREAMS open
// /leader/watch streams, and after they are closed; how many streams past the cap were refused (503);
// the /leader p99 while the streams are open, and during a reconnect storm at the cap, against idle. One sidecar leading on its own control plane,
// with the image's Node flags and MALLOC_ARENA_MAX, as in a pod. docs/performance.md has the figures.
import { parseArgs } from 'node:util';
import { ControlPlane } from '../cluster/control-plane.ts';
import { leaderLatencies, openStream, openStreams, reconnectStorm } from '../support/local-flood.ts';
import { SidecarProcess, waitUntil } from '../support/sidecar.ts';
import { peakRssBytes, processUsage } from './proc.ts';
import { summarize } from './stats.ts';

const mib = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;

export async function streamFlood(options: {
  streams: number;
  past: number;
  kubeconfig: string;
  namespace: string;
}) {
  const sidecar = await SidecarProcess.start({
    namespace: options.namespace,
    leaseName: 'stream-flood',
    podName: 'flood',
    kubeconfig: options.kubeconfig,
    env: { MAX_STREAMS: String(options.streams) },
  });
  try {
    await waitUntil(
      'leading',
      async () => ((await sidecar.tryLeader())?.isLeader ? true : undefined),
      20_000,
      100,
    );
    const pid = sidecar.child.pid as number;
    const idleLatency = summarize(await leaderLatencies(sidecar.url, 500));
    const idleRss = (await processUsage(pid)).rssBytes;
    const opened = await openStreams(sidecar.port, options.streams);
    const past = await Promise.all(Array.from({ length: options.past }, () => openStream(sidecar.port)));
    const atCapRss = (await processUsage(pid)).rssBytes;
    const floodLatency = summarize(await leaderLatencies(sidecar.url, 500));
    // A broken gate reconnecting without backoff while the cap is full: every attempt refused.
    const [storm, stormLatencies] = await Promise.all([
      reconnectStorm(sidecar.port, 6_000, 1),
      leaderLatencies(sidecar.url, 500),
    ]);
    const stormLatency = summarize(stormLatencies);
    for (const { request: req } of [...opened, ...past]) req.destroy();
    await new Promise((resolve) => setTimeout(resolve, 5_000)); // let the sockets close and V8 collect
    const afterRss = (await processUsage(pid)).rssBytes;
    const renewing = (await sidecar.leader()).isLeader;
    return {
      maxStreams: options.streams,
      accepted: opened.filter((o) => o.status === 200).length,
      refusedPastCap: past.filter((o) => o.status === 503).length,
      pastCap: options.past,
      idleRssMiB: mib(idleRss),
      atCapRssMiB: mib(atCapRss),
      peakRssMiB: mib(await peakRssBytes(pid)),
      afterCloseRssMiB: mib(afterRss),
      perStreamKiB: Math.round((atCapRss - idleRss) / options.streams / 1024),
      leaderP99IdleMs: Math.round(idleLatency.p99 * 100) / 100,
      leaderP99AtCapMs: Math.round(floodLatency.p99 * 100) / 100,
      stormRefused: storm.byStatus['503'] ?? 0,
      leaderP99StormMs: Math.round(stormLatency.p99 * 100) / 100,
      stillLeading: renewing,
    };
  } finally {
    await sidecar.stop();
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: { streams: { type: 'string', default: '256' }, past: { type: 'string', default: '100' } },
  });
  const controlPlane = await ControlPlane.start();
  try {
    const result = await streamFlood({
      streams: Number(values.streams),
      past: Number(values.past),
      kubeconfig: controlPlane.info.kubeconfigPath,
      namespace: 'default',
    });
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await controlPlane.stop();
  }
}
