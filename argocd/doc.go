// Package argocd holds tweetpipe's Argo CD integration: health.lua, the health check Argo CD runs
// for TweetPipelines, tested here in Argo CD's own Lua runtime (health_test.go), and the module
// that dev/platform/argocd.sh builds Argo CD from.
package argocd
