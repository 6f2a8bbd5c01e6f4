{{/* Environment of each service: the settings its config.py reads (RAGMESH_<SERVICE>_<SETTING>). */}}
{{- define "ragmesh.env" -}}
{{- $root := .root -}}
{{- $name := .component -}}
{{- $svc := .svc -}}
- name: RAGMESH_{{ upper $name }}_HOST
  value: "0.0.0.0"
- name: RAGMESH_{{ upper $name }}_PORT
  value: {{ $svc.port | quote }}
- name: HF_HUB_OFFLINE
  value: "1"
- name: LITELLM_LOCAL_MODEL_COST_MAP
  value: "True"
{{- if eq $name "gateway" }}
{{- range $backend := list "embedder" "retriever" "generator" "ingest" }}
- name: RAGMESH_GATEWAY_{{ upper $backend }}_TARGET
  value: {{ include "ragmesh.grpcTarget" (dict "root" $root "component" $backend) | quote }}
{{- end }}
- name: RAGMESH_GATEWAY_API_KEYS
  valueFrom:
    secretKeyRef:
      name: {{ $root.Values.auth.existingSecret }}
      key: {{ $root.Values.auth.apiKeysKey }}
{{- if $root.Values.redis.deploy }}
- name: RAGMESH_GATEWAY_REDIS_URL
  value: {{ include "ragmesh.redisUrl" $root | quote }}
{{- else }}
- name: RAGMESH_GATEWAY_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ $root.Values.redis.external.existingSecret }}
      key: {{ $root.Values.redis.external.urlKey }}
{{- end }}
{{- else if eq $name "embedder" }}
- name: RAGMESH_EMBEDDER_BACKEND
  value: {{ $root.Values.embedding.backend | quote }}
- name: RAGMESH_EMBEDDER_TEI_URL
  value: {{ include "ragmesh.modelServerUrl" (dict "root" $root "server" $root.Values.embedding.teiServer "url" $root.Values.embedding.teiUrl "suffix" "") | quote }}
{{- else if eq $name "retriever" }}
- name: RAGMESH_RETRIEVER_BACKEND
  value: qdrant
- name: RAGMESH_RETRIEVER_QDRANT_URL
  value: {{ include "ragmesh.qdrantUrl" $root | quote }}
- name: RAGMESH_RETRIEVER_COLLECTION
  value: {{ $root.Values.qdrant.collection | quote }}
- name: RAGMESH_RETRIEVER_DENSE_DIMENSION
  value: {{ $root.Values.embedding.dimension | quote }}
{{- if and (not $root.Values.qdrant.deploy) $root.Values.qdrant.external.existingSecret }}
- name: QDRANT_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $root.Values.qdrant.external.existingSecret }}
      key: {{ $root.Values.qdrant.external.apiKeyKey }}
{{- end }}
{{- else if eq $name "generator" }}
- name: RAGMESH_GENERATOR_MODEL
  value: {{ $root.Values.llm.model | quote }}
- name: RAGMESH_GENERATOR_API_BASE
  value: {{ include "ragmesh.modelServerUrl" (dict "root" $root "server" $root.Values.llm.server "url" $root.Values.llm.apiBase "suffix" "/v1") | quote }}
- name: RAGMESH_GENERATOR_FALLBACKS
  value: {{ $root.Values.llm.fallbacks | toJson | quote }}
- name: RAGMESH_GENERATOR_PROMPT_STYLE
  value: {{ $root.Values.llm.promptStyle | quote }}
- name: RAGMESH_GENERATOR_MAX_TOKENS
  value: {{ $root.Values.llm.maxTokens | quote }}
{{- else if eq $name "ingest" }}
- name: RAGMESH_INGEST_DATA_DIR
  value: /data
- name: RAGMESH_INGEST_EMBEDDER_TARGET
  value: {{ include "ragmesh.grpcTarget" (dict "root" $root "component" "embedder") | quote }}
- name: RAGMESH_INGEST_RETRIEVER_TARGET
  value: {{ include "ragmesh.grpcTarget" (dict "root" $root "component" "retriever") | quote }}
{{- end }}
{{- range $key, $value := $svc.env }}
- name: {{ $key }}
  value: {{ $value | quote }}
{{- end }}
{{- end }}
