// Package server runs the whole minichat stack in one process, as
// `minichat serve` (and so `make run`) does: the local API Gateway emulator
// with its routes read from template.yaml, the same Lambda handlers the
// functions run, the chosen store, and the web client, on one address.
package server
