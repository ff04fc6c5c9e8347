// Package capture reads packet captures of Gnutella traffic and turns them
// back into what the servents said to each other.
//
// It owns everything that touches gopacket, so that package wire (and the
// servent built on it) never depends on it:
//
//   - reading classic pcap and pcapng files with the pure-Go pcapgo readers
//     (no cgo), decoding Ethernet, Linux SLL, BSD loopback and raw IP link
//     layers down to TCP, and reassembling every TCP connection with
//     gopacket/reassembly (ReadFile, Read);
//   - splitting each direction of a connection into what it carries: Gnutella
//     0.6 or 0.4 handshake blocks followed by a descriptor stream (inflated when
//     the sender announced Content-Encoding: deflate), HTTP, or a GIV line
//     followed by HTTP (Split, DecodeFile);
//   - recognising what it cannot decode as what it is: TLS, from the first
//     byte or after a 0.6 handshake that upgraded to it, read down to the
//     record layer and the hellos (ReadTLS); and Gnutella2, a 0.6 handshake
//     whose sender says Content-Type: application/x-gnutella2, walked packet
//     by packet (G2Packets);
//   - the gopacket application layer LayerTypeGnutella for one descriptor, and
//     a scanner that walks a descriptor stream one layer at a time;
//   - writing a synthetic classic pcap of one loopback TCP connection, for
//     cross-checks with other tools (ConnWriter, WriteConn).
//
// Port numbers are never used to decide what a stream is: Gnutella, HTTP and
// GIV all share one listening port, so every direction is classified by its
// first bytes after reassembly.
package capture
