{{- define "loupe.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "loupe.labels" -}}
app.kubernetes.io/part-of: loupe
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}

{{- define "loupe.natsUrl" -}}
nats://loupe-nats.{{ .Release.Namespace }}.svc:4222
{{- end -}}
