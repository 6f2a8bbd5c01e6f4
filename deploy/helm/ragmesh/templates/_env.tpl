{{/* Environment of each service: the settings its config.py reads (RAGMESH_<SERVICE>_<SETTING>). */}}
{{- define "ragmesh.env" -}}
{{- $root := .root -}}
{{- $name := .component -}}
{{- $svc := .svc -}}
- name: RAGMESH_{{ upper $name }}_HOST
  value: "0.0.0.0"
- name: RAGMESH_{{ upper $name }}_PORT
  value: {{ $svc.port | quote }}
{{- /* The process drains for what the pod is given after preStop, less 5 s to exit before the kubelet kills it. */}}
- name: RAGMESH_{{ upper $name }}_GRACE_SECONDS
  value: {{ max 1 (sub (sub (int $svc.terminationGracePeriodSeconds) (int $svc.preStopSeconds)) 5) | quote }}
{{- with $root.Values.resilience.breaker }}
- name: RAGMESH_{{ upper $name }}_BREAKER_FAIL_MAX
  value: {{ .failMax | quote }}
- name: RAGMESH_{{ upper $name }}_BREAKER_RESET_SECONDS
  value: {{ .resetSeconds | quote }}
- name: RAGMESH_{{ upper $name }}_BREAKER_SUCCESS_THRESHOLD
  value: {{ .successThreshold | quote }}
{{- end }}
{{- with $root.Values.observability }}
- name: RAGMESH_{{ upper $name }}_METRICS_PORT
  value: {{ .metricsPort | quote }}
- name: RAGMESH_{{ upper $name }}_LOG_LEVEL
  value: {{ $svc.logLevel | default .logLevel | quote }}
- name: RAGMESH_{{ upper $name }}_LOG_FORMAT
  value: {{ .logFormat | quote }}
- name: RAGMESH_{{ upper $name }}_TRACING
  value: {{ .tracing.enabled | quote }}
- name: RAGMESH_{{ upper $name }}_TRACE_SAMPLE_RATIO
  value: {{ .tracing.sampleRatio | quote }}
- name: RAGMESH_{{ upper $name }}_OTLP_ENDPOINT
  value: {{ .tracing.otlpEndpoint | quote }}
{{- if eq $name "gateway" }}
- name: RAGMESH_GATEWAY_DOCS_ENABLED
  value: {{ .docs | quote }}
- name: RAGMESH_GATEWAY_TRACE_QUESTION_TEXT
  value: {{ .tracing.questionText | quote }}
{{- end }}
{{- end }}
- name: HF_HUB_OFFLINE
  value: "1"
- name: RAGMESH_SECRETS_DIR
  value: /var/run/secrets/ragmesh
- name: LITELLM_LOCAL_MODEL_COST_MAP
  value: "True"
{{- $mode := $root.Values.internalAuth.mode }}
- name: RAGMESH_{{ upper $name }}_PEER_AUTH
  value: {{ $mode | quote }}
{{- if eq $mode "mtls" }}
- name: RAGMESH_{{ upper $name }}_HEALTH_PORT
  value: {{ $root.Values.internalAuth.mtls.healthPort | quote }}
{{- if $svc.allowFrom }}
- name: RAGMESH_{{ upper $name }}_PEER_NAMES
  value: {{ $svc.allowFrom | toJson | quote }}
{{- end }}
{{- end }}
{{- if eq $name "gateway" }}
- name: RAGMESH_GATEWAY_OPERATOR_TENANTS
  value: {{ $root.Values.auth.operatorTenants | toJson | quote }}
- name: RAGMESH_GATEWAY_KEY_CACHE_SECONDS
  value: {{ $root.Values.auth.keyCacheSeconds | quote }}
- name: RAGMESH_GATEWAY_MIGRATE_ON_START
  value: "true"
{{- with $root.Values.budgets }}
- name: RAGMESH_GATEWAY_BUDGET_USER_USD_PER_DAY
  value: {{ .userUsdPerDay | quote }}
- name: RAGMESH_GATEWAY_BUDGET_TENANT_USD_PER_DAY
  value: {{ .tenantUsdPerDay | quote }}
- name: RAGMESH_GATEWAY_BUDGET_GLOBAL_USD_PER_DAY
  value: {{ .globalUsdPerDay | quote }}
- name: RAGMESH_GATEWAY_PRICE_PER_1K_TOKENS_USD
  value: {{ .pricePer1kTokensUsd | quote }}
- name: RAGMESH_GATEWAY_BUDGET_TIGHT_MAX_TOKENS
  value: {{ .tightMaxTokens | quote }}
{{- if .alertWebhook.existingSecret }}
- name: RAGMESH_GATEWAY_BUDGET_ALERT_WEBHOOK_URL
  valueFrom:
    secretKeyRef:
      name: {{ .alertWebhook.existingSecret | quote }}
      key: {{ .alertWebhook.secretKey | quote }}
{{- else if .alertWebhook.url }}
- name: RAGMESH_GATEWAY_BUDGET_ALERT_WEBHOOK_URL
  value: {{ .alertWebhook.url | quote }}
{{- end }}
{{- end }}
- name: RAGMESH_GATEWAY_TIERS
  value: {{ $root.Values.tiers | toJson | quote }}
- name: RAGMESH_GATEWAY_ANSWER_CACHE_SECONDS
  value: {{ $root.Values.caches.answerSeconds | quote }}
- name: RAGMESH_GATEWAY_RETRIEVAL_CACHE_SECONDS
  value: {{ $root.Values.caches.retrievalSeconds | quote }}
- name: RAGMESH_GATEWAY_SEMANTIC_CACHE_THRESHOLD
  value: {{ $root.Values.caches.semanticThreshold | quote }}
- name: RAGMESH_GATEWAY_CORPUS_VERSION_SECONDS
  value: {{ $root.Values.caches.corpusVersionSeconds | quote }}
- name: RAGMESH_GATEWAY_BATCH_MAX_ITEMS
  value: {{ $root.Values.batch.maxItems | quote }}
- name: RAGMESH_GATEWAY_BATCH_CONCURRENCY
  value: {{ $root.Values.batch.concurrency | quote }}
- name: RAGMESH_GATEWAY_CONVERSATION_REWRITE
  value: {{ $root.Values.conversation.rewrite | quote }}
- name: RAGMESH_GATEWAY_CONVERSATION_MAX_TURNS
  value: {{ $root.Values.conversation.maxTurns | quote }}
- name: RAGMESH_GATEWAY_INTERACTION_HASHED_TENANTS
  value: {{ $root.Values.learning.hashedTenants | toJson | quote }}
- name: RAGMESH_GATEWAY_REVIEW_CONFIDENCE_BELOW
  value: {{ $root.Values.learning.reviewConfidenceBelow | quote }}
- name: RAGMESH_GATEWAY_DIAL_STRENGTH
  value: {{ $root.Values.learning.dialStrength | quote }}
- name: RAGMESH_GATEWAY_USER_VECTOR_WEIGHT
  value: {{ $root.Values.learning.userVectorWeight | quote }}
- name: RAGMESH_GATEWAY_RETRAIN_LEAST_LABELS
  value: {{ $root.Values.learning.retrainLeastLabels | quote }}
- name: RAGMESH_GATEWAY_RETRAIN_ABANDONED_AFTER_SECONDS
  value: {{ $root.Values.learning.retrainAbandonedAfterSeconds | quote }}
- name: RAGMESH_GATEWAY_CANARY_LEAST_ANSWERS
  value: {{ $root.Values.learning.canaryLeastAnswers | quote }}
- name: RAGMESH_GATEWAY_CANARY_MOST_EXTRA_NEGATIVE
  value: {{ $root.Values.learning.canaryMostExtraNegative | quote }}
- name: RAGMESH_GATEWAY_ARTIFACT_STORE_URL
  value: {{ $root.Values.learning.artifactStore.url | default "file:///tmp/ragmesh-artifacts" | quote }}
- name: RAGMESH_GATEWAY_ARTIFACT_S3_ENDPOINT_URL
  value: {{ $root.Values.learning.artifactStore.endpointUrl | quote }}
- name: RAGMESH_GATEWAY_ARTIFACT_S3_REGION
  value: {{ $root.Values.learning.artifactStore.region | quote }}
- name: RAGMESH_GATEWAY_ARTIFACT_VERSIONING
  value: {{ $root.Values.learning.artifactStore.versioning | quote }}
- name: RAGMESH_GATEWAY_MAX_IN_FLIGHT_REQUESTS
  value: {{ $root.Values.resilience.maxInFlightRequests | quote }}
- name: RAGMESH_GATEWAY_REDIS_TIMEOUT_SECONDS
  value: {{ $root.Values.resilience.redisTimeoutSeconds | quote }}
- name: RAGMESH_GATEWAY_DEFAULT_TIER
  value: {{ $root.Values.defaultTier | quote }}
{{- with $root.Values.rateLimits }}
- name: RAGMESH_GATEWAY_RATE_LIMITS
  value: {{ .caller | toJson | quote }}
- name: RAGMESH_GATEWAY_TENANT_RATE_LIMITS
  value: {{ .tenant | toJson | quote }}
- name: RAGMESH_GATEWAY_TENANT_RATE_LIMIT_OVERRIDES
  value: {{ .tenantOverrides | toJson | quote }}
- name: RAGMESH_GATEWAY_GLOBAL_RATE_LIMITS
  value: {{ .global | toJson | quote }}
- name: RAGMESH_GATEWAY_TENANT_MAX_IN_FLIGHT
  value: {{ .tenantMaxInFlight | quote }}
{{- end }}
{{- with $root.Values.auth.jwt }}
- name: RAGMESH_GATEWAY_JWT_ISSUER
  value: {{ .issuer | quote }}
- name: RAGMESH_GATEWAY_JWT_AUDIENCE
  value: {{ .audience | quote }}
- name: RAGMESH_GATEWAY_JWT_JWKS_URL
  value: {{ .jwksUrl | quote }}
- name: RAGMESH_GATEWAY_JWT_ALGORITHMS
  value: {{ .algorithms | toJson | quote }}
- name: RAGMESH_GATEWAY_JWT_LEEWAY_SECONDS
  value: {{ .leewaySeconds | quote }}
- name: RAGMESH_GATEWAY_JWT_TENANT_CLAIM
  value: {{ .claims.tenant | quote }}
- name: RAGMESH_GATEWAY_JWT_USER_CLAIM
  value: {{ .claims.user | quote }}
- name: RAGMESH_GATEWAY_JWT_GROUPS_CLAIM
  value: {{ .claims.groups | quote }}
- name: RAGMESH_GATEWAY_JWT_SCOPES_CLAIM
  value: {{ .claims.scopes | quote }}
- name: RAGMESH_GATEWAY_JWT_DEFAULT_SCOPES
  value: {{ .defaultScopes | toJson | quote }}
{{- end }}
{{- range $backend := list "embedder" "retriever" "generator" "ingest" }}
- name: RAGMESH_GATEWAY_{{ upper $backend }}_TARGET
  value: {{ include "ragmesh.grpcTarget" (dict "root" $root "component" $backend) | quote }}
{{- end }}
{{- if $root.Values.redis.deploy }}
- name: RAGMESH_GATEWAY_REDIS_URL
  value: {{ include "ragmesh.redisUrl" $root | quote }}
{{- end }}
{{- if $root.Values.cacheRedis.deploy }}
- name: RAGMESH_GATEWAY_CACHE_REDIS_URL
  value: {{ include "ragmesh.cacheRedisUrl" $root | quote }}
{{- end }}
{{- else if eq $name "embedder" }}
- name: RAGMESH_EMBEDDER_EMBEDDING_CACHE_SECONDS
  value: {{ $root.Values.caches.embeddingSeconds | quote }}
- name: RAGMESH_EMBEDDER_REDIS_TIMEOUT_SECONDS
  value: {{ $root.Values.resilience.redisTimeoutSeconds | quote }}
{{- if $root.Values.redis.deploy }}
- name: RAGMESH_EMBEDDER_REDIS_URL
  value: {{ include "ragmesh.redisUrl" $root | quote }}
{{- end }}
- name: RAGMESH_EMBEDDER_BACKEND
  value: {{ $root.Values.embedding.backend | quote }}
- name: RAGMESH_EMBEDDER_RUNTIME
  value: {{ $root.Values.embedding.runtime | quote }}
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
- name: RAGMESH_GENERATOR_ECONOMY_MODEL
  value: {{ $root.Values.llm.economyModel | quote }}
- name: RAGMESH_GENERATOR_ROLE_MODELS
  value: {{ $root.Values.llm.roleModels | toJson | quote }}
- name: RAGMESH_GENERATOR_ALLOWED_MODELS
  value: {{ $root.Values.llm.allowedModels | toJson | quote }}
- name: RAGMESH_GENERATOR_REASONING_MODELS
  value: {{ $root.Values.llm.reasoningModels | toJson | quote }}
- name: RAGMESH_GENERATOR_REASONING_EFFORT
  value: {{ $root.Values.llm.reasoningEffort | quote }}
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
- name: RAGMESH_INGEST_JOB_WORKERS
  value: {{ $root.Values.ingest.jobWorkers | quote }}
- name: RAGMESH_INGEST_INJECTION_CHECK
  value: {{ $root.Values.ingest.injectionCheck | quote }}
- name: RAGMESH_INGEST_EXCLUDED_LICENCES
  value: {{ $root.Values.ingest.excludedLicences | toJson | quote }}
- name: RAGMESH_INGEST_REQUIRED_USES
  value: {{ $root.Values.ingest.requiredUses | toJson | quote }}
- name: RAGMESH_INGEST_EXCLUDED_URL_PREFIXES
  value: {{ $root.Values.ingest.excludedUrlPrefixes | toJson | quote }}
- name: RAGMESH_INGEST_RECRAWL_HOURS
  value: {{ $root.Values.ingest.recrawlHours | quote }}
- name: RAGMESH_INGEST_REDIS_TIMEOUT_SECONDS
  value: {{ $root.Values.resilience.redisTimeoutSeconds | quote }}
{{- if $root.Values.redis.deploy }}
- name: RAGMESH_INGEST_REDIS_URL
  value: {{ include "ragmesh.redisUrl" $root | quote }}
{{- end }}
- name: RAGMESH_INGEST_OBJECT_STORE_URL
  value: {{ $root.Values.ingest.objectStore.url | quote }}
- name: RAGMESH_INGEST_S3_ENDPOINT_URL
  value: {{ $root.Values.ingest.objectStore.endpointUrl | quote }}
- name: RAGMESH_INGEST_S3_REGION
  value: {{ $root.Values.ingest.objectStore.region | quote }}
- name: RAGMESH_INGEST_OBJECT_VERSIONING
  value: {{ $root.Values.ingest.objectStore.versioning | quote }}
{{- end }}
{{- range $key, $value := $svc.env }}
- name: {{ $key }}
  value: {{ $value | quote }}
{{- end }}
{{- end }}

{{/* The main Redis's password (in-chart) or URL (external), as files for the service in .component. */}}
{{- define "ragmesh.redisSecret" -}}
{{- $root := .root -}}
{{- if and $root.Values.redis.deploy $root.Values.redis.auth.existingSecret }}
- secret:
    name: {{ $root.Values.redis.auth.existingSecret }}
    items:
      - key: {{ $root.Values.redis.auth.passwordKey }}
        path: ragmesh_{{ .component }}_redis_password
{{- else if not $root.Values.redis.deploy }}
- secret:
    name: {{ $root.Values.redis.external.existingSecret }}
    items:
      - key: {{ $root.Values.redis.external.urlKey }}
        path: ragmesh_{{ .component }}_redis_url
{{- end }}
{{- end }}

{{/* Secrets each service reads as files (pydantic-settings secrets_dir): projected from existing Secrets. */}}
{{- define "ragmesh.secretSources" -}}
{{- $root := .root -}}
{{- $auth := $root.Values.internalAuth -}}
{{- if and (eq $auth.mode "token") (has .component (list "gateway" "ingest")) }}
- secret:
    name: {{ $auth.existingSecret }}
    items:
      - key: {{ .component }}
        path: ragmesh_{{ .component }}_peer_token
{{- end }}
{{- if and (eq $auth.mode "token") (has .component (list "embedder" "retriever" "generator" "ingest")) }}
- secret:
    name: {{ $auth.existingSecret }}
    items:
      - key: peers.json
        path: ragmesh_{{ .component }}_peer_tokens
{{- end }}
{{- if eq .component "gateway" }}
- secret:
    name: {{ $root.Values.auth.existingSecret }}
    items:
      - key: {{ $root.Values.auth.apiKeysKey }}
        path: ragmesh_gateway_api_keys
- secret:
    name: {{ $root.Values.database.existingSecret }}
    items:
      - key: {{ $root.Values.database.urlKey }}
        path: ragmesh_gateway_database_url
{{- if and $root.Values.redis.deploy $root.Values.redis.auth.existingSecret }}
- secret:
    name: {{ $root.Values.redis.auth.existingSecret }}
    items:
      - key: {{ $root.Values.redis.auth.passwordKey }}
        path: ragmesh_gateway_redis_password
{{- if $root.Values.cacheRedis.deploy }}
      - key: {{ $root.Values.redis.auth.passwordKey }}
        path: ragmesh_gateway_cache_redis_password
{{- end }}
{{- end }}
{{- with $root.Values.auth.jwt.existingSecret }}
- secret:
    name: {{ . }}
    items:
      - key: {{ $root.Values.auth.jwt.hs256SecretKey }}
        path: ragmesh_gateway_jwt_hs256_secret
{{- end }}
{{- with $root.Values.learning.interactionSecret }}
- secret:
    name: {{ . }}
    items:
      - key: secret
        path: ragmesh_gateway_interaction_secret
{{- end }}
{{- with $root.Values.learning.artifactStore.existingSecret }}
- secret:
    name: {{ . }}
    items:
      - key: accessKeyId
        path: ragmesh_gateway_artifact_s3_access_key_id
      - key: secretAccessKey
        path: ragmesh_gateway_artifact_s3_secret_access_key
{{- end }}
{{- if not $root.Values.redis.deploy }}
- secret:
    name: {{ $root.Values.redis.external.existingSecret }}
    items:
      - key: {{ $root.Values.redis.external.urlKey }}
        path: ragmesh_gateway_redis_url
{{- end }}
{{- if and (not $root.Values.cacheRedis.deploy) $root.Values.cacheRedis.external.existingSecret }}
- secret:
    name: {{ $root.Values.cacheRedis.external.existingSecret }}
    items:
      - key: {{ $root.Values.cacheRedis.external.urlKey }}
        path: ragmesh_gateway_cache_redis_url
{{- end }}
{{- else if eq .component "embedder" }}
{{- include "ragmesh.redisSecret" . }}
{{- else if and (eq .component "retriever") (not $root.Values.qdrant.deploy) $root.Values.qdrant.external.existingSecret }}
- secret:
    name: {{ $root.Values.qdrant.external.existingSecret }}
    items:
      - key: {{ $root.Values.qdrant.external.apiKeyKey }}
        path: ragmesh_retriever_qdrant_api_key
{{- else if and (eq .component "retriever") $root.Values.qdrant.deploy $root.Values.qdrant.apiKey.existingSecret }}
- secret:
    name: {{ $root.Values.qdrant.apiKey.existingSecret }}
    items:
      - key: {{ $root.Values.qdrant.apiKey.key }}
        path: ragmesh_retriever_qdrant_api_key
{{- else if eq .component "ingest" }}
- secret:
    name: {{ $root.Values.database.existingSecret }}
    items:
      - key: {{ $root.Values.database.urlKey }}
        path: ragmesh_ingest_database_url
{{- include "ragmesh.redisSecret" . }}
{{- with $root.Values.ingest.objectStore.existingSecret }}
- secret:
    name: {{ . }}
    items:
      - key: accessKeyId
        path: ragmesh_ingest_s3_access_key_id
      - key: secretAccessKey
        path: ragmesh_ingest_s3_secret_access_key
{{- end }}
{{- end }}
{{- end }}
