// Package chat is minichat's domain: the use cases of the wire protocol
// (connect, login, private and group messages, deletion, avatars, rooms and
// their eight seats, history) decided over ports that adapters implement.
//
// The package never imports AWS, Lambda or transport packages: the same
// Service runs inside a Lambda function, under the local gateway and in
// tests. Adapters import chat, never the other way round.
package chat
