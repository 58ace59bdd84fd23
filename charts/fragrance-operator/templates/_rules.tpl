{{- define "fragrance.rules" -}}
- apiGroups: [fragrance.ai]
  resources: [fragrancereleases, tuningpolicies]
  verbs: [get, list, watch, patch, update]
- apiGroups: [fragrance.ai]
  resources: [fragrancereleases/status, tuningpolicies/status]
  verbs: [get, patch, update]
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch, create, patch, update, delete]
- apiGroups: [""]
  resources: [services, configmaps]
  verbs: [get, list, watch, create, patch, update, delete]
- apiGroups: ["", events.k8s.io]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [gateway.networking.k8s.io]
  resources: [httproutes]
  verbs: [get, list, watch, patch, update]
- apiGroups: [networking.k8s.io]
  resources: [ingresses]
  verbs: [get, list, watch, create, patch, update, delete]
{{- with .Values.notifications.secretNames }}
# Notification URLs: get, by name, only the Secrets listed in notifications.secretNames.
- apiGroups: [""]
  resources: [secrets]
  resourceNames: {{ toJson . }}
  verbs: [get]
{{- end }}
{{- end -}}
