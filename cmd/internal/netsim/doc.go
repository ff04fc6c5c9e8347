// Package netsim is govent netsim: a network of real servents (this
// build's servent package, one servent.Servent per node, in one process)
// run through a timeline of the p2pmodel churn and workload models, and
// measured from what the servents did, with p2pnode and p2pstats.
//
// It owns the run: the bootstrap node and the order in which servents
// join (Simulate), the ultrapeer overlay each topology plans (overlay),
// the network they run on (an in-memory one from servent/memnet in
// virtual time, or loopback TCP, each servent on its own address), and
// the child process that gives a virtual run the testing/synctest bubble
// it needs (RunVirtual, RunChild). It uses only the servent's public API.
//
// What a run does not model: link latency and bandwidth (memnet delivers
// at once, so a virtual time to first hit is the servents' own waits, such
// as dynamic querying's steps); file sizes (a share holds a few bytes per
// file, so that a thousand libraries hash at once); link compression (off:
// compress/flate keeps about 800 KiB per compressing link). Only the
// timeline is reproducible from a seed: GUIDs and goroutine scheduling
// differ from run to run.
package netsim
