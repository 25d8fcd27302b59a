//go:build js && wasm

package jsbridge

import (
	"errors"

	"github.com/hack-pad/safejs"
)

// NewWorkerBase binds to a worker's global scope: Origin,
// CrossOriginIsolated, Fetch and Online work there as in a page. The rest
// of Browser needs a document and must not be called on it: in a
// SharedWorker, package hub asks a connected page for those.
func NewWorkerBase() (*Browser, error) {
	g := safejs.Global()
	if doc, err := g.Get("document"); err == nil && doc.Type() == safejs.TypeObject {
		return nil, errors.New("jsbridge: NewWorkerBase in a page; use NewBrowser")
	}
	loc, err := g.Get("location")
	if err != nil || loc.Type() != safejs.TypeObject {
		return nil, errors.New("jsbridge: no location in this worker")
	}
	return &Browser{window: g}, nil
}
