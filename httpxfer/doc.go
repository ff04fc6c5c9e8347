// Package httpxfer owns Gnutella's HTTP file transfer: the upload side that
// answers GET and HEAD for /get/<index>/<name> and /uri-res/N2R?urn:sha1:...
// on the servent's one listening port, and serves THEX trees
// (/uri-res/N2X, announced in X-Thex-URI) and browse host (GET / as a
// stream of QueryHits or an HTML index; browse*.go), within per-client
// session and upload limits (sessions.go, upload_limits.go); the download
// client (Range requests, resume from a .part file, several sources in
// parallel, ranked by what they deliver, with stall detection and an
// endgame; verification by SHA-1 and, where a tree is had, THEX segment by
// segment as the bytes arrive); the download mesh (mesh.go, altloc.go,
// altdl.go: X-Alt and X-NAlt read and sent, X-Falt read, sources learnt
// from them); TLS to sources and the TLS cache of hosts known to take it
// (tlsdial.go, tlspersist.go); the GIV line of the Push/GIV handshake;
// upload queueing as gtk-gnutella speaks it (PARQ, both sides, with the
// QUEUE callback line; parq*.go); and the client that reads a browse host
// stream. Tiger and THEX themselves are httpxfer/thex's; the state-file
// writer and reader are httpxfer/atomicfile's and httpxfer/smallfile's.
//
// It knows the servent only through three small interfaces: Library,
// which the uploader asks for shared files, Browser, which lists them for
// browse host, and Dialer, which the downloader asks for a connection to
// a source (dialled directly, or the connection a firewalled servent
// opened to us with a GIV after a Push). It does not log; it returns
// errors wrapped with context.
//
// Everything a peer sends is hostile: request and response header blocks are
// bounded (MaxHeaderBytes, MaxHeaderLines), every read has a deadline, names
// from requests are never used to build a filesystem path (files are opened
// only through the Library's File.Path), and names for downloads are reduced
// to a single safe path element.
package httpxfer
