{{/*
Leasehold sidecar, as named templates for inclusion in any chart.

Every template takes one dict (build it once at the top of your template):
  {{- $leasehold := dict "sidecar" .Values.leasehold "context" . }}
    sidecar:    your settings block; any subset of the fields in this chart's values.yaml (defaults
                fill the rest, unknown keys fail)
    context:    the root context ($), required
    leaseName:  optional; default "<release>-leader"
    valuesPath: optional; where `sidecar` lives in your values, for error messages (default "leasehold")

Pod spec, one include per list, each right for either placement (sidecar.nativeSidecar):
  leasehold.sidecar.initContainers  the sidecar as a native sidecar (restartPolicy: Always), or nothing
  leasehold.sidecar.containers      the sidecar as a plain container, or nothing
  leasehold.sidecar.volumes         the volumes the sidecar mounts (always)
  leasehold.sidecar.appEnv          env entries for your controller container (LEASEHOLD_URL)
RBAC and disruption (see _rbac.tpl, _pdb.tpl):
  leasehold.sidecar.rbacRules       Role rules (list items), for a Role of your own
  leasehold.sidecar.rbac            a whole Role and RoleBinding for a ServiceAccount
  leasehold.podDisruptionBudget     a PodDisruptionBudget that keeps one replica through drains
Lower level:
  leasehold.sidecar.container       the container (list item) in the configured placement's shape
  leasehold.sidecar.validate        renders nothing; fails on invalid settings (every template above
                                    validates too)
*/}}

{{- define "leasehold.sidecar.validate" -}}
{{- $_ := include "leasehold.sidecar.settings" . -}}
{{- end -}}

{{- define "leasehold.sidecar.volumes" -}}
{{- $_ := include "leasehold.sidecar.settings" . -}}
- name: leasehold-tmp
  emptyDir: { sizeLimit: 64Mi }
{{- end -}}

{{- define "leasehold.sidecar.initContainers" -}}
{{- $settings := fromJson (include "leasehold.sidecar.settings" .) -}}
{{- if $settings.sidecar.nativeSidecar -}}
{{- include "leasehold.sidecar.container" . -}}
{{- end -}}
{{- end -}}

{{- define "leasehold.sidecar.containers" -}}
{{- $settings := fromJson (include "leasehold.sidecar.settings" .) -}}
{{- if not $settings.sidecar.nativeSidecar -}}
{{- include "leasehold.sidecar.container" . -}}
{{- end -}}
{{- end -}}

{{- define "leasehold.sidecar.appEnv" -}}
{{- $settings := fromJson (include "leasehold.sidecar.settings" .) -}}
- name: LEASEHOLD_URL
  value: {{ printf "http://127.0.0.1:%v" $settings.sidecar.port | quote }}
{{- if $settings.sidecar.shards }}
- name: SHARDS
  value: {{ $settings.sidecar.shards | quote }}
{{- end }}
{{- end -}}

{{- define "leasehold.sidecar.container" -}}
{{- $settings := fromJson (include "leasehold.sidecar.settings" .) -}}
{{- $s := $settings.sidecar -}}
{{- $e := $s.election -}}
- name: {{ $s.containerName }}
  image: {{ include "leasehold.imageRef" (dict "image" $s.image) | quote }}
  imagePullPolicy: {{ $s.image.pullPolicy }}
  {{- if $s.nativeSidecar }}
  restartPolicy: Always
  {{- end }}
  env:
    - name: LEASE_NAME
      value: {{ $settings.leaseName | quote }}
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
    {{- if $s.shards }}
    - name: SHARDS
      value: {{ $s.shards | quote }}
    {{- end }}
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

{{- /* An image reference: repository@digest when a digest is set, else repository:tag (appVersion when the tag is empty). */ -}}
{{- define "leasehold.imageRef" -}}
{{- if (.image.digest | default "") -}}
{{- printf "%s@%s" .image.repository .image.digest -}}
{{- else -}}
{{- printf "%s:%s" .image.repository (.image.tag | default .appVersion) -}}
{{- end -}}
{{- end -}}
