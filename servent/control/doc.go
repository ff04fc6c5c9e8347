// Package control is the control API of a running servent: an HTTP+JSON
// server for the local operator (status, peers, shares, host cache,
// searches streamed as newline-delimited JSON, transfers and a download
// queue the daemon owns and resumes after a restart), /metrics in the
// Prometheus text format, and the Go client the CLI verbs use.
//
// Every request carries the token kept in the data directory (TokenFile,
// mode 0600) as "Authorization: Bearer TOKEN": the listener is on loopback,
// and the token keeps other users of the same host out. It sees the servent
// only through the servent's public API.
package control
