{{/* Chart name. */}}
{{- define "lanner.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Resource-name prefix: "lanner" for a release named lanner. */}}
{{- define "lanner.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Common labels; the Helm-only ones are left out of deploy/manifests/. */}}
{{- define "lanner.labels" -}}
app.kubernetes.io/name: {{ include "lanner.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: lanner
{{- if not .Values.global.plainManifests }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}
{{- end }}

{{/* Selector labels of one component: include with (list $ "agent"). */}}
{{- define "lanner.selectorLabels" -}}
{{- $top := index . 0 -}}
app.kubernetes.io/name: {{ include "lanner.name" $top }}
app.kubernetes.io/instance: {{ $top.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{/* Labels of one component's objects: common + component. */}}
{{- define "lanner.componentLabels" -}}
{{ include "lanner.labels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{/* Container image: repository[:tag][@digest]; include with an image values map and $. */}}
{{- define "lanner.image" -}}
{{- $img := index . 0 -}}
{{- $top := index . 1 -}}
{{- if $img.digest -}}
{{- printf "%s@%s" $img.repository $img.digest -}}
{{- else -}}
{{- printf "%s:%s" $img.repository (default $top.Chart.AppVersion $img.tag | toString) -}}
{{- end -}}
{{- end }}

{{- define "lanner.agent.name" -}}{{ include "lanner.fullname" . }}-agent{{- end }}
{{- define "lanner.triage.name" -}}{{ include "lanner.fullname" . }}-triage{{- end }}
{{- define "lanner.llm.name" -}}{{ include "lanner.fullname" . }}-llm{{- end }}
{{- define "lanner.rules.name" -}}{{ include "lanner.fullname" . }}-rules{{- end }}

{{/* Where the agents mount the rules ConfigMap (and load it from). */}}
{{- define "lanner.rules.mountPath" -}}/etc/lanner/rules{{- end }}

{{/* "true" when the rules ConfigMap holds at least one rule file: then the
agents load it (--rules); without one they run on the embedded pack. */}}
{{- define "lanner.rules.hasFiles" -}}
{{- if or .Values.rules.includeDefaultPack .Values.rules.example .Values.rules.extra }}true{{ end }}
{{- end }}

{{- define "lanner.triage.tokenSecretName" -}}
{{- if .Values.triage.token.existingSecret }}
{{- .Values.triage.token.existingSecret }}
{{- else }}
{{- default (printf "%s-triage-token" (include "lanner.fullname" .)) .Values.triage.token.secretName }}
{{- end }}
{{- end }}


{{/* Alert address the agents dial: the triage Service's cluster DNS name. */}}
{{- define "lanner.triage.address" -}}
{{- printf "tcp://%s.%s.svc:%v" (include "lanner.triage.name" .) .Release.Namespace .Values.triage.port }}
{{- end }}

{{/* LLM base URL for the worker ("" when there is none). */}}
{{- define "lanner.llm.url" -}}
{{- if .Values.triage.llm.url }}
{{- .Values.triage.llm.url }}
{{- else if .Values.llm.enabled }}
{{- printf "http://%s:8080/v1" (include "lanner.llm.name" .) }}
{{- end }}
{{- end }}

{{/*
The shared secret between agents and worker: the value given, else the one
already in the cluster (kept across upgrades), else a new random one. The
plain manifests carry a placeholder that must be replaced before use.
*/}}
{{- define "lanner.triage.token" -}}
{{- if .Values.triage.token.value }}
{{- .Values.triage.token.value }}
{{- else if .Values.global.plainManifests }}
{{- "REPLACE-ME-with-a-random-token" }}
{{- else }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "lanner.triage.tokenSecretName" .) }}
{{- if and $existing $existing.data (index $existing.data "token") }}
{{- index $existing.data "token" | b64dec }}
{{- else }}
{{- randAlphaNum 48 }}
{{- end }}
{{- end }}
{{- end }}

{{/* Namespaces the worker never acts on: the configured ones + its own. */}}
{{- define "lanner.triage.protectedNamespaces" -}}
{{- $ns := concat (list .Release.Namespace) .Values.triage.policy.protectedNamespaces | uniq }}
{{- toYaml $ns }}
{{- end }}

{{/* Peers allowed to reach a metrics port. */}}
{{- define "lanner.metricsPeers" -}}
{{- with .Values.networkPolicy.metricsFrom -}}
from:
{{ toYaml . | indent 2 }}
{{- end -}}
{{- end }}
