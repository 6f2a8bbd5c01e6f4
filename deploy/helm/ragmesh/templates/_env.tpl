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
- name: RAGMESH_SECRETS_DIR
  value: /var/run/secrets/ragmesh
- name: LITELLM_LOCAL_MODEL_COST_MAP
  value: "True"
{{- if eq $name "gateway" }}
{{- range $backend := list "embedder" "retriever" "generator" "ingest" }}
- name: RAGMESH_GATEWAY_{{ upper $backend }}_TARGET
  value: {{ include "ragmesh.grpcTarget" (dict "root" $root "component" $backend) | quote }}
{{- end }}
{{- if $root.Values.redis.deploy }}
- name: RAGMESH_GATEWAY_REDIS_URL
  value: {{ include "ragmesh.redisUrl" $root | quote }}
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

{{/* Secrets each service reads as files (pydantic-settings secrets_dir): projected from existing Secrets. */}}
{{- define "ragmesh.secretSources" -}}
{{- $root := .root -}}
{{- if eq .component "gateway" }}
- secret:
    name: {{ $root.Values.auth.existingSecret }}
    items:
      - key: {{ $root.Values.auth.apiKeysKey }}
        path: ragmesh_gateway_api_keys
{{- if not $root.Values.redis.deploy }}
- secret:
    name: {{ $root.Values.redis.external.existingSecret }}
    items:
      - key: {{ $root.Values.redis.external.urlKey }}
        path: ragmesh_gateway_redis_url
{{- end }}
{{- else if and (eq .component "retriever") (not $root.Values.qdrant.deploy) $root.Values.qdrant.external.existingSecret }}
- secret:
    name: {{ $root.Values.qdrant.external.existingSecret }}
    items:
      - key: {{ $root.Values.qdrant.external.apiKeyKey }}
        path: ragmesh_retriever_qdrant_api_key
{{- end }}
{{- end }}
