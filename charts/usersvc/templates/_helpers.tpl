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
{{- range include "usersvc.directoryFiles" . | fromJsonArray }}
{{- if .inline }}
{{ .key }}: {{ .inline | b64enc | quote }}
{{- end }}
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
{{- range include "usersvc.directoryFiles" . | fromJsonArray }}
- name: {{ .env }}
  value: {{ printf "%s/%s" .dir .path | quote }}
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

{{/* The TCP port of ldap.url: explicit, else the scheme's (636 for ldaps, 389). */}}
{{- define "usersvc.ldapPort" -}}
{{- $u := urlParse .Values.ldap.url -}}
{{- $port := regexFind ":[0-9]+$" $u.host | trimPrefix ":" -}}
{{- if $port }}{{ $port }}{{ else if eq (lower $u.scheme) "ldaps" }}636{{ else }}389{{ end -}}
{{- end }}

{{/* The Bolt port of proxy.host: the one in the URI, else proxy.port. */}}
{{- define "usersvc.neo4jPort" -}}
{{- $port := regexFind ":[0-9]+$" .Values.proxy.host | trimPrefix ":" -}}
{{- if $port }}{{ $port }}{{ else }}{{ .Values.proxy.port }}{{ end -}}
{{- end }}

{{/*
usersvc.directory: the directory unknown users are resolved from, as
DIRECTORY renders it: the directory value, else okta when okta.enabled,
else empty (DIRECTORY unset: the service's default, off).
*/}}
{{- define "usersvc.directory" -}}
{{- .Values.directory | default (ternary "okta" "" (.Values.okta.enabled | default false)) -}}
{{- end }}

{{/*
usersvc.directorySettings: the settings every directory shares, as JSON:
resolution.requestTimeout and .negativeCacheTTL (OKTA_REQUEST_TIMEOUT,
NEGATIVE_CACHE_TTL) and sync.* (SYNC_*). With Okta as the directory, an
okta.requestTimeout, okta.negativeCacheTTL or okta.sync.* value wins when it
differs from its chart default ($defaults, the same as values.yaml's for both
blocks), so okta-only values files render as before.
*/}}
{{- define "usersvc.directorySettings" -}}
{{- $defaults := dict "requestTimeout" "2s" "negativeCacheTTL" "5m" "interval" "" "maxDeactivatePercent" 10 "teamGroupPattern" "" "teamOverwrite" false "leaseTTL" "10m" }}
{{- $out := merge (deepCopy (.Values.resolution | default dict)) (deepCopy (.Values.sync | default dict)) $defaults }}
{{- if eq (include "usersvc.directory" .) "okta" }}
{{- $okta := merge (pick .Values.okta "requestTimeout" "negativeCacheTTL") (deepCopy (.Values.okta.sync | default dict)) }}
{{- range $k, $d := $defaults }}
{{- if and (hasKey $okta $k) (ne (toString (get $okta $k)) (toString $d)) }}
{{- $_ := set $out $k (get $okta $k) }}
{{- end }}
{{- end }}
{{- end }}
{{- toJson $out }}
{{- end }}

{{/*
usersvc.checkDirectory fails the install where usersvc would exit 2 on the
directory's settings: one directory at a time, each with what it requires.
It renders nothing.
*/}}
{{- define "usersvc.checkDirectory" -}}
{{- $d := include "usersvc.directory" . }}
{{- if and .Values.okta.enabled (ne $d "okta") }}
{{- fail (printf "okta.enabled is true but directory is %s: one directory at a time (turn okta.enabled off, or set directory: okta)" $d) }}
{{- end }}
{{- if and (eq $d "okta") (not .Values.okta.enabled) }}
{{- fail "directory is okta: set okta.enabled (with okta.orgUrl and its credentials)" }}
{{- end }}
{{- if eq $d "entra" }}
{{- with .Values.entra }}
{{- if or (not .tenantId) (not .clientId) }}
{{- fail "directory is entra: set entra.tenantId and entra.clientId" }}
{{- end }}
{{- if not (or .clientSecret .existingSecret) }}
{{- fail "directory is entra: set entra.existingSecret (a Secret with key client-secret) or entra.clientSecret" }}
{{- end }}
{{- end }}
{{- end }}
{{- if eq $d "google" }}
{{- with .Values.google }}
{{- if not .adminSubject }}
{{- fail "directory is google: set google.adminSubject (the administrator the service account acts as)" }}
{{- end }}
{{- if not (or .credentialsJson .existingSecret) }}
{{- fail "directory is google: set google.existingSecret (a Secret with key credentials.json) or google.credentialsJson" }}
{{- end }}
{{- end }}
{{- end }}
{{- if eq $d "ldap" }}
{{- with .Values.ldap }}
{{- if or (not .url) (not .baseDn) }}
{{- fail "directory is ldap: set ldap.url and ldap.baseDn" }}
{{- end }}
{{- $password := or .bindPassword .existingSecret }}
{{- if and .bindDn (not $password) }}
{{- fail "ldap.bindDn is set: set ldap.existingSecret (a Secret with key bind-password) or ldap.bindPassword" }}
{{- end }}
{{- if and $password (not .bindDn) }}
{{- fail "ldap.bindPassword or ldap.existingSecret is set without ldap.bindDn (empty for an anonymous bind)" }}
{{- end }}
{{- $ldaps := hasPrefix "ldaps://" (lower .url) }}
{{- if and .startTLS $ldaps }}
{{- fail "ldap.startTLS cannot be used with an ldaps:// ldap.url: the connection is TLS already" }}
{{- end }}
{{- if and .caSecret (not (or .startTLS $ldaps)) }}
{{- fail "ldap.caSecret is set but the connection is not TLS: use an ldaps:// ldap.url or ldap.startTLS" }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
usersvc.directoryFiles: the chosen directory's secret files, as a JSON list.
Each is mounted from a Secret volume (read-only, mode 0440: root and the pod's
fsGroup) at dir/path, and env names the file. With existingSecret the file is
that Secret's key; otherwise the chart's Secret holds the inline value
(inline) under key.
*/}}
{{- define "usersvc.directoryFiles" -}}
{{- $fullname := include "usersvc.fullname" . }}
{{- $d := include "usersvc.directory" . }}
{{- $files := list }}
{{- if eq $d "entra" }}
{{- with .Values.entra }}
{{- $files = append $files (include "usersvc.directoryFile" (dict "volume" "entra-client-secret" "env" "ENTRA_CLIENT_SECRET_FILE" "dir" "/etc/usersvc/entra" "path" "client-secret" "existingSecret" .existingSecret "inline" .clientSecret "fullname" $fullname "key" "entra-client-secret") | fromJson) }}
{{- end }}
{{- end }}
{{- if eq $d "google" }}
{{- with .Values.google }}
{{- $files = append $files (include "usersvc.directoryFile" (dict "volume" "google-credentials" "env" "GOOGLE_CREDENTIALS_FILE" "dir" "/etc/usersvc/google" "path" "credentials.json" "existingSecret" .existingSecret "inline" .credentialsJson "fullname" $fullname "key" "google-credentials.json") | fromJson) }}
{{- end }}
{{- end }}
{{- if eq $d "ldap" }}
{{- with .Values.ldap }}
{{- if .bindDn }}
{{- $files = append $files (include "usersvc.directoryFile" (dict "volume" "ldap-bind-password" "env" "LDAP_BIND_PASSWORD_FILE" "dir" "/etc/usersvc/ldap" "path" "bind-password" "existingSecret" .existingSecret "inline" .bindPassword "fullname" $fullname "key" "ldap-bind-password") | fromJson) }}
{{- end }}
{{- if .caSecret }}
{{- $files = append $files (dict "volume" "ldap-ca" "env" "LDAP_CA_FILE" "dir" "/etc/usersvc/ldap-ca" "path" "ca.crt" "secret" .caSecret "key" "ca.crt" "inline" "") }}
{{- end }}
{{- end }}
{{- end }}
{{- toJson $files }}
{{- end }}

{{/* usersvc.directoryFile: one entry of usersvc.directoryFiles, from an existing Secret (key = path) or the chart's. */}}
{{- define "usersvc.directoryFile" -}}
{{- $f := pick . "volume" "env" "dir" "path" }}
{{- if .existingSecret }}
{{- $_ := set $f "secret" .existingSecret }}
{{- $_ := set $f "key" .path }}
{{- $_ := set $f "inline" "" }}
{{- else }}
{{- $_ := set $f "secret" .fullname }}
{{- $_ := set $f "key" .key }}
{{- $_ := set $f "inline" .inline }}
{{- end }}
{{- toJson $f }}
{{- end }}
