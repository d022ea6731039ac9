{{/* The chart's name. */}}
{{- define "mcp-frontdoor.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The full name: release-chart, unless the release name already contains the chart name. */}}
{{- define "mcp-frontdoor.fullname" -}}
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

{{- define "mcp-frontdoor.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels that select the pods. */}}
{{- define "mcp-frontdoor.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mcp-frontdoor.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "mcp-frontdoor.labels" -}}
helm.sh/chart: {{ include "mcp-frontdoor.chart" . }}
{{ include "mcp-frontdoor.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: mcp-frontdoor
{{- end }}

{{- define "mcp-frontdoor.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "mcp-frontdoor.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret the sidecar's secret files come from. */}}
{{- define "mcp-frontdoor.secretName" -}}
{{- default (include "mcp-frontdoor.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{/* Whether the pod mounts a Secret: an existing one, or the chart's with at least one key. */}}
{{- define "mcp-frontdoor.hasSecret" -}}
{{- if or .Values.secrets.existingSecret .Values.secrets.data .Values.sessionKey.enabled }}true{{ end }}
{{- end }}

{{/* image: repository[:tag][@digest] from an image block, with a default tag. */}}
{{- define "mcp-frontdoor.image" -}}
{{- $img := index . 0 }}{{- $defaultTag := index . 1 }}
{{- if $img.digest }}
{{- printf "%s@%s" $img.repository $img.digest }}
{{- else }}
{{- printf "%s:%s" $img.repository (default $defaultTag $img.tag) }}
{{- end }}
{{- end }}

{{- define "mcp-frontdoor.sidecarImage" -}}
{{- include "mcp-frontdoor.image" (list .Values.image .Chart.AppVersion) }}
{{- end }}

{{- define "mcp-frontdoor.mcpServerImage" -}}
{{- if .Values.mcpServer.image.repository }}
{{- include "mcp-frontdoor.image" (list .Values.mcpServer.image "latest") }}
{{- else }}
{{- include "mcp-frontdoor.sidecarImage" . }}
{{- end }}
{{- end }}

{{/*
The sidecar's sidecar.yaml: .Values.config plus what the chart owns (listen, admin_listen) and its
defaults (upstream, session_key, watch_config).
*/}}
{{- define "mcp-frontdoor.config" -}}
{{- $cfg := deepCopy (default dict .Values.config) }}
{{- $_ := set $cfg "listen" (printf "0.0.0.0:%d" (int .Values.sidecar.port)) }}
{{- $_ := set $cfg "admin_listen" (printf "0.0.0.0:%d" (int .Values.sidecar.adminPort)) }}
{{- if not (or (hasKey $cfg "upstream") (hasKey $cfg "stdio")) }}
{{- $_ := set $cfg "upstream" (printf "http://127.0.0.1:%d" (int .Values.mcpServer.port)) }}
{{- end }}
{{- if and .Values.sessionKey.enabled (not (hasKey $cfg "session_key")) }}
{{- $_ := set $cfg "session_key" (dict "file" (printf "%s/%s" (trimSuffix "/" .Values.secrets.mountPath) .Values.sessionKey.key)) }}
{{- end }}
{{- if not (hasKey $cfg "watch_config") }}
{{- $_ := set $cfg "watch_config" (eq .Values.reloadOnConfigChange "watch") }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}

{{/* The chart's Secret data (base64), with the session key generated or kept. */}}
{{- define "mcp-frontdoor.secretData" -}}
{{- $data := dict }}
{{- range $k, $v := .Values.secrets.data }}
{{- $_ := set $data $k ($v | toString | b64enc) }}
{{- end }}
{{- if and .Values.sessionKey.enabled (not (hasKey $data .Values.sessionKey.key)) }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "mcp-frontdoor.fullname" .) }}
{{- $kept := "" }}
{{- if $existing }}{{ $kept = index (default dict $existing.data) .Values.sessionKey.key | default "" }}{{ end }}
{{- $_ := set $data .Values.sessionKey.key (default (randAlphaNum 64 | b64enc) $kept) }}
{{- end }}
{{- toYaml $data }}
{{- end }}

{{/* A container securityContext: the common one with overrides. */}}
{{- define "mcp-frontdoor.containerSecurityContext" -}}
{{- $root := index . 0 }}{{- $override := index . 1 }}
{{- toYaml (mustMergeOverwrite (deepCopy $root.Values.containerSecurityContext) (deepCopy (default dict $override))) }}
{{- end }}
