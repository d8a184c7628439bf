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

{{/* TWEETPIPE_ALLOWED_API_HOSTS: allowedApiHosts, then three names per allowedApiServices entry. */}}
{{- define "tweetpipe-operator.allowedApiHosts" -}}
{{- $hosts := list -}}
{{- range .Values.allowedApiHosts -}}
{{- $hosts = append $hosts . -}}
{{- end -}}
{{- $domain := .Values.clusterDomain -}}
{{- range .Values.allowedApiServices -}}
{{- $port := "" -}}
{{- if .port -}}
{{- $port = printf ":%v" (int .port) -}}
{{- end -}}
{{- $name := printf "%s.%s" .name .namespace -}}
{{- $hosts = append $hosts (printf "%s%s" $name $port) -}}
{{- $hosts = append $hosts (printf "%s.svc%s" $name $port) -}}
{{- $hosts = append $hosts (printf "%s.svc.%s%s" $name $domain $port) -}}
{{- end -}}
{{- if not $hosts -}}
{{- fail "allowedApiHosts and allowedApiServices are both empty: no pipeline could run; list at least one host" -}}
{{- end -}}
{{- join "," $hosts -}}
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

{{/* A worker's default image: workers.<name>.image when pinned, else <workers.registry>/<name> at
the operator's own version (image.tag, else appVersion). Call with (list $ "extractor"). */}}
{{- define "tweetpipe-operator.workerImage" -}}
{{- $root := index . 0 -}}
{{- $name := index . 1 -}}
{{- $pinned := (index $root.Values.workers $name).image -}}
{{- if $pinned -}}
{{- $pinned -}}
{{- else -}}
{{- printf "%s/%s:%s" ($root.Values.workers.registry | trimSuffix "/") $name ($root.Values.image.tag | default $root.Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/* The namespaces watched, as a list: watchNamespaces plus watchNamespace, without duplicates;
empty: all namespaces. */}}
{{- define "tweetpipe-operator.watchNamespaces" -}}
{{- $all := .Values.watchNamespaces | default list -}}
{{- with .Values.watchNamespace -}}
{{- $all = append $all . -}}
{{- end -}}
{{- $all | uniq | toJson -}}
{{- end -}}
