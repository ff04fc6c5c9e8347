package thex

import (
	"bytes"
	"encoding/binary"
	"encoding/xml"
	"fmt"
	"strconv"

	"github.com/govent/govent/wire"
)

// The names THEX gives its format, as gtk-gnutella's core/thex.h spells
// them.
const (
	thexDoctype  = "http://open-content.net/spec/thex/thex.dtd"
	TreeType     = "http://open-content.net/spec/thex/breadthfirst"
	thexHashAlgo = "http://open-content.net/spec/digest/tiger"
)

// Bounds on a THEX message from a peer. gtk-gnutella reads at most 260 KiB
// ("256 KiB + overhead"); its XML record is under 500 bytes.
const (
	MaxDIMESize   = 260 << 10
	maxXMLRecord  = 16 << 10
	maxTreeRecord = MaxDIMESize
)

// treeID is the ID of the tree record and the uri of the XML's
// serializedtree, derived from the root as gtk-gnutella derives it
// (thex_upload_uuid): a uuid: URN of the root's first 16 bytes read as
// little-endian fields.
func treeID(root wire.TTH) string {
	le16 := func(i int) uint64 { return uint64(binary.LittleEndian.Uint16(root[i:])) }
	le32 := func(i int) uint64 { return uint64(binary.LittleEndian.Uint32(root[i:])) }
	return fmt.Sprintf("uuid:%08x-%04x-%04x-%04x-%08x%04x", le32(0), le16(4), le16(6), le16(8), le32(10), le16(14))
}

// AppendDIME appends t serialized as gtk-gnutella serves it at its
// X-Thex-URI: a DIME message of two records, the XML description (media
// type text/xml) and the levels from the root down, breadth first, each
// node 24 bytes (type the breadthfirst URI, ID the tree's uuid). The body
// is the same bytes gtk-gnutella sends for the same tree.
func (t *Tree) AppendDIME(b []byte) []byte {
	id := treeID(t.Root())
	x := "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n" +
		"<!DOCTYPE hashtree SYSTEM \"" + thexDoctype + "\">\r\n" +
		"<hashtree>\r\n" +
		"<file size=\"" + strconv.FormatInt(t.Size, 10) + "\" segmentsize=\"" + strconv.Itoa(BlockSize) + "\"/>\r\n" +
		"<digest algorithm=\"" + thexHashAlgo + "\" outputsize=\"" + strconv.Itoa(Size) + "\"/>\r\n" +
		"<serializedtree depth=\"" + strconv.Itoa(t.Depth()) + "\" type=\"" + TreeType + "\" uri=\"" + id + "\"/>\r\n" +
		"</hashtree>\r\n"
	nodes := make([]byte, 0, Size*t.nodes())
	for _, level := range t.Levels {
		for i := range level {
			nodes = append(nodes, level[i][:]...)
		}
	}
	// Neither record can break a length field: the XML is short and a tree
	// has at most a few thousand nodes.
	b, _ = AppendDIMERecord(b, &DIMERecord{Flags: DIMEFlagMB, TypeFormat: DIMETypeMIME, Type: []byte("text/xml"), Data: []byte(x)})
	b, _ = AppendDIMERecord(b, &DIMERecord{Flags: DIMEFlagME, TypeFormat: DIMETypeURI, Type: []byte(TreeType), ID: []byte(id), Data: nodes})
	return b
}

func (t *Tree) nodes() int {
	n := 0
	for _, l := range t.Levels {
		n += len(l)
	}
	return n
}

// thexXML is the part of the XML record that is checked.
type thexXML struct {
	XMLName xml.Name `xml:"hashtree"`
	File    struct {
		Size        string `xml:"size,attr"`
		SegmentSize string `xml:"segmentsize,attr"`
	} `xml:"file"`
	Digest struct {
		Algorithm  string `xml:"algorithm,attr"`
		OutputSize string `xml:"outputsize,attr"`
	} `xml:"digest"`
	Tree struct {
		Depth string `xml:"depth,attr"`
		Type  string `xml:"type,attr"`
		URI   string `xml:"uri,attr"`
	} `xml:"serializedtree"`
}

// DecodeDIME decodes a THEX message from a peer, the body of its
// X-Thex-URI, for a file of size bytes whose tree root the caller already
// knows (from the X-Thex-URI header or a urn:bitprint). It accepts what
// gtk-gnutella accepts from the deployed servents: XML that does not parse
// (GnucDNA truncates it) is passed over and the depth is read from the
// number of nodes, as is a depth the nodes do not reach (Shareaza writes
// 9); a tree record whose ID is not the XML's uri is still found by its
// type (BearShare quotes the ID). It refuses XML that parses but describes
// another file, segment size or digest, a tree whose first node is not
// root, and a tree whose levels do not hash up to it level by level
// (ErrMismatch). The message is bounded by MaxDIMESize, its records by
// MaxDIMERecords; the tree keeps the deepest level that the nodes sent
// fill completely.
func DecodeDIME(body []byte, size int64, root wire.TTH) (*Tree, error) {
	if len(body) > MaxDIMESize {
		return nil, fmt.Errorf("%w: THEX message of %d bytes, over %d", ErrMalformed, len(body), MaxDIMESize)
	}
	if size < 0 {
		return nil, fmt.Errorf("%w: file size %d", ErrMalformed, size)
	}
	recs, err := ParseDIME(body)
	if err != nil {
		return nil, fmt.Errorf("THEX: %w", err)
	}
	xr := findRecord(recs, "text/xml", "")
	if xr == nil {
		return nil, fmt.Errorf("%w: THEX message without a text/xml record", ErrMalformed)
	}
	id, depth, err := checkXML(xr.Data, size)
	if err != nil {
		return nil, err
	}
	tr := findRecord(recs, TreeType, id)
	if tr == nil && id != "" {
		tr = findRecord(recs, TreeType, "")
	}
	if tr == nil {
		return nil, fmt.Errorf("%w: THEX message without a %s record", ErrMalformed, TreeType)
	}
	return decodeLevels(tr.Data, size, root, depth)
}

// findRecord returns the first record of the type (case-insensitive) and,
// unless id is "", the ID.
func findRecord(recs []DIMERecord, typ, id string) *DIMERecord {
	for i := range recs {
		r := &recs[i]
		if bytes.EqualFold(r.Type, []byte(typ)) && (id == "" || bytes.EqualFold(r.ID, []byte(id))) {
			return r
		}
	}
	return nil
}

// checkXML reads the XML record: the tree's ID and depth when it parses
// (depth -1 when it does not, or gives none), an error when it parses and
// describes something else than a Tiger tree of this file.
func checkXML(data []byte, size int64) (id string, depth int, err error) {
	if len(data) > maxXMLRecord {
		return "", 0, fmt.Errorf("%w: THEX XML record of %d bytes, over %d", ErrMalformed, len(data), maxXMLRecord)
	}
	var x thexXML
	if xml.Unmarshal(data, &x) != nil {
		return "", -1, nil
	}
	switch {
	case x.File.Size != strconv.FormatInt(size, 10):
		return "", 0, fmt.Errorf("%w: THEX XML describes a file of %.32q bytes, not %d", ErrMalformed, x.File.Size, size)
	case x.File.SegmentSize != strconv.Itoa(BlockSize):
		return "", 0, fmt.Errorf("%w: THEX segment size %.32q, want %d", ErrMalformed, x.File.SegmentSize, BlockSize)
	case x.Digest.Algorithm != thexHashAlgo || x.Digest.OutputSize != strconv.Itoa(Size):
		return "", 0, fmt.Errorf("%w: THEX digest %.64q of size %.32q, want Tiger", ErrMalformed, x.Digest.Algorithm, x.Digest.OutputSize)
	case x.Tree.Type != TreeType:
		return "", 0, fmt.Errorf("%w: THEX tree type %.64q, want %s", ErrMalformed, x.Tree.Type, TreeType)
	}
	depth = -1
	if d, err := strconv.ParseUint(x.Tree.Depth, 10, 8); err == nil && int(d) <= FullDepth(size) {
		depth = int(d)
	}
	return x.Tree.URI, depth, nil
}

// decodeLevels splits the tree record into levels, root first, down to
// depth (or as deep as the nodes fill when depth is -1 or deeper), and
// checks that every level hashes to the one above and the top to root.
func decodeLevels(data []byte, size int64, root wire.TTH, depth int) (*Tree, error) {
	if len(data) > maxTreeRecord || len(data) < Size || len(data)%Size != 0 {
		return nil, fmt.Errorf("%w: THEX tree record of %d bytes, want a multiple of %d", ErrMalformed, len(data), Size)
	}
	n := int64(len(data) / Size)
	if !bytes.Equal(data[:Size], root[:]) {
		return nil, fmt.Errorf("%w: THEX tree has root %s, want %s", ErrMismatch, wire.TTH(data[:Size]).Base32(), root.Base32())
	}
	// The deepest level the nodes fill completely.
	deepest, used := 0, int64(1)
	for d := 1; d <= FullDepth(size) && used+NodeCount(size, d) <= n; d++ {
		deepest, used = d, used+NodeCount(size, d)
	}
	if depth < 0 || depth > deepest {
		depth = deepest
	}
	t := &Tree{Size: size, Levels: make([][]wire.TTH, depth+1)}
	off := 0
	for d := range t.Levels {
		level := make([]wire.TTH, NodeCount(size, d))
		for i := range level {
			level[i] = wire.TTH(data[off : off+Size])
			off += Size
		}
		t.Levels[d] = level
	}
	var up []wire.TTH
	for d := depth; d > 0; d-- {
		up = parents(up[:0], t.Levels[d])
		for i := range up {
			if up[i] != t.Levels[d-1][i] {
				return nil, fmt.Errorf("%w: THEX tree node %d at depth %d is not the hash of its children", ErrMismatch, i, d-1)
			}
		}
	}
	return t, nil
}
