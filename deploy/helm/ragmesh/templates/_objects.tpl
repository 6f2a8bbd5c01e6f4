{{/* The objects every service gets; each takes (dict "root" $ "component" NAME "svc" MERGED-VALUES). */}}

{{- define "ragmesh.deployment" -}}
{{- $svc := .svc -}}
{{- $mtls := eq .root.Values.internalAuth.mode "mtls" -}}
{{- $probePort := ternary .root.Values.internalAuth.mtls.healthPort $svc.port $mtls -}}
{{- $secrets := include "ragmesh.secretSources" . -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "ragmesh.componentName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "ragmesh.labels" . | nindent 4 }}
  annotations:
    {{- include "ragmesh.checkovSkips" . | nindent 4 }}
    {{- if and (eq .component "generator") .root.Values.llm.existingSecret }}
    checkov.io/skip3: CKV_K8S_35=LiteLLM reads provider API keys from the environment only; they come from an existing Secret by reference, never from values
    {{- end }}
spec:
  {{- if not $svc.autoscaling.enabled }}
  replicas: {{ $svc.replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: 0
      maxSurge: 1
  selector:
    matchLabels:
      {{- include "ragmesh.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "ragmesh.selectorLabels" . | nindent 8 }}
      {{- with $svc.podAnnotations }}
      annotations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    spec:
      serviceAccountName: {{ include "ragmesh.componentName" . }}
      automountServiceAccountToken: false
      terminationGracePeriodSeconds: {{ $svc.terminationGracePeriodSeconds }}
      securityContext:
        {{- include "ragmesh.podSecurity" . | nindent 8 }}
      {{- with .root.Values.image.pullSecrets }}
      imagePullSecrets:
        {{- range . }}
        - name: {{ . }}
        {{- end }}
      {{- end }}
      topologySpreadConstraints:
        - maxSkew: {{ $svc.topologySpread.maxSkew }}
          topologyKey: kubernetes.io/hostname
          whenUnsatisfiable: {{ $svc.topologySpread.whenUnsatisfiable }}
          labelSelector:
            matchLabels:
              {{- include "ragmesh.selectorLabels" . | nindent 14 }}
      {{- with $svc.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $svc.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: {{ .component }}
          image: {{ include "ragmesh.image" . | quote }}
          imagePullPolicy: {{ .root.Values.image.pullPolicy }}
          ports:
            - name: {{ $svc.protocol }}
              containerPort: {{ $svc.port }}
              protocol: TCP
            - name: metrics
              containerPort: {{ .root.Values.observability.metricsPort }}
              protocol: TCP
          env:
            {{- include "ragmesh.env" . | nindent 12 }}
          {{- if and (eq .component "generator") .root.Values.llm.existingSecret }}
          envFrom:
            - secretRef:
                name: {{ .root.Values.llm.existingSecret }}
          {{- end }}
          {{- if eq $svc.protocol "grpc" }}
          startupProbe:
            grpc:
              port: {{ $probePort }}
            periodSeconds: {{ $svc.startupProbe.periodSeconds }}
            failureThreshold: {{ $svc.startupProbe.failureThreshold }}
          readinessProbe:
            grpc:
              port: {{ $probePort }}
            periodSeconds: 5
            failureThreshold: 2
          livenessProbe:
            grpc:
              port: {{ $probePort }}
            periodSeconds: 10
            failureThreshold: 3
          {{- else }}
          startupProbe:
            httpGet:
              path: /healthz
              port: {{ $svc.port }}
            periodSeconds: {{ $svc.startupProbe.periodSeconds }}
            failureThreshold: {{ $svc.startupProbe.failureThreshold }}
          readinessProbe:
            httpGet:
              path: /readyz
              port: {{ $svc.port }}
            periodSeconds: 5
            failureThreshold: 2
          livenessProbe:
            httpGet:
              path: /healthz
              port: {{ $svc.port }}
            periodSeconds: 10
            failureThreshold: 3
          {{- end }}
          lifecycle:
            preStop:
              # The pause lets endpoints and balancers drop the pod before SIGTERM starts the drain.
              # (exec, not the sleep handler: that is off by default on Kubernetes 1.29.)
              exec:
                command: ["sleep", "{{ $svc.preStopSeconds }}"]
          resources:
            {{- toYaml $svc.resources | nindent 12 }}
          securityContext:
            {{- include "ragmesh.containerSecurity" . | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            {{- if eq .component "ingest" }}
            - name: data
              mountPath: /data
            {{- end }}
            {{- if $secrets }}
            - name: secrets
              mountPath: /var/run/secrets/ragmesh
              readOnly: true
            {{- end }}
            {{- if $mtls }}
            - name: tls
              mountPath: /etc/ragmesh/tls
              readOnly: true
            {{- end }}
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: 1Gi
        {{- if eq .component "ingest" }}
        - name: data
          persistentVolumeClaim:
            claimName: {{ include "ragmesh.componentName" . }}-data
        {{- end }}
        {{- if $mtls }}
        - name: tls
          secret:
            secretName: {{ include "ragmesh.componentName" . }}-tls
            defaultMode: 0440
        {{- end }}
        {{- if $secrets }}
        - name: secrets
          projected:
            defaultMode: 0440
            sources:
              {{- $secrets | nindent 14 }}
        {{- end }}
{{- end }}

{{- define "ragmesh.service" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "ragmesh.componentName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "ragmesh.labels" . | nindent 4 }}
spec:
  type: ClusterIP
  selector:
    {{- include "ragmesh.selectorLabels" . | nindent 4 }}
  ports:
    - name: {{ .svc.protocol }}
      port: {{ .svc.port }}
      targetPort: {{ .svc.protocol }}
      {{- if eq .svc.protocol "grpc" }}
      appProtocol: grpc
      {{- end }}
    # Prometheus scrapes each pod behind this Service (the ServiceMonitor names this port).
    - name: metrics
      port: {{ .root.Values.observability.metricsPort }}
      targetPort: metrics
      appProtocol: http
{{- end }}

{{/* gRPC keeps one HTTP/2 connection per client: a ClusterIP would pin it to one replica. The headless
Service publishes every ready pod in DNS, and clients balance calls with round_robin (services/runtime/channels.py). */}}
{{- define "ragmesh.headlessService" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "ragmesh.componentName" . }}-headless
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "ragmesh.labels" . | nindent 4 }}
spec:
  clusterIP: None
  publishNotReadyAddresses: false
  selector:
    {{- include "ragmesh.selectorLabels" . | nindent 4 }}
  ports:
    - name: grpc
      port: {{ .svc.port }}
      targetPort: grpc
      appProtocol: grpc
{{- end }}

{{- define "ragmesh.hpa" -}}
{{- $scale := .svc.autoscaling -}}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "ragmesh.componentName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "ragmesh.labels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "ragmesh.componentName" . }}
  minReplicas: {{ $scale.minReplicas }}
  maxReplicas: {{ $scale.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $scale.cpu }}
    - type: Resource
      resource:
        name: memory
        target:
          type: Utilization
          averageUtilization: {{ $scale.memory }}
    {{- if $scale.inFlightTarget }}
    {{- $gauges := dict "gateway" "ragmesh_gateway_requests_in_flight" "generator" "ragmesh_generator_in_flight_generations" "embedder" "ragmesh_embedder_queued_texts" "ingest" "ragmesh_ingest_in_progress_documents" }}
    {{- if not (hasKey $gauges .component) }}
    {{- fail (printf "services.%s.autoscaling.inFlightTarget: the %s exports no in-flight gauge to scale on" .component .component) }}
    {{- end }}
    # Served by a metrics adapter (prometheus-adapter) from the pods' own gauge: a generator waiting on a model
    # provider is busy at low CPU.
    - type: Pods
      pods:
        metric:
          name: {{ get $gauges .component }}
        target:
          type: AverageValue
          averageValue: {{ $scale.inFlightTarget | quote }}
    {{- end }}
  behavior:
    scaleDown:
      stabilizationWindowSeconds: {{ $scale.scaleDownStabilizationSeconds }}
      policies:
        - type: Pods
          value: 1
          periodSeconds: 60
    scaleUp:
      stabilizationWindowSeconds: 0
      policies:
        - type: Percent
          value: 100
          periodSeconds: 30
{{- end }}

{{- define "ragmesh.pdb" -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "ragmesh.componentName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "ragmesh.labels" . | nindent 4 }}
spec:
  maxUnavailable: {{ .svc.pdb.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "ragmesh.selectorLabels" . | nindent 6 }}
{{- end }}

{{- define "ragmesh.serviceAccount" -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "ragmesh.componentName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "ragmesh.labels" . | nindent 4 }}
automountServiceAccountToken: false
{{- end }}

{{/* Who may call this service: the pods of the services in allowFrom (the gateway: the ingress controller). */}}
{{- define "ragmesh.networkPolicy" -}}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "ragmesh.componentName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "ragmesh.labels" . | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- include "ragmesh.selectorLabels" . | nindent 6 }}
  policyTypes: [Ingress]
  ingress:
    - ports:
        - port: {{ .svc.port }}
          protocol: TCP
      from:
        {{- if eq .component "gateway" }}
        - namespaceSelector:
            matchLabels:
              {{- toYaml .root.Values.networkPolicy.ingressNamespaceLabels | nindent 14 }}
        {{- end }}
        {{- if eq .component "gateway" }}
        {{- range $job := list "evaluation" "snapshots" }}
        {{- if (index $.root.Values $job).enabled }}
        # The scheduled {{ $job }} job's pods.
        - podSelector:
            matchLabels:
              {{- include "ragmesh.selectorLabels" (dict "root" $.root "component" $job) | nindent 14 }}
        {{- end }}
        {{- end }}
        {{- end }}
        {{- range .svc.allowFrom }}
        - podSelector:
            matchLabels:
              {{- include "ragmesh.selectorLabels" (dict "root" $.root "component" .) | nindent 14 }}
        {{- end }}
    # Prometheus, from its namespace, on the metrics port only.
    - ports:
        - port: {{ .root.Values.observability.metricsPort }}
          protocol: TCP
      from:
        - namespaceSelector:
            matchLabels:
              {{- toYaml .root.Values.observability.prometheusNamespaceLabels | nindent 14 }}
{{- end }}
