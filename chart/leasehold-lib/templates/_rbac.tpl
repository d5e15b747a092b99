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
