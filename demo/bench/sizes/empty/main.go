//go:build js && wasm

// Command empty is the smallest GOOS=js program: the Go runtime alone, the
// bottom line of the size table in make bench.
package main

func main() {}
