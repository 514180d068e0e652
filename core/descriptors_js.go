//go:build js

package core

// Raw descriptors (AddReader/AddWriter) are not supported in the browser (js/wasm): the
// portable backend watches no descriptors, so AddReader returns
// ErrUnsupported before a descriptor is looked at.

type fileIdent struct{}

func identify(int) (fileIdent, error) { return fileIdent{}, ErrUnsupported }
