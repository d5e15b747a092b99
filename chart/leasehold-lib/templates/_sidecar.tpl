{{/*
Leasehold sidecar, as named templates for inclusion in any chart.

Every template takes a dict:
  sidecar:   the sidecar settings (the `sidecar` block of the leasehold chart's values.yaml documents
             every field; the same shape works in your chart)
  leaseName: the Lease to hold (one per controller)
  context:   the root context ($)

  leasehold.sidecar.container   one container (list item): put it under initContainers when
                                 sidecar.nativeSidecar is true (restartPolicy: Always, starts first,
                                 stops last), else under containers
  leasehold.sidecar.rbacRules    Role rules for the sidecar (list items)
  leasehold.sidecar.validate     fails with a clear message on invalid combinations
  leasehold.sidecar.appEnv       env entries for your controller container (LEASEHOLD_URL)
  leasehold.sidecar.volumes      pod volumes the sidecar mounts (a small emptyDir for /tmp: the
                                 root filesystem is read-only, Node keeps its compile cache there)
*/}}

{{- define "leasehold.sidecar.volumes" -}}
- name: leasehold-tmp
  emptyDir: { sizeLimit: 64Mi }
{{- end -}}

{{- define "leasehold.sidecar.validate" -}}
{{- $s := .sidecar -}}
{{- $e := $s.election -}}
{{- if not .leaseName -}}
{{- fail "leasehold: a lease name is required (leaseName)" -}}
{{- end -}}
{{- if not (gt (float64 $e.leaseDurationSeconds) (float64 $e.renewDeadlineSeconds)) -}}
{{- fail (printf "leasehold: sidecar.election.renewDeadlineSeconds (%v) must be less than leaseDurationSeconds (%v)" $e.renewDeadlineSeconds $e.leaseDurationSeconds) -}}
{{- end -}}
{{- if not (gt (float64 $e.renewDeadlineSeconds) (mulf 1.2 (float64 $e.retryPeriodSeconds))) -}}
{{- fail (printf "leasehold: sidecar.election.renewDeadlineSeconds (%v) must be greater than 1.2 x retryPeriodSeconds (%v)" $e.renewDeadlineSeconds $e.retryPeriodSeconds) -}}
{{- end -}}
{{- /* Same rule as the sidecar: renewals come at most once a wall second, so the leader's validity
      min(RD, LD - margin) must outlast 1.2 x max(RP, 1 s). */ -}}
{{- $validity := minf (float64 $e.renewDeadlineSeconds) (subf (float64 $e.leaseDurationSeconds) (float64 $e.safetyMarginSeconds)) -}}
{{- $renewEvery := maxf (float64 $e.retryPeriodSeconds) 1.0 -}}
{{- if not (gt $validity (mulf 1.2 $renewEvery)) -}}
{{- fail (printf "leasehold: the leader's validity min(renewDeadlineSeconds, leaseDurationSeconds - safetyMarginSeconds) = %v s must exceed 1.2 x max(retryPeriodSeconds, 1 s) = %v s" $validity (mulf 1.2 $renewEvery)) -}}
{{- end -}}
{{- if eq (int $s.port) (int $s.probePort) -}}
{{- fail "leasehold: sidecar.port and sidecar.probePort must differ" -}}
{{- end -}}
{{- end -}}

{{- define "leasehold.sidecar.appEnv" -}}
- name: LEASEHOLD_URL
  value: {{ printf "http://127.0.0.1:%v" .sidecar.port | quote }}
{{- end -}}

{{- define "leasehold.sidecar.container" -}}
{{- $s := .sidecar -}}
{{- $e := $s.election -}}
- name: {{ $s.containerName | default "leasehold" }}
  image: {{ include "leasehold.imageRef" (dict "image" $s.image "appVersion" .context.Chart.AppVersion) | quote }}
  imagePullPolicy: {{ $s.image.pullPolicy }}
  {{- if $s.nativeSidecar }}
  restartPolicy: Always
  {{- end }}
  env:
    - name: LEASE_NAME
      value: {{ .leaseName | quote }}
    - name: POD_NAME
      valueFrom: { fieldRef: { fieldPath: metadata.name } }
    - name: POD_NAMESPACE
      valueFrom: { fieldRef: { fieldPath: metadata.namespace } }
    - name: LEASE_DURATION_SECONDS
      value: {{ $e.leaseDurationSeconds | quote }}
    - name: LEASE_RENEW_DEADLINE_SECONDS
      value: {{ $e.renewDeadlineSeconds | quote }}
    - name: LEASE_RETRY_PERIOD_SECONDS
      value: {{ $e.retryPeriodSeconds | quote }}
    - name: LEASE_SAFETY_MARGIN_SECONDS
      value: {{ $e.safetyMarginSeconds | quote }}
    - name: PORT
      value: {{ $s.port | quote }}
    - name: PROBE_PORT
      value: {{ $s.probePort | quote }}
    - name: SESSIONLESS_VALIDITY_SECONDS
      value: {{ $s.sessionlessValiditySeconds | quote }}
    - name: RESIGN_PAUSE_SECONDS
      value: {{ $s.resignPauseSeconds | quote }}
    - name: EMIT_EVENTS
      value: {{ $s.emitEvents | quote }}
    - name: POD_ROLE_LABEL
      value: {{ $s.podRoleLabel | quote }}
    {{- with $s.appHealthUrl }}
    - name: APP_HEALTH_URL
      value: {{ . | quote }}
    - name: APP_UNHEALTHY_SECONDS
      value: {{ $s.appUnhealthySeconds | quote }}
    {{- end }}
    - name: LOG_LEVEL
      value: {{ $s.logLevel | quote }}
    - name: LOG_FORMAT
      value: json
  ports:
    - name: probes
      containerPort: {{ $s.probePort }}
      protocol: TCP
  startupProbe:
    httpGet: { path: /healthz, port: probes }
    periodSeconds: 1
    failureThreshold: 30
  livenessProbe:
    httpGet: { path: /healthz, port: probes }
    periodSeconds: 10
    timeoutSeconds: 3
    failureThreshold: 3
  readinessProbe:
    httpGet: { path: /readyz, port: probes }
    periodSeconds: 5
    timeoutSeconds: 3
  volumeMounts:
    - name: leasehold-tmp
      mountPath: /tmp
  resources:
    {{- toYaml $s.resources | nindent 4 }}
  securityContext:
    allowPrivilegeEscalation: false
    readOnlyRootFilesystem: true
    runAsNonRoot: true
    capabilities: { drop: [ALL] }
    seccompProfile: { type: RuntimeDefault }
{{- end -}}

{{- define "leasehold.sidecar.rbacRules" -}}
# The sidecar's own Lease, by name: read, watch, renew, release.
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  resourceNames: [{{ .leaseName | quote }}]
  verbs: [get, watch, update, patch]
# Creating cannot be limited by name (the name is not known to RBAC before the object exists).
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: [create]
{{- if .sidecar.emitEvents }}
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
{{- end }}
{{- if .sidecar.podRoleLabel }}
# leasehold.io/role labels on its own pod (pod names are not known in advance).
- apiGroups: [""]
  resources: [pods]
  verbs: [patch]
{{- end }}
{{- end -}}

{{- /* An image reference: repository@digest when a digest is set, else repository:tag (appVersion by default). */ -}}
{{- define "leasehold.imageRef" -}}
{{- if (.image.digest | default "") -}}
{{- printf "%s@%s" .image.repository .image.digest -}}
{{- else -}}
{{- printf "%s:%s" .image.repository (.image.tag | default .appVersion) -}}
{{- end -}}
{{- end -}}
