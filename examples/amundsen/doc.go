// Package amundsen holds the hook-mode example for Amundsen's metadata
// service (usersvc_user_detail.py, a USER_DETAIL_METHOD that asks usersvc)
// and its test; the pass-through demo's stand-in is in standin/.
package amundsen
