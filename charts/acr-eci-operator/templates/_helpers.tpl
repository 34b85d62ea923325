{{/* Chart name, truncated to the 63 characters of a label value. */}}
{{- define "acr-eci-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: the release name, prefixed with the chart name unless it already contains it. */}}
{{- define "acr-eci-operator.fullname" -}}
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

{{- define "acr-eci-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "acr-eci-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "acr-eci-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "acr-eci-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "acr-eci-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "acr-eci-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* True ("true") when more than one replica runs: kopf peering instead of --standalone. */}}
{{- define "acr-eci-operator.peering" -}}
{{- if gt (int .Values.replicas) 1 }}true{{ end }}
{{- end }}

{{- define "acr-eci-operator.peeringName" -}}
{{- default (include "acr-eci-operator.fullname" .) .Values.peering.name }}
{{- end }}

{{/* True ("true") when the chart creates the credentials Secret from inline values. */}}
{{- define "acr-eci-operator.createSecret" -}}
{{- $c := .Values.credentials }}
{{- if and (ne $c.source "rrsa") (or $c.accessKeyId $c.accessKeySecret) }}
{{- if not (and $c.accessKeyId $c.accessKeySecret) }}
{{- fail "credentials.accessKeyId and credentials.accessKeySecret must be given together" }}
{{- end }}
{{- if $c.existingSecret }}
{{- fail "give either credentials.existingSecret or credentials.accessKeyId/accessKeySecret, not both" }}
{{- end }}
{{- true }}
{{- end }}
{{- end }}

{{/*
RRSA: "" (credentials from the Secret), "webhook" (ACK's ack-pod-identity-webhook injects the token and
the variables; the chart annotates the ServiceAccount with the role name) or "chart" (the chart mounts a
projected service-account token and sets the variables itself).
*/}}
{{- define "acr-eci-operator.rrsa" -}}
{{- $c := .Values.credentials }}
{{- if eq $c.source "rrsa" }}
{{- $r := $c.rrsa }}
{{- if and $r.roleName (or $r.roleArn $r.oidcProviderArn) }}
{{- fail "give credentials.rrsa.roleName (ACK's pod-identity webhook injects the rest) or credentials.rrsa.roleArn and credentials.rrsa.oidcProviderArn (the chart mounts the token), not both" }}
{{- end }}
{{- if $r.roleName }}
{{- if not .Values.serviceAccount.create }}
{{- fail "credentials.rrsa.roleName annotates the chart's ServiceAccount: with serviceAccount.create=false, annotate your own ServiceAccount and use credentials.rrsa.roleArn and oidcProviderArn, or let the webhook read your annotation" }}
{{- end }}
{{- print "webhook" }}
{{- else if and $r.roleArn $r.oidcProviderArn }}
{{- print "chart" }}
{{- else }}
{{- fail "credentials.source=rrsa needs credentials.rrsa.roleName (with ACK's ack-pod-identity-webhook) or both credentials.rrsa.roleArn and credentials.rrsa.oidcProviderArn" }}
{{- end }}
{{- if or $c.accessKeyId $c.accessKeySecret $c.existingSecret $c.roleArn }}
{{- fail "credentials.source=rrsa uses no Secret: drop credentials.existingSecret, accessKeyId, accessKeySecret and roleArn (the role is credentials.rrsa.*)" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "acr-eci-operator.credentialsDir" -}}
/etc/acr-eci-operator/credentials
{{- end }}

{{/* Where ACK's webhook mounts the RRSA token too. */}}
{{- define "acr-eci-operator.rrsaTokenDir" -}}
/var/run/secrets/ack.alibabacloud.com/rrsa-tokens
{{- end }}

{{- define "acr-eci-operator.secretName" -}}
{{- default (printf "%s-credentials" (include "acr-eci-operator.fullname" .)) .Values.credentials.existingSecret }}
{{- end }}

{{/*
The operator's permissions on its own resource and on what it reads and writes per namespace.
Used by the ClusterRole (all namespaces) or by the Role in each watched namespace. Exactly what is
used, proven on a real apiserver by tests/rbac: kopf watches the resource and patches its
annotations and finalizer (get/list/watch/patch); the reconciler reads the resource (get), merge-
patches the status subresource, reads one named Secret at a time, and creates core v1 Events.
*/}}
{{- define "acr-eci-operator.namespacedRules" -}}
- apiGroups: [eci.acr-operator.dev]
  resources: [acrcontainergroups]
  verbs: [get, list, watch, patch]
- apiGroups: [eci.acr-operator.dev]
  resources: [acrcontainergroups/status]
  verbs: [patch]
# Secrets and ConfigMaps the resources refer to (registry passwords, env values, config files): read by
# name, and watched so a change reaches ECI at once. With watchSecrets: false, Secrets are read by name
# only (no list, no watch) and read again at each resync.
- apiGroups: [""]
  resources: [secrets]
  verbs: [{{ if .Values.watchSecrets }}get, list, watch{{ else }}get{{ end }}]
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- end }}
