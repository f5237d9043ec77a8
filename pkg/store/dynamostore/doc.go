// Package dynamostore provides DynamoStore, the DynamoDB adapter of the
// chat.Store port, for minichat on AWS (and on anything that speaks the
// DynamoDB API: LocalStack, moto, minidyn).
//
// The whole chat lives in one table with a pk/sk string key, one GSI
// ("gsi1", for the username search) and a TTL attribute ("ttl"): the
// ChatTable of template.yaml. docs/data-model.md lists every item and every
// access pattern with its requests and their cost. No method scans; each one
// makes a fixed number of requests whatever the number of users online.
package dynamostore
