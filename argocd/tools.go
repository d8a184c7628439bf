//go:build tools

package argocd

// Argo CD's command package (every component in one binary), pinned so that `go mod tidy` keeps
// what dev/platform/argocd.sh builds.
import _ "github.com/argoproj/argo-cd/v3/cmd"
