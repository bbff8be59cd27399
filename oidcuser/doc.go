// Package oidcuser holds the directories (Okta, file), the resolver and the syncer.
package oidcuser
