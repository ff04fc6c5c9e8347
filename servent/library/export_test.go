package library

// The bounds of the files Load and Tree read, for the tests.
const (
	MaxStateFile = maxStateFile
	MaxTreeFile  = maxTreeFile
)
