{{- /* Role rules for the sidecar (list items): its own Lease by name, creating it, Events, pod labels. */ -}}
{{- define "leasehold.sidecar.rbacRules" -}}
{{- $settings := fromJson (include "leasehold.sidecar.settings" .) -}}
{{- $names := list $settings.leaseName -}}
{{- if $settings.sidecar.shards -}}
{{- $names = list -}}
{{- range $i := until (int $settings.sidecar.shards) -}}
{{- $names = append $names (printf "%s-%d" $settings.leaseName $i) -}}
{{- end -}}
{{- end }}
# The sidecar's own Lease{{ if $settings.sidecar.shards }}s (one per shard){{ end }}, by name: read, watch, renew, release.
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  resourceNames: [{{ range $i, $n := $names }}{{ if $i }}, {{ end }}{{ $n | quote }}{{ end }}]
  verbs: [get, watch, update, patch]
# Creating cannot be limited by name (the name is not known to RBAC before the object exists).
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: [create]
{{- if $settings.sidecar.emitEvents }}
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
{{- end }}
{{- if $settings.sidecar.podRoleLabel }}
# leasehold.io/role labels on its own pod (pod names are not known in advance).
- apiGroups: [""]
  resources: [pods]
  verbs: [patch]
{{- end }}
{{- end -}}

{{- /*
A Role with those rules and a RoleBinding to one ServiceAccount, both named "<leaseName>-leasehold" in
the release namespace. Extra dict key: serviceAccountName (required).
*/ -}}
{{- define "leasehold.sidecar.rbac" -}}
{{- $settings := fromJson (include "leasehold.sidecar.settings" .) -}}
{{- if not .serviceAccountName -}}
{{- fail "leasehold: leasehold.sidecar.rbac needs serviceAccountName in its dict (the ServiceAccount your pods run as)" -}}
{{- end -}}
{{- $name := printf "%s-leasehold" $settings.leaseName | trunc 63 | trimSuffix "-" -}}
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {{ $name }}
  namespace: {{ .context.Release.Namespace }}
rules:
  {{- include "leasehold.sidecar.rbacRules" . | nindent 2 }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {{ $name }}
  namespace: {{ .context.Release.Namespace }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {{ $name }}
subjects:
  - kind: ServiceAccount
    name: {{ .serviceAccountName }}
    namespace: {{ .context.Release.Namespace }}
{{- end -}}

{{- /*
A FlowSchema (flowcontrol.apiserver.k8s.io/v1, Kubernetes >= 1.29; cluster-scoped) that puts the
sidecar's Lease requests — its ServiceAccount's get, create, update and patch of Leases in the release
namespace, and nothing else — in the apiserver's `leader-election` priority level, as kube-system's
controllers have it: a busy apiserver queues or rejects ordinary workload traffic (429) before it
throttles renewals. Watches are not subject to it. Named "leasehold-<namespace>-<leaseName>". Extra dict
keys: serviceAccountName (required), matchingPrecedence (default 500: before `service-accounts`, 9000,
and after kube-system's own leader election, 100 and 200).
*/ -}}
{{- define "leasehold.sidecar.flowSchema" -}}
{{- $settings := fromJson (include "leasehold.sidecar.settings" .) -}}
{{- if not .serviceAccountName -}}
{{- fail "leasehold: leasehold.sidecar.flowSchema needs serviceAccountName in its dict (the ServiceAccount your pods run as)" -}}
{{- end -}}
{{- $precedence := int (.matchingPrecedence | default 500) -}}
{{- if or (lt $precedence 1) (gt $precedence 9999) -}}
{{- fail (printf "leasehold: the FlowSchema's matchingPrecedence must be 1 to 9999, got %d" $precedence) -}}
{{- end -}}
apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: FlowSchema
metadata:
  name: {{ printf "leasehold-%s-%s" .context.Release.Namespace $settings.leaseName | trunc 63 | trimSuffix "-" }}
  labels:
    app.kubernetes.io/managed-by: {{ .context.Release.Service }}
    app.kubernetes.io/instance: {{ .context.Release.Name }}
    app.kubernetes.io/component: leader-election
spec:
  priorityLevelConfiguration:
    name: leader-election
  matchingPrecedence: {{ $precedence }}
  distinguisherMethod:
    type: ByUser
  rules:
    - subjects:
        - kind: ServiceAccount
          serviceAccount:
            name: {{ .serviceAccountName }}
            namespace: {{ .context.Release.Namespace }}
      resourceRules:
        - apiGroups: [coordination.k8s.io]
          resources: [leases]
          verbs: [get, create, update, patch]
          namespaces: [{{ .context.Release.Namespace | quote }}]
{{- end -}}
