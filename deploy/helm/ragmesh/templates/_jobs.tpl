{{/* A scheduled job that calls the gateway with an admin key mounted from a Secret as a file (never an environment
variable); takes (dict "root" $ "component" NAME "schedule" CRON "deadline" SECONDS "command" LIST "env" LIST
"keySecret" NAME "volumes" LIST "mounts" LIST). Runs the gateway's image (the `ragmesh` CLI is in it). */}}
{{- define "ragmesh.cronJob" -}}
{{- $gateway := mustMergeOverwrite (deepCopy .root.Values.defaults) (deepCopy .root.Values.services.gateway) -}}
{{- $ctx := dict "root" .root "component" .component "svc" $gateway -}}
apiVersion: batch/v1
kind: CronJob
metadata:
  name: {{ include "ragmesh.componentName" $ctx }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "ragmesh.labels" $ctx | nindent 4 }}
  annotations:
    {{- include "ragmesh.checkovSkips" $ctx | nindent 4 }}
spec:
  schedule: {{ .schedule | quote }}
  concurrencyPolicy: Forbid
  successfulJobsHistoryLimit: 3
  failedJobsHistoryLimit: 3
  jobTemplate:
    spec:
      backoffLimit: 1
      activeDeadlineSeconds: {{ .deadline }}
      template:
        metadata:
          labels:
            {{- include "ragmesh.selectorLabels" $ctx | nindent 12 }}
        spec:
          restartPolicy: Never
          automountServiceAccountToken: false
          securityContext:
            {{- include "ragmesh.podSecurity" $ctx | nindent 12 }}
          {{- with .root.Values.image.pullSecrets }}
          imagePullSecrets:
            {{- range . }}
            - name: {{ . }}
            {{- end }}
          {{- end }}
          containers:
            - name: {{ .component }}
              image: {{ include "ragmesh.image" (dict "root" .root "component" "gateway" "svc" $gateway) | quote }}
              imagePullPolicy: {{ .root.Values.image.pullPolicy }}
              command: {{ toJson .command }}
              env:
                - name: RAGMESH_URL
                  value: {{ printf "http://%s:%v" (include "ragmesh.componentName" (dict "root" .root "component" "gateway")) $gateway.port | quote }}
                - name: RAGMESH_API_KEY_FILE
                  value: /secrets/key/api-key
                {{- with .env }}
                {{- toYaml . | nindent 16 }}
                {{- end }}
              resources:
                requests: {cpu: 50m, memory: 128Mi}
                limits: {cpu: 500m, memory: 256Mi}
              securityContext:
                {{- include "ragmesh.containerSecurity" $ctx | nindent 16 }}
              volumeMounts:
                - name: tmp
                  mountPath: /tmp
                - name: api-key
                  mountPath: /secrets/key
                  readOnly: true
                {{- with .mounts }}
                {{- toYaml . | nindent 16 }}
                {{- end }}
          volumes:
            - name: tmp
              emptyDir: {}
            - name: api-key
              secret:
                secretName: {{ .keySecret }}
                items:
                  - key: api-key
                    path: api-key
            {{- with .volumes }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
{{- end }}
