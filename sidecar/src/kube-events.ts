import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { LogThrottle } from './backoff.ts';
import type { ElectorHooks } from './elector-hooks.ts';
import type { KubeRequester } from './kube/connection.ts';
import { formatMicroTime } from './lease/micro-time.ts';

const labelRetryMs = 5_000;

export interface KubeIntegrationOptions {
  requester: KubeRequester;
  namespace: string;
  leaseName: string;
  podName: string;
  identity: string;
  emitEvents: boolean;
  podRoleLabel: boolean;
  logger: Logger;
}

/**
 * Kubernetes-visible traces of leadership: Events on the Lease (reason LeaderElection, as client-go
 * records them) and, when enabled, the pod label leasehold.io/role=leader|follower. Best effort:
 * failures are logged at most once a minute (with a count) and never affect the election; a label that
 * could not be written is tried again every few seconds until it lands.
 */
export function kubeIntegrationHooks(options: KubeIntegrationOptions): Partial<ElectorHooks> {
  const { requester, namespace, logger } = options;
  const throttle = new LogThrottle(60_000, () => performance.now());
  const warn = (err: unknown, what: string): void => {
    const suppressed = throttle.take();
    if (suppressed !== undefined)
      logger.warn({ err, suppressed }, `could not ${what}; continuing without it`);
  };

  const event = (type: 'Normal' | 'Warning', message: string): void => {
    if (!options.emitEvents) return;
    const now = formatMicroTime(Date.now());
    const seconds = now.replace(/\.\d+Z$/, 'Z');
    const body = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${options.leaseName}.${randomBytes(8).toString('hex')}`, namespace },
      involvedObject: {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        name: options.leaseName,
        namespace,
      },
      reason: 'LeaderElection',
      message,
      type,
      source: { component: 'leasehold-sidecar', host: options.podName },
      reportingComponent: 'leasehold.io/sidecar',
      reportingInstance: options.identity,
      action: 'Election',
      eventTime: now,
      firstTimestamp: seconds,
      lastTimestamp: seconds,
      count: 1,
    };
    requester
      .request('POST', `/api/v1/namespaces/${namespace}/events`, { body, timeoutMs: 5_000 })
      .catch((err) => warn(err, 'record an Event'));
  };

  // The pod label follows leadership; a failed write is retried every few seconds until one lands.
  let wanted: 'leader' | 'follower' | undefined;
  let labelled: string | undefined;
  let writing = false;
  let retry: NodeJS.Timeout | undefined;
  const syncLabel = (): void => {
    if (!options.podRoleLabel || writing || wanted === undefined || wanted === labelled) return;
    const role = wanted;
    writing = true;
    clearTimeout(retry);
    requester
      .request('PATCH', `/api/v1/namespaces/${namespace}/pods/${options.podName}`, {
        body: { metadata: { labels: { 'leasehold.io/role': role } } },
        contentType: 'application/merge-patch+json',
        timeoutMs: 5_000,
      })
      .then(
        () => {
          labelled = role;
        },
        (err) => {
          warn(err, 'label the pod');
          retry = setTimeout(syncLabel, labelRetryMs);
          retry.unref();
        },
      )
      .finally(() => {
        writing = false;
        if (labelled === role) syncLabel();
      });
  };
  const label = (role: 'leader' | 'follower'): void => {
    wanted = role;
    syncLabel();
  };

  return {
    stateChanged(snapshot) {
      if (snapshot.known) label(snapshot.isLeader ? 'leader' : 'follower');
    },
    acquired(epoch) {
      event('Normal', `${options.identity} became leader (epoch ${epoch})`);
    },
    demoted(reason, epoch) {
      const planned = reason === 'shutdown' || reason === 'resigned';
      event(
        planned ? 'Normal' : 'Warning',
        `${options.identity} stopped leading (epoch ${epoch}): ${reason}`,
      );
    },
    released() {
      event('Normal', `${options.identity} released the lease`);
    },
  };
}
