{{- define "tweetpipe-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "tweetpipe-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "tweetpipe-operator.labels" -}}
{{ include "tweetpipe-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: tweetpipe
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "tweetpipe-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "tweetpipe-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Admission webhook: Service, configuration, CA Secret and cert-manager objects. */}}
{{- define "tweetpipe-operator.webhookService" -}}
{{- printf "%s-webhook" (include "tweetpipe-operator.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "tweetpipe-operator.webhookConfiguration" -}}
{{- include "tweetpipe-operator.fullname" . -}}
{{- end -}}

{{- define "tweetpipe-operator.webhookCaSecret" -}}
{{- printf "%s-webhook-ca" (include "tweetpipe-operator.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "tweetpipe-operator.webhookTlsSecret" -}}
{{- printf "%s-webhook-tls" (include "tweetpipe-operator.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
