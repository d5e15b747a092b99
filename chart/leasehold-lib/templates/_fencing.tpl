{{- /*
Fencing enforced by the apiserver (docs/fencing.md): a ValidatingAdmissionPolicy and its binding that
admit the writes of `serviceAccountName` to `resources` (a list of {apiGroups, resources, operations})
only from the pod that holds the Lease, judged from the pod-bound token's pod name against the Lease's
spec.holderIdentity (`<pod>_<suffix>`). An empty holder, or no Lease yet, admits none. Never Leases,
Events or pods: the sidecar writes those itself. Extra dict keys: serviceAccountName and resources
(required), failurePolicy (default Fail).
*/ -}}
{{- define "leasehold.sidecar.fencing" -}}
{{- $settings := fromJson (include "leasehold.sidecar.settings" .) }}
{{- $ctx := .context }}
{{- $lease := $settings.leaseName }}
{{- if not .serviceAccountName }}
{{- fail "leasehold: leasehold.sidecar.fencing needs serviceAccountName in its dict (the ServiceAccount your pods run as)" }}
{{- end }}
{{- if $settings.sidecar.shards }}
{{- fail "leasehold: fencing is one Lease's for now; with shards it would fence every write (no Lease of that name): see docs/fencing.md" }}
{{- end }}
{{- $sa := .serviceAccountName }}
{{- $ns := $ctx.Release.Namespace }}
{{- $resources := .resources }}
{{- /* The cluster's discovery says so on install; offline (helm template) the Kubernetes version does. */}}
{{- if not (or ($ctx.Capabilities.APIVersions.Has "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy") (semverCompare ">=1.30-0" $ctx.Capabilities.KubeVersion.Version)) }}
{{- fail "leasehold: fencing.enabled needs admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy (Kubernetes >= 1.30); this cluster has none" }}
{{- end }}
{{- if not $resources }}
{{- fail "leasehold: fencing.enabled needs fencing.resources: the API groups, resources and operations your controller writes" }}
{{- end }}
{{- range $rule := $resources }}
{{- range $resource := $rule.resources }}
{{- if has $resource (list "leases" "events" "pods" "*") }}
{{- fail (printf "leasehold: fencing.resources may not name %q: the sidecar writes Leases, Events and its pod itself, and a fenced replica must still be able to campaign" $resource) }}
{{- end }}
{{- end }}
{{- if not $rule.operations }}
{{- fail "leasehold: every fencing.resources entry needs operations (CREATE, UPDATE, DELETE)" }}
{{- end }}
{{- end }}
{{- $name := printf "leasehold-fencing-%s-%s" $ns $lease | trunc 63 | trimSuffix "-" }}
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: {{ $name }}
  labels:
    app.kubernetes.io/managed-by: {{ $ctx.Release.Service }}
    app.kubernetes.io/instance: {{ $ctx.Release.Name }}
    app.kubernetes.io/component: leader-election
spec:
  failurePolicy: {{ .failurePolicy | default "Fail" }}
  paramKind:
    apiVersion: coordination.k8s.io/v1
    kind: Lease
  matchConstraints:
    namespaceSelector:
      matchLabels:
        kubernetes.io/metadata.name: {{ $ns | quote }}
    resourceRules:
      {{- range $rule := $resources }}
      - apiGroups: {{ toJson ($rule.apiGroups | default (list "")) }}
        apiVersions: ["*"]
        resources: {{ toJson $rule.resources }}
        operations: {{ toJson $rule.operations }}
      {{- end }}
  matchConditions:
    - name: the-controllers-serviceaccount
      expression: request.userInfo.username == {{ printf "system:serviceaccount:%s:%s" $ns $sa | quote }}
  variables:
    - name: pod
      expression: >-
        'authentication.kubernetes.io/pod-name' in request.userInfo.extra ?
        request.userInfo.extra['authentication.kubernetes.io/pod-name'][0] : ''
    - name: holder
      expression: "has(params.spec.holderIdentity) ? params.spec.holderIdentity : ''"
  validations:
    - expression: variables.pod != '' && variables.holder.startsWith(variables.pod + '_')
      messageExpression: >-
        'leasehold fencing: pod ' + (variables.pod == '' ? '(a token not bound to a pod)' : variables.pod) +
        ' does not hold Lease {{ $ns }}/{{ $lease }} (holder: ' +
        (variables.holder == '' ? 'none' : variables.holder) + ')'
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: {{ $name }}
  labels:
    app.kubernetes.io/managed-by: {{ $ctx.Release.Service }}
    app.kubernetes.io/instance: {{ $ctx.Release.Name }}
    app.kubernetes.io/component: leader-election
spec:
  policyName: {{ $name }}
  validationActions: [Deny]
  paramRef:
    name: {{ $lease }}
    namespace: {{ $ns }}
    # No Lease yet (nobody has ever led): nobody may write.
    parameterNotFoundAction: Deny
{{- end -}}
