import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { ElectorHooks } from './elector-hooks.ts';
import type { KubeRequester } from './lease/api.ts';
import { formatMicroTime } from './lease/micro-time.ts';

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
 * failures are logged once in a while and never affect the election.
 */
export function kubeIntegrationHooks(options: KubeIntegrationOptions): Partial<ElectorHooks> {
  const { requester, namespace, logger } = options;
  let warned = false;
  const warnOnce = (err: unknown, what: string): void => {
    if (warned) return;
    warned = true;
    logger.warn({ err }, `could not ${what}; continuing without it`);
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
      .catch((err) => warnOnce(err, 'record an Event'));
  };

  let labelled: string | undefined;
  const label = (role: 'leader' | 'follower'): void => {
    if (!options.podRoleLabel || labelled === role) return;
    labelled = role;
    requester
      .request('PATCH', `/api/v1/namespaces/${namespace}/pods/${options.podName}`, {
        body: { metadata: { labels: { 'leasehold.io/role': role } } },
        contentType: 'application/merge-patch+json',
        timeoutMs: 5_000,
      })
      .catch((err) => warnOnce(err, 'label the pod'));
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
