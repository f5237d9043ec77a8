// Command minichat is the one binary of the project for local use:
//
//	minichat serve    the whole chat on one machine (what `make run` starts)
//	minichat chat     a terminal chat client
//	minichat provision  create template.yaml's table and bucket on any endpoint
//
// Run `minichat help` for the commands and the environment they read.
package main
