{{/* Canonical names and labels (the shape of qdrant/qdrant-helm's _helpers.tpl). */}}

{{- define "ragmesh.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "ragmesh.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "ragmesh.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object; call with (dict "root" $ "component" "embedder"). */}}
{{- define "ragmesh.labels" -}}
helm.sh/chart: {{ include "ragmesh.chart" .root }}
{{ include "ragmesh.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: ragmesh
{{- end }}

{{- define "ragmesh.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ragmesh.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Object name of one component. */}}
{{- define "ragmesh.componentName" -}}
{{- printf "%s-%s" (include "ragmesh.fullname" .root) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* A gRPC target that resolves every ready replica (headless Service) for client-side round robin. */}}
{{- define "ragmesh.grpcTarget" -}}
{{- $svc := index .root.Values.services .component -}}
dns:///{{ include "ragmesh.componentName" . }}-headless.{{ .root.Release.Namespace }}.svc.cluster.local:{{ $svc.port }}
{{- end }}

{{/* The in-chart Redis URL; its password reaches the gateway as a file (redis_password). */}}
{{- define "ragmesh.redisUrl" -}}
redis://{{ include "ragmesh.componentName" (dict "root" . "component" "redis") }}:6379/0
{{- end }}

{{/* The in-chart Redis of the caches (same password). */}}
{{- define "ragmesh.cacheRedisUrl" -}}
redis://{{ include "ragmesh.componentName" (dict "root" . "component" "cache-redis") }}:6379/0
{{- end }}

{{- define "ragmesh.qdrantUrl" -}}
{{- if .Values.qdrant.deploy -}}
http://{{ include "ragmesh.componentName" (dict "root" . "component" "qdrant") }}:6333
{{- else -}}
{{ .Values.qdrant.external.url }}
{{- end }}
{{- end }}

{{/* The non-root, read-only security context every container runs with. */}}
{{- define "ragmesh.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "ragmesh.podSecurity" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* The URL of an in-chart model server by name, or the URL given. */}}
{{- define "ragmesh.modelServerUrl" -}}
{{- if .server -}}
{{- $spec := index .root.Values.modelServers .server | required (printf "modelServers.%s is not defined" .server) -}}
http://{{ include "ragmesh.componentName" (dict "root" .root "component" .server) }}:{{ $spec.port }}{{ .suffix }}
{{- else -}}
{{ .url }}
{{- end }}
{{- end }}

{{/* A ragmesh image: by digest when image.digests names one for the service, else by the release tag. */}}
{{- define "ragmesh.image" -}}
{{- $digest := index (.root.Values.image.digests | default dict) .component | default "" -}}
{{- $repository := printf "%s/%s" .root.Values.image.registry .svc.repository -}}
{{- if $digest -}}
{{ $repository }}@{{ $digest }}
{{- else -}}
{{ $repository }}:{{ .root.Values.image.tag | default .root.Chart.AppVersion }}
{{- end }}
{{- end }}

{{/* Checks skipped on purpose, each with its reason (read by checkov; see README's chart section). */}}
{{- define "ragmesh.checkovSkips" -}}
checkov.io/skip1: CKV_K8S_43=Images are pinned by release tag; set image.digests (ragmesh images) or pin model-server images by digest where the registry allows it
checkov.io/skip2: CKV_K8S_15=Tags are immutable releases and digests are supported, so IfNotPresent pulls the same bytes as Always without a registry round trip on every start
{{- end }}
