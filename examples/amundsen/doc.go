// Package amundsen holds the hook-mode example for Amundsen's metadata
// service (usersvc_user_detail.py, a USER_DETAIL_METHOD that asks usersvc)
// and its test; the pass-through demo (make run-passthrough: usersvc in
// front of Amundsen's real metadata service on a real Neo4j) is in
// passthrough/.
package amundsen
