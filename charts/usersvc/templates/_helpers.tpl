{{- define "usersvc.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "usersvc.fullname" -}}
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

{{- define "usersvc.selectorLabels" -}}
app.kubernetes.io/name: {{ include "usersvc.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "usersvc.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "usersvc.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "usersvc.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "usersvc.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "usersvc.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* embedded is true when no Neo4j host is configured. */}}
{{- define "usersvc.embedded" -}}
{{- if not .Values.proxy.host }}true{{ end }}
{{- end }}

{{/*
The OIDC client, from either shape Amundsen's values take: oidc.metadata
(client_id, client_secret) or, since Amundsen's chart turns every
oidc.configs entry into an environment variable, FLASK_OIDC_CLIENT_ID and
FLASK_OIDC_CLIENT_SECRET under oidc.configs. Two different values fail the
install rather than one silently winning.
*/}}
{{- define "usersvc.oidcSetting" -}}
{{- $configs := .root.Values.oidc.configs | default dict }}
{{- $meta := .root.Values.oidc.metadata | default dict }}
{{- $a := index $meta .meta | default "" | toString }}
{{- $b := index $configs .env | default "" | toString }}
{{- if and $a $b (ne $a $b) }}
{{- fail (printf "oidc.metadata.%s and oidc.configs.%s differ: set one of them" .meta .env) }}
{{- end }}
{{- coalesce $a $b "" }}
{{- end }}
{{- define "usersvc.oidcClientID" -}}
{{- include "usersvc.oidcSetting" (dict "root" . "meta" "client_id" "env" "FLASK_OIDC_CLIENT_ID") }}
{{- end }}
{{- define "usersvc.oidcClientSecret" -}}
{{- include "usersvc.oidcSetting" (dict "root" . "meta" "client_secret" "env" "FLASK_OIDC_CLIENT_SECRET") }}
{{- end }}

{{/* Secret values the chart itself stores (when no existingSecret is named). */}}
{{- define "usersvc.secretData" -}}
{{- $oidcSecret := include "usersvc.oidcClientSecret" . }}
{{- if and .Values.oidc.enabled (not .Values.oidc.existingSecret) $oidcSecret }}
FLASK_OIDC_CLIENT_SECRET: {{ $oidcSecret | b64enc | quote }}
{{- end }}
{{- if and .Values.okta.enabled (not .Values.okta.existingSecret) }}
{{- if .Values.okta.token }}
OKTA_CLIENT_TOKEN: {{ .Values.okta.token | b64enc | quote }}
{{- end }}
{{- if .Values.okta.privateKey }}
OKTA_CLIENT_PRIVATEKEY: {{ .Values.okta.privateKey | b64enc | quote }}
{{- end }}
{{- if .Values.okta.eventHook.secret }}
OKTA_EVENT_HOOK_SECRET: {{ .Values.okta.eventHook.secret | b64enc | quote }}
{{- end }}
{{- end }}
{{- if and .Values.scim.token (not .Values.scim.existingSecret) }}
SCIM_TOKEN: {{ .Values.scim.token | b64enc | quote }}
{{- end }}
{{- if and .Values.proxy.host (not .Values.proxy.existingSecret) .Values.proxy.password }}
CREDENTIALS_PROXY_PASSWORD: {{ .Values.proxy.password | b64enc | quote }}
{{- end }}
{{- end }}

{{/* secretEnv renders one env entry read from the chart's Secret or an existing one. */}}
{{- define "usersvc.secretEnv" -}}
- name: {{ .key }}
  valueFrom:
    secretKeyRef:
      name: {{ .secret }}
      key: {{ .key }}
      optional: {{ .optional }}
{{- end }}

{{/* usersvc.env: container env entries for secrets and extraEnv. */}}
{{- define "usersvc.env" -}}
{{- if .Values.oidc.enabled }}
{{- if .Values.oidc.existingSecret }}
{{- include "usersvc.secretEnv" (dict "key" "FLASK_OIDC_CLIENT_SECRET" "secret" .Values.oidc.existingSecret "optional" true) | nindent 0 }}
{{- else if include "usersvc.oidcClientSecret" . }}
{{- include "usersvc.secretEnv" (dict "key" "FLASK_OIDC_CLIENT_SECRET" "secret" (include "usersvc.fullname" $) "optional" false) | nindent 0 }}
{{- end }}
{{- end }}
{{- if .Values.okta.enabled }}
{{- if .Values.okta.existingSecret }}
{{- include "usersvc.secretEnv" (dict "key" "OKTA_CLIENT_TOKEN" "secret" .Values.okta.existingSecret "optional" true) | nindent 0 }}
{{- include "usersvc.secretEnv" (dict "key" "OKTA_CLIENT_PRIVATEKEY" "secret" .Values.okta.existingSecret "optional" true) | nindent 0 }}
{{- include "usersvc.secretEnv" (dict "key" "OKTA_EVENT_HOOK_SECRET" "secret" .Values.okta.existingSecret "optional" true) | nindent 0 }}
{{- else }}
{{- if .Values.okta.token }}
{{- include "usersvc.secretEnv" (dict "key" "OKTA_CLIENT_TOKEN" "secret" (include "usersvc.fullname" $) "optional" false) | nindent 0 }}
{{- end }}
{{- if .Values.okta.privateKey }}
{{- include "usersvc.secretEnv" (dict "key" "OKTA_CLIENT_PRIVATEKEY" "secret" (include "usersvc.fullname" $) "optional" false) | nindent 0 }}
{{- end }}
{{- if .Values.okta.eventHook.secret }}
{{- include "usersvc.secretEnv" (dict "key" "OKTA_EVENT_HOOK_SECRET" "secret" (include "usersvc.fullname" $) "optional" false) | nindent 0 }}
{{- end }}
{{- end }}
{{- end }}
{{- if .Values.scim.existingSecret }}
{{- include "usersvc.secretEnv" (dict "key" "SCIM_TOKEN" "secret" .Values.scim.existingSecret "optional" false) | nindent 0 }}
{{- else if .Values.scim.token }}
{{- include "usersvc.secretEnv" (dict "key" "SCIM_TOKEN" "secret" (include "usersvc.fullname" $) "optional" false) | nindent 0 }}
{{- end }}
{{- if .Values.proxy.host }}
{{- if .Values.proxy.existingSecret }}
{{- include "usersvc.secretEnv" (dict "key" "CREDENTIALS_PROXY_PASSWORD" "secret" .Values.proxy.existingSecret "optional" false) | nindent 0 }}
{{- else if .Values.proxy.password }}
{{- include "usersvc.secretEnv" (dict "key" "CREDENTIALS_PROXY_PASSWORD" "secret" (include "usersvc.fullname" $) "optional" false) | nindent 0 }}
{{- end }}
{{- end }}
{{- with .Values.extraEnv }}
{{- toYaml . | nindent 0 }}
{{- end }}
{{- end }}

{{/* The TCP port of upstream.metadataUrl: explicit, else the scheme's. */}}
{{- define "usersvc.upstreamPort" -}}
{{- $u := urlParse .Values.upstream.metadataUrl -}}
{{- $port := regexFind ":[0-9]+$" $u.host | trimPrefix ":" -}}
{{- if $port }}{{ $port }}{{ else if eq $u.scheme "https" }}443{{ else }}80{{ end -}}
{{- end }}

{{/* The Bolt port of proxy.host: the one in the URI, else proxy.port. */}}
{{- define "usersvc.neo4jPort" -}}
{{- $port := regexFind ":[0-9]+$" .Values.proxy.host | trimPrefix ":" -}}
{{- if $port }}{{ $port }}{{ else }}{{ .Values.proxy.port }}{{ end -}}
{{- end }}
