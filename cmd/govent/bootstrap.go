package main

// shippedCaches is the bootstrap list `govent run` falls back on when its
// host cache is empty, no --peer is given and --no-bootstrap is not: the UDP
// host caches and the host cache URL gtk-gnutella 1.2.3 ships (src/core/uhc.c
// boot_hosts, src/core/ghc.c boot_url). Only runCommand passes it to the
// servent (as Config.FallbackCaches); tests replace it with a tripwire
// (TestMain) that fails the run if anything contacts it.
var shippedCaches = []string{
	"uhc:useast.gnutella.dyslexicfish.net:3558",
	"uhc:uswest.gnutella.dyslexicfish.net:3558",
	"uhc:uk.gnutella.dyslexicfish.net:3558",
	"uhc:au.gnutella.dyslexicfish.net:3558",
	"uhc:1.uhc.gtk-gnutella.nl:19104",
	"uhc:2.uhc.gtk-gnutella.nl:4876",
	"uhc:useast.gnutella.dyslexicfish.net:15321",
	"uhc:uswest.gnutella.dyslexicfish.net:18037",
	"uhc:uk.gnutella.dyslexicfish.net:41481",
	"http://ghc4.gtkgnutella.com/list4",
}
