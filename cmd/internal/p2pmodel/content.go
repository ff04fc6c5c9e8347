package p2pmodel

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
)

// Catalog is the content model made concrete: every file of the network
// by popularity rank (1 is the most popular), with its keywords and size.
// Query rank r asks for the file of rank r, so a query's keyword set is
// the file's (WORKLOAD-MODEL.md section 3: the top queries are for
// different files).
type Catalog struct {
	model *ContentModel
	sizes []int64 // by rank-1
}

// File is one file of the catalog.
type File struct {
	Rank     int
	Name     string
	Keywords []string
	Size     int64
}

// NewCatalog draws every file's size from the content model, seeded.
func NewCatalog(m *ContentModel, seed uint64) *Catalog {
	r := rand.New(rand.NewPCG(seed, streamCatalog))
	c := &Catalog{model: m, sizes: make([]int64, m.Files)}
	for i := range c.sizes {
		// Round up: a file has at least one byte, and sizes are whole.
		c.sizes[i] = int64(max(1, math.Ceil(m.Size.Sample(r))))
	}
	return c
}

// Len is the number of files.
func (c *Catalog) Len() int { return len(c.sizes) }

// File is the file of a rank in 1..Len.
func (c *Catalog) File(rank int) File {
	kw := Keywords(rank)
	return File{Rank: rank, Name: strings.Join(kw, " ") + ".dat", Keywords: kw, Size: c.sizes[rank-1]}
}

// Keywords is the keyword set of query rank r, which is also the name of
// the file of rank r when r is in the catalog: two words of its own, so a
// query matches exactly that file. Queries ranked past the catalog name
// files that nobody has.
func Keywords(rank int) []string { return []string{word(2*rank - 1), word(2 * rank)} }

// word spells n in base 70 with consonant-vowel syllables, at least two,
// so every n has its own pronounceable word of four letters or more.
func word(n int) string {
	const consonants, vowels = "bdfgklmnprstvz", "aeiou"
	const base = len(consonants) * len(vowels)
	var syll []string
	for n > 0 || len(syll) < 2 {
		d := n % base
		syll = append(syll, string([]byte{consonants[d/len(vowels)], vowels[d%len(vowels)]}))
		n /= base
	}
	slices.Reverse(syll)
	return strings.Join(syll, "")
}

// place draws the files one servent shares: a count from PerNode, then
// that many distinct ranks by popularity, so a file's expected number of
// replicas grows with its popularity. Draws repeat only on a duplicate;
// past a bounded number of tries (a library near the catalog's size) the
// rest are filled with the most popular files not yet taken.
func (c *Catalog) place(r *rand.Rand) []int {
	k := min(int(c.model.PerNode.Sample(r)), c.Len())
	files := make([]int, 0, k)
	seen := make(map[int]struct{}, k)
	for tries := 0; len(files) < k && tries < 20*k; tries++ {
		rank := int(c.model.Popularity.Sample(r))
		if _, dup := seen[rank]; !dup {
			seen[rank] = struct{}{}
			files = append(files, rank)
		}
	}
	for rank := 1; len(files) < k; rank++ {
		if _, dup := seen[rank]; !dup {
			seen[rank] = struct{}{}
			files = append(files, rank)
		}
	}
	slices.Sort(files)
	return files
}
