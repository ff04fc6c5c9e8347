package fuzz

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/govent/govent/httpxfer/thex"
	"github.com/govent/govent/wire"
)

// FuzzDIME: ParseDIME stays inside the message and its record bound, and
// the records it returns encode to a message that parses to the same
// records (padding and reserved bits are not kept, so the round trip is
// by value).
func FuzzDIME(f *testing.F) {
	msg, _ := thex.AppendDIMERecord(nil, &thex.DIMERecord{Flags: thex.DIMEFlagMB | thex.DIMEFlagME, TypeFormat: thex.DIMETypeMIME, Type: []byte("text/xml"), Data: []byte("<hashtree/>")})
	f.Add(msg)
	f.Add([]byte{0x0c, 0x10, 0, 0, 0, 0, 0, 8, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := thex.ParseDIME(b)
		if err != nil {
			require.ErrorIs(t, err, thex.ErrMalformed)
			return
		}
		require.NotEmpty(t, recs)
		require.LessOrEqual(t, len(recs), thex.MaxDIMERecords)
		var out []byte
		size := 0
		for i := range recs {
			r := &recs[i]
			size += len(r.Options) + len(r.ID) + len(r.Type) + len(r.Data) + 12
			out, err = thex.AppendDIMERecord(out, r)
			require.NoError(t, err)
		}
		require.LessOrEqual(t, size, len(b), "records hold more bytes than the message")
		again, err := thex.ParseDIME(out)
		require.NoError(t, err)
		requireSame(t, recs, again, "DIME records read back differently")
	})
}

// FuzzTHEX: DecodeDIME either refuses a message or returns a tree of the
// file's size whose root is the one asked for (the one the message carries
// when rootB32 is not a root), whose levels have the sizes
// the file dictates and hash to one another, and which encodes to a
// message that decodes to the same tree.
func FuzzTHEX(f *testing.F) {
	b := thex.NewBuilder()
	b.Write(bytes.Repeat([]byte("gnutella"), 40000))
	tr := b.Tree()
	f.Add(tr.AppendDIME(nil), uint64(tr.Size), tr.Root().Base32())
	f.Add(tr.AppendDIME(nil), uint64(tr.Size), "")
	f.Fuzz(func(t *testing.T, body []byte, size uint64, rootB32 string) {
		if size > 1<<40 {
			return
		}
		root, err := wire.ParseTTHBase32([]byte(rootB32))
		if err != nil {
			// Take the root the message itself carries, so that the fuzzer
			// reaches the checks of the levels below it.
			recs, _ := thex.ParseDIME(body)
			for _, r := range recs {
				if len(r.Data) >= thex.Size && bytes.EqualFold(r.Type, []byte(thex.TreeType)) {
					root = wire.TTH(r.Data[:thex.Size])
				}
			}
		}
		tr, err := thex.DecodeDIME(body, int64(size), root)
		if err != nil {
			if !errors.Is(err, thex.ErrMismatch) {
				require.ErrorIs(t, err, thex.ErrMalformed)
			}
			return
		}
		require.Equal(t, root, tr.Root())
		require.Equal(t, int64(size), tr.Size)
		require.LessOrEqual(t, tr.Depth(), thex.FullDepth(tr.Size))
		for d, level := range tr.Levels {
			require.Equal(t, thex.NodeCount(tr.Size, d), int64(len(level)))
		}
		rebuilt, err := thex.NewTree(tr.Size, tr.Depth(), tr.Levels[tr.Depth()])
		require.NoError(t, err)
		require.Equal(t, tr, rebuilt, "levels that do not hash to one another were accepted")
		again, err := thex.DecodeDIME(tr.AppendDIME(nil), tr.Size, root)
		require.NoError(t, err)
		require.Equal(t, tr, again)
	})
}

// FuzzThexURI: a header ParseThexURI accepts is re-formed from its parts
// into one that parses the same.
func FuzzThexURI(f *testing.F) {
	f.Add("/uri-res/N2X?urn:sha1:VY2QXH7KDSSJ2QLR5FE45HTCCPGACC5O;3AMAEABEBD5HEBZW666RXBIIFE5R6IPOPVSSWKI")
	f.Add("/uri-res/N2X?urn:sha1:VY2QXH7KDSSJ2QLR5FE45HTCCPGACC5O ; 3amaeabebd5hebzw666rxbiife5r6ipopvsswki")
	f.Add("/gnutella/thex/v1?x")
	f.Fuzz(func(t *testing.T, v string) {
		path, root, hasRoot, err := thex.ParseThexURI(v)
		if err != nil {
			require.ErrorIs(t, err, thex.ErrMalformed)
			return
		}
		require.True(t, len(path) > 0 && path[0] == '/')
		re := path
		if hasRoot {
			re += ";" + root.Base32()
		}
		p2, r2, h2, err := thex.ParseThexURI(re)
		require.NoError(t, err, re)
		require.Equal(t, path, p2)
		require.Equal(t, hasRoot, h2)
		require.Equal(t, root, r2)
	})
}
