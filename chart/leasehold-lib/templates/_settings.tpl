{{/*
Settings of the sidecar: the defaults below, overridden key by key by the block the caller passes as
`sidecar` (usually `.Values.leasehold`). A partial block works; an unknown key or a value of the wrong
type fails the render with the key's full path. Every public template of this library goes through
"leasehold.sidecar.settings", so the rules hold whichever template a chart includes.

The defaults are also the documentation of each field: chart/leasehold-lib/values.yaml repeats them
for users (a test keeps the two equal).
*/}}

{{- define "leasehold.sidecar.defaults" -}}
containerName: leasehold
image:
  repository: ghcr.io/leasehold/sidecar
  tag: "0.1.0"
  digest: ""
  pullPolicy: IfNotPresent
nativeSidecar: true
election:
  leaseDurationSeconds: 15
  renewDeadlineSeconds: 10
  retryPeriodSeconds: 2
  safetyMarginSeconds: 2
port: 4040
probePort: 4041
sessionlessValiditySeconds: 0.5
shards: 0
resignPauseSeconds: 3
emitEvents: true
podRoleLabel: false
appHealthUrl: ""
appUnhealthySeconds: 10
logLevel: info
resources:
  requests: { cpu: 10m, memory: 96Mi }
  limits: { memory: 160Mi }
{{- end -}}

{{- /*
Merges `given` over `defaults` (both maps) and returns JSON. Keys not in the defaults fail; nested maps
merge recursively, except `resources`, which is taken whole; a null or absent value keeps the default.
*/ -}}
{{- define "leasehold.lib.merge" -}}
{{- $out := dict -}}
{{- $given := .given | default dict -}}
{{- if not (kindIs "map" $given) -}}
{{- fail (printf "leasehold: %s must be a map of settings, got %s %v" .path (kindOf $given) $given) -}}
{{- end -}}
{{- range $key := keys $given | sortAlpha -}}
{{- if not (hasKey $.defaults $key) -}}
{{- fail (printf "leasehold: unknown key %s.%s (known keys: %s)" $.path $key (keys $.defaults | sortAlpha | join ", ")) -}}
{{- end -}}
{{- end -}}
{{- range $key, $default := .defaults -}}
{{- $value := index $given $key -}}
{{- $path := printf "%s.%s" $.path $key -}}
{{- if or (not (hasKey $given $key)) (kindIs "invalid" $value) -}}
{{- $_ := set $out $key $default -}}
{{- else if and (kindIs "map" $default) (ne $key "resources") -}}
{{- $_ := set $out $key (fromJson (include "leasehold.lib.merge" (dict "defaults" $default "given" $value "path" $path))) -}}
{{- else -}}
{{- include "leasehold.lib.checkType" (dict "default" $default "value" $value "path" $path) -}}
{{- $_ := set $out $key $value -}}
{{- end -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{- define "leasehold.lib.checkType" -}}
{{- $numeric := list "float64" "int64" "int" -}}
{{- $want := kindOf .default -}}
{{- $got := kindOf .value -}}
{{- if has $want $numeric -}}
{{- if not (has $got $numeric) -}}
{{- fail (printf "leasehold: %s must be a number, got %s %q" .path $got (toString .value)) -}}
{{- end -}}
{{- else if ne $want $got -}}
{{- fail (printf "leasehold: %s must be a %s, got %s %q" .path $want $got (toString .value)) -}}
{{- end -}}
{{- end -}}

{{- /*
The caller's dict completed: sidecar (merged settings), leaseName (default "<release>-leader"),
valuesPath (where the block lives in the caller's values, for error messages; default "leasehold").
Validated before it is returned. JSON.
*/ -}}
{{- define "leasehold.sidecar.settings" -}}
{{- if not .context -}}
{{- fail "leasehold: pass the root context: (dict \"sidecar\" .Values.leasehold \"context\" .)" -}}
{{- end -}}
{{- $path := .valuesPath | default "leasehold" -}}
{{- $defaults := fromYaml (include "leasehold.sidecar.defaults" .) -}}
{{- $sidecar := fromJson (include "leasehold.lib.merge" (dict "defaults" $defaults "given" .sidecar "path" $path)) -}}
{{- /* An empty tag (the leasehold chart's default) means this library's own appVersion. */ -}}
{{- if not $sidecar.image.tag -}}
{{- $_ := set $sidecar.image "tag" $defaults.image.tag -}}
{{- end -}}
{{- $leaseName := .leaseName | default (printf "%s-leader" .context.Release.Name | trunc 63 | trimSuffix "-") -}}
{{- $settings := dict "sidecar" $sidecar "leaseName" $leaseName "valuesPath" $path -}}
{{- include "leasehold.lib.validate" $settings -}}
{{- if and $sidecar.nativeSidecar (semverCompare "<1.29.0-0" .context.Capabilities.KubeVersion.Version) -}}
{{- fail (printf "leasehold: %s.nativeSidecar needs Kubernetes >= 1.29 (this cluster: %s); set %s.nativeSidecar=false to run the sidecar as a plain container" $path .context.Capabilities.KubeVersion.Version $path) -}}
{{- end -}}
{{- toJson $settings -}}
{{- end -}}

{{- /* The sidecar's bounds and enums, by path: written by sidecar/scripts/chart-settings.ts from
      sidecar/src/config-schema.ts (a test fails when they differ). */ -}}
{{- define "leasehold.lib.ranges" -}}
election.leaseDurationSeconds: {min: 1, max: 3600}
election.renewDeadlineSeconds: {min: 0.1, max: 3600}
election.retryPeriodSeconds: {min: 0.05, max: 600}
election.safetyMarginSeconds: {min: 0, max: 3600}
port: {min: 1, max: 65535}
probePort: {min: 1, max: 65535}
sessionlessValiditySeconds: {min: 0, max: 3600}
shards: {min: 0, max: 64}
resignPauseSeconds: {min: 0, max: 3600}
appUnhealthySeconds: {min: 1, max: 3600}
logLevel: {values: [trace, debug, info, warn, error, fatal]}
{{- end -}}

{{- define "leasehold.lib.validate" -}}
{{- $s := .sidecar -}}
{{- $e := $s.election -}}
{{- $p := .valuesPath -}}
{{- range $path, $range := fromYaml (include "leasehold.lib.ranges" .) -}}
{{- $value := $s -}}
{{- range $segment := splitList "." $path -}}{{- $value = get $value $segment -}}{{- end -}}
{{- if hasKey $range "values" -}}
{{- if not (has $value $range.values) -}}
{{- fail (printf "leasehold: %s.%s must be one of %s, got %q" $p $path (join ", " $range.values) (toString $value)) -}}
{{- end -}}
{{- else if or (lt (float64 $value) (float64 $range.min)) (gt (float64 $value) (float64 $range.max)) -}}
{{- fail (printf "leasehold: %s.%s must be %v to %v, got %v" $p $path $range.min $range.max $value) -}}
{{- end -}}
{{- end -}}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$" .leaseName) -}}
{{- fail (printf "leasehold: leaseName %q is not a valid Lease name (lower-case letters, digits, '-' and '.', at most 253)" .leaseName) -}}
{{- end -}}
{{- range $key := list "leaseDurationSeconds" "renewDeadlineSeconds" "retryPeriodSeconds" -}}
{{- if le (float64 (get $e $key)) 0.0 -}}
{{- fail (printf "leasehold: %s.election.%s must be greater than 0, got %v" $p $key (get $e $key)) -}}
{{- end -}}
{{- end -}}
{{- if not (gt (float64 $e.leaseDurationSeconds) (float64 $e.renewDeadlineSeconds)) -}}
{{- fail (printf "leasehold: %s.election.renewDeadlineSeconds (%v) must be less than leaseDurationSeconds (%v)" $p $e.renewDeadlineSeconds $e.leaseDurationSeconds) -}}
{{- end -}}
{{- if not (gt (float64 $e.renewDeadlineSeconds) (mulf 1.2 (float64 $e.retryPeriodSeconds))) -}}
{{- fail (printf "leasehold: %s.election.renewDeadlineSeconds (%v) must be greater than 1.2 x retryPeriodSeconds (%v)" $p $e.renewDeadlineSeconds $e.retryPeriodSeconds) -}}
{{- end -}}
{{- /* Same rule as the sidecar: renewals come at most once a wall second, so the leader's validity
      min(RD, LD - margin) must outlast 1.2 x max(RP, 1 s). */ -}}
{{- $validity := minf (float64 $e.renewDeadlineSeconds) (subf (float64 $e.leaseDurationSeconds) (float64 $e.safetyMarginSeconds)) -}}
{{- $renewEvery := maxf (float64 $e.retryPeriodSeconds) 1.0 -}}
{{- if not (gt $validity (mulf 1.2 $renewEvery)) -}}
{{- fail (printf "leasehold: the leader's validity min(%s.election.renewDeadlineSeconds, leaseDurationSeconds - safetyMarginSeconds) = %v s must exceed 1.2 x max(retryPeriodSeconds, 1 s) = %v s" $p $validity (mulf 1.2 $renewEvery)) -}}
{{- end -}}
{{- if eq (int $s.port) (int $s.probePort) -}}
{{- fail (printf "leasehold: %s.port and %s.probePort must differ (both %v)" $p $p $s.port) -}}
{{- end -}}
{{- end -}}
