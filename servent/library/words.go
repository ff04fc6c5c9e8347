package library

import (
	"slices"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// maxQueryWords bounds the work one Query can ask for; real queries have a
// handful of words and the forwarded ones are at most 256 bytes.
const maxQueryWords = 32

// Words splits s into the keywords that Search matches: maximal runs of
// letters and digits, after canonical decomposition (NFD) with the
// combining marks dropped and lower-casing, so "Beyoncé - Halo.MP3" gives
// beyonce, halo and mp3 (the extension is a word like any other). The
// result is sorted and has no duplicates.
func Words(s string) []string {
	var words []string
	var b strings.Builder
	flush := func() {
		if b.Len() > 0 {
			words = append(words, b.String())
			b.Reset()
		}
	}
	for _, r := range norm.NFD.String(s) {
		switch {
		case unicode.Is(unicode.Mn, r):
			// An accent: dropped, and it does not split the word.
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(unicode.ToLower(r))
		default:
			flush()
		}
	}
	flush()
	slices.Sort(words)
	return slices.Compact(words)
}

// Search answers a keyword Query: the files whose name contains every word
// of query as a whole word (see Words; "lane" matches "Penny Lane.mp3",
// "lan" does not), in index order, at most max of them. A query without
// words, or with more than 32, or max < 1, matches nothing. Files are
// returned whether or not their digest is known yet (see File.Hashed).
func (l *Library) Search(query string, max int) []File {
	if max < 1 {
		return nil
	}
	words := Words(query)
	if len(words) == 0 || len(words) > maxQueryWords {
		return nil
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	lists := make([][]uint32, len(words))
	for i, w := range words {
		lists[i] = l.postings[w]
		if len(lists[i]) == 0 {
			return nil
		}
	}
	// Walk the rarest word's files and look each up in the others.
	slices.SortFunc(lists, func(a, b []uint32) int { return len(a) - len(b) })
	var out []File
	for _, idx := range lists[0] {
		if inAll(lists[1:], idx) {
			out = append(out, l.byIndex[idx].File)
			if len(out) == max {
				break
			}
		}
	}
	return out
}

func inAll(lists [][]uint32, idx uint32) bool {
	for _, list := range lists {
		if _, ok := slices.BinarySearch(list, idx); !ok {
			return false
		}
	}
	return true
}
