{{/* The chart name, or nameOverride. */}}
{{- define "switchboard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release-qualified name every object is prefixed with. */}}
{{- define "switchboard.fullname" -}}
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

{{- define "switchboard.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "switchboard.labels" -}}
helm.sh/chart: {{ include "switchboard.chart" . }}
{{ include "switchboard.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "switchboard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "switchboard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The Secret holding the SWITCHBOARD_* secrets: the operator's, or the chart's. */}}
{{- define "switchboard.secretName" -}}
{{- default (include "switchboard.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{/* Where the worker's heartbeat file lives: on the /tmp emptyDir. */}}
{{- define "switchboard.workerHeartbeatFile" -}}
/tmp/switchboard-worker.heartbeat
{{- end }}

{{- define "switchboard.image" -}}
{{- printf "%s:%s" .Values.image.repository .Values.image.tag }}
{{- end }}

{{/*
The chart-made Secret's data (used by the Secret and by the migration hook's copy).
Fails when a required value is missing, so an install never starts pods that would
invent their own keys (each pod would sign tokens with a different key). Call with
(dict "root" $ "migration" true) for the hook's copy: only that copy holds the table
owner's URL, so the long-lived Secret the app's pods read never does.
*/}}
{{- define "switchboard.secretData" -}}
{{- $s := .root.Values.secrets -}}
SWITCHBOARD_DATABASE_URL: {{ required "secrets.databaseUrl is required unless secrets.existingSecret is set" $s.databaseUrl | b64enc | quote }}
{{- if .migration }}
SWITCHBOARD_MIGRATION_DATABASE_URL: {{ required "secrets.migrationDatabaseUrl is required unless secrets.existingSecret is set" $s.migrationDatabaseUrl | b64enc | quote }}
{{- else }}
{{- $_ := required "secrets.migrationDatabaseUrl is required unless secrets.existingSecret is set" $s.migrationDatabaseUrl }}
{{- end }}
SWITCHBOARD_SECRET_KEY: {{ required "secrets.secretKey is required unless secrets.existingSecret is set" $s.secretKey | b64enc | quote }}
SWITCHBOARD_JWT_PRIVATE_KEY: {{ required "secrets.jwtPrivateKey is required unless secrets.existingSecret is set" $s.jwtPrivateKey | b64enc | quote }}
{{- with $s.stripeApiKey }}
SWITCHBOARD_STRIPE_API_KEY: {{ . | b64enc | quote }}
{{- end }}
{{- with $s.stripeWebhookSecret }}
SWITCHBOARD_STRIPE_WEBHOOK_SECRET: {{ . | b64enc | quote }}
{{- end }}
{{- with $s.metricsToken }}
SWITCHBOARD_METRICS_TOKEN: {{ . | b64enc | quote }}
{{- end }}
{{- end }}

{{/* Restart pods when the ConfigMap or the chart-made Secret changes. */}}
{{- define "switchboard.checksums" -}}
checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
checksum/secret: {{ include (print $.Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end }}

{{/*
Environment of the app's own processes (API, worker, CronJobs): non-secret settings from
the ConfigMap, the app role's URL and the keys from the Secret. Never the owner's URL.
*/}}
{{- define "switchboard.appEnv" -}}
- name: SWITCHBOARD_INSTANCE_PATH
  value: {{ .Values.instancePath | quote }}
- name: SWITCHBOARD_DATABASE_URL
  valueFrom:
    secretKeyRef: {name: {{ include "switchboard.secretName" . }}, key: SWITCHBOARD_DATABASE_URL}
- name: SWITCHBOARD_SECRET_KEY
  valueFrom:
    secretKeyRef: {name: {{ include "switchboard.secretName" . }}, key: SWITCHBOARD_SECRET_KEY}
- name: SWITCHBOARD_JWT_PRIVATE_KEY
  valueFrom:
    secretKeyRef: {name: {{ include "switchboard.secretName" . }}, key: SWITCHBOARD_JWT_PRIVATE_KEY}
- name: SWITCHBOARD_STRIPE_API_KEY
  valueFrom:
    secretKeyRef: {name: {{ include "switchboard.secretName" . }}, key: SWITCHBOARD_STRIPE_API_KEY, optional: true}
- name: SWITCHBOARD_STRIPE_WEBHOOK_SECRET
  valueFrom:
    secretKeyRef: {name: {{ include "switchboard.secretName" . }}, key: SWITCHBOARD_STRIPE_WEBHOOK_SECRET, optional: true}
- name: SWITCHBOARD_METRICS_TOKEN
  valueFrom:
    secretKeyRef: {name: {{ include "switchboard.secretName" . }}, key: SWITCHBOARD_METRICS_TOKEN, optional: true}
{{- end }}

{{/* Pod-level settings shared by every workload. */}}
{{- define "switchboard.podSpecCommon" -}}
automountServiceAccountToken: false
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
volumes:
  - name: tmp
    emptyDir: {}
  - name: instance
    emptyDir: {}
{{- end }}

{{/* Container-level settings shared by every container. */}}
{{- define "switchboard.containerCommon" -}}
image: {{ include "switchboard.image" . }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
securityContext:
  {{- toYaml .Values.containerSecurityContext | nindent 2 }}
volumeMounts:
  - name: tmp
    mountPath: /tmp
  - name: instance
    mountPath: {{ .Values.instancePath }}
{{- end }}
