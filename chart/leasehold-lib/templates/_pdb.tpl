{{- /*
A PodDisruptionBudget for a leader-elected controller: at most one replica down through voluntary
disruptions, and unhealthy pods always evictable (a crash-looping pod must not block a node drain).
Dict: context (required), name (required), selectorLabels (required, your Deployment's
spec.selector.matchLabels), maxUnavailable (optional, default 1).
*/ -}}
{{- define "leasehold.podDisruptionBudget" -}}
{{- range $key := list "context" "name" "selectorLabels" -}}
{{- if not (get $ $key) -}}
{{- fail (printf "leasehold: leasehold.podDisruptionBudget needs %s in its dict" $key) -}}
{{- end -}}
{{- end -}}
{{- $labels := .selectorLabels -}}
{{- if kindIs "string" $labels }}{{ $labels = fromYaml $labels }}{{ end -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ .name }}
  namespace: {{ .context.Release.Namespace }}
spec:
  maxUnavailable: {{ .maxUnavailable | default 1 }}
  unhealthyPodEvictionPolicy: AlwaysAllow
  selector:
    matchLabels:
      {{- toYaml $labels | nindent 6 }}
{{- end -}}
