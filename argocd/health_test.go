package argocd

// Runs health.lua the way Argo CD's application controller does: the script is read from an
// argocd-cm ConfigMap by Argo's settings manager (as installed from examples/argocd-cm-health.yaml),
// and each TweetPipeline's health comes from gitops-engine's GetResourceHealth with Argo's Lua
// overrides (gopher-lua, Argo's sandbox: no standard libraries beyond what Argo opens). The cases
// follow Argo's own convention for resource_customizations: health_test.yaml + testdata/*.yaml.

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/argoproj/argo-cd/gitops-engine/v3/pkg/health"
	argolua "github.com/argoproj/argo-cd/v3/util/lua"
	"github.com/argoproj/argo-cd/v3/util/settings"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/yaml"
)

const (
	argoNamespace = "argocd"
	healthKey     = "resource.customizations.health.tweetpipe.io_TweetPipeline"
)

type healthCases struct {
	Tests []struct {
		InputPath    string `json:"inputPath"`
		HealthStatus struct {
			Status  health.HealthStatusCode `json:"status"`
			Message string                  `json:"message"`
		} `json:"healthStatus"`
	} `json:"tests"`
}

// argocdCM is the argocd-cm data that examples/argocd-cm-health.yaml patches in.
func argocdCM(t *testing.T) map[string]string {
	t.Helper()
	raw, err := os.ReadFile("../examples/argocd-cm-health.yaml")
	if err != nil {
		t.Fatalf("reading the argocd-cm patch: %v", err)
	}
	var patch struct {
		Data map[string]string `json:"data"`
	}
	if err := yaml.Unmarshal(raw, &patch); err != nil {
		t.Fatalf("parsing the argocd-cm patch: %v", err)
	}
	return patch.Data
}

// overrides reads the resource customizations through Argo CD's settings manager, from an
// argocd-cm holding data, exactly as the application controller reads them.
func overrides(t *testing.T, data map[string]string) argolua.ResourceHealthOverrides {
	t.Helper()
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name: "argocd-cm", Namespace: argoNamespace,
			Labels: map[string]string{"app.kubernetes.io/part-of": "argocd"},
		},
		Data: data,
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: "argocd-secret", Namespace: argoNamespace,
			Labels: map[string]string{"app.kubernetes.io/part-of": "argocd"},
		},
	}
	manager := settings.NewSettingsManager(context.Background(), fake.NewClientset(cm, secret), argoNamespace)
	resourceOverrides, err := manager.GetResourceOverrides()
	if err != nil {
		t.Fatalf("Argo CD's settings manager refused argocd-cm: %v", err)
	}
	if resourceOverrides["tweetpipe.io/TweetPipeline"].HealthLua == "" {
		t.Fatalf("argocd-cm has no health check for tweetpipe.io/TweetPipeline (keys: %v)", keys(resourceOverrides))
	}
	return argolua.ResourceHealthOverrides(resourceOverrides)
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestHealthCheckInArgoCDsRuntime(t *testing.T) {
	raw, err := os.ReadFile("health_test.yaml")
	if err != nil {
		t.Fatalf("reading health_test.yaml: %v", err)
	}
	var cases healthCases
	if err := yaml.Unmarshal(raw, &cases); err != nil {
		t.Fatalf("parsing health_test.yaml: %v", err)
	}
	if len(cases.Tests) == 0 {
		t.Fatal("health_test.yaml lists no cases")
	}
	healthOverrides := overrides(t, argocdCM(t))
	for _, tc := range cases.Tests {
		t.Run(filepath.Base(tc.InputPath), func(t *testing.T) {
			raw, err := os.ReadFile(tc.InputPath)
			if err != nil {
				t.Fatalf("reading %s: %v", tc.InputPath, err)
			}
			// Decoded as the controller's informers decode API objects: integers stay int64.
			jsonBytes, err := yaml.YAMLToJSON(raw)
			if err != nil {
				t.Fatalf("parsing %s: %v", tc.InputPath, err)
			}
			obj := &unstructured.Unstructured{}
			if err := obj.UnmarshalJSON(jsonBytes); err != nil {
				t.Fatalf("decoding %s: %v", tc.InputPath, err)
			}
			got, err := health.GetResourceHealth(obj, healthOverrides)
			if err != nil {
				t.Fatalf("health check failed: %v", err)
			}
			if got == nil {
				t.Fatal("Argo CD found no health check for the object")
			}
			if got.Status != tc.HealthStatus.Status || got.Message != tc.HealthStatus.Message {
				t.Errorf("got %s %q, want %s %q", got.Status, got.Message,
					tc.HealthStatus.Status, tc.HealthStatus.Message)
			}
		})
	}
}

// The ConfigMap patch users apply must carry health.lua unchanged (argocd/render-cm.sh writes it).
func TestArgoCDConfigMapPatchMatchesHealthLua(t *testing.T) {
	script, err := os.ReadFile("health.lua")
	if err != nil {
		t.Fatalf("reading health.lua: %v", err)
	}
	if got := argocdCM(t)[healthKey]; got != string(script) {
		t.Fatalf("examples/argocd-cm-health.yaml differs from argocd/health.lua: run argocd/render-cm.sh > examples/argocd-cm-health.yaml")
	}
}

// A script Argo CD cannot run must fail the test, not pass silently: proves the runtime is live.
func TestBrokenScriptIsAnError(t *testing.T) {
	healthOverrides := overrides(t, map[string]string{healthKey: "return hs.status.nope"})
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "tweetpipe.io/v1beta1", "kind": "TweetPipeline",
		"metadata": map[string]any{"name": "x", "namespace": "y"},
	}}
	if _, err := health.GetResourceHealth(obj, healthOverrides); err == nil {
		t.Fatal("a broken health script gave no error")
	}
}
