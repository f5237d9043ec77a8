// Package app wires minichat together: it builds the chat service over
// the chosen store, the Management API pusher and the token adapters, and
// names the handler of every function directory under functions/. Both the
// Lambda bootstraps and `minichat serve` start from here, so they run the
// same handlers.
package app
