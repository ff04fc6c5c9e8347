// Package httpxfer owns Gnutella's HTTP file transfer: the upload side that
// answers GET and HEAD for /get/<index>/<name> and /uri-res/N2R?urn:sha1:...
// on the servent's one listening port, the download client (Range requests,
// resume from a .part file, SHA-1 verification, several sources in parallel),
// the GIV line of the Push/GIV handshake, upload queueing as gtk-gnutella
// speaks it (PARQ, both sides, with the QUEUE callback line; parq*.go), and
// browse host (GET / as a stream of QueryHits or an HTML index, and the
// client that reads such a stream; browse*.go).
//
// It knows the servent only through two small interfaces: Library, which the
// uploader asks for shared files, and Dialer, which the downloader asks for a
// connection to a source (dialled directly, or the connection a firewalled
// servent opened to us with a GIV after a Push). It does not log; it returns
// errors wrapped with context.
//
// Everything a peer sends is hostile: request and response header blocks are
// bounded (MaxHeaderBytes, MaxHeaderLines), every read has a deadline, names
// from requests are never used to build a filesystem path (files are opened
// only through the Library's File.Path), and names for downloads are reduced
// to a single safe path element.
package httpxfer
