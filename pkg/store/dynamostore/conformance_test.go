package dynamostore

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/minichatbar/minichat/pkg/chat"
	"github.com/minichatbar/minichat/pkg/chat/limitertest"
	"github.com/minichatbar/minichat/pkg/chat/storetest"
	"github.com/minichatbar/minichat/pkg/testenv/moto"
)

func TestConformanceMinidyn(t *testing.T) {
	storetest.Run(t, func(t *testing.T) chat.Store {
		api, table := newMinidyn(t)
		return New(api, table)
	})
	limitertest.Run(t, func(t *testing.T) chat.Limiter {
		api, table := newMinidyn(t)
		return NewLimiter(api, table)
	})
}

// TestMoto runs everything that needs moto_server under one server: the
// conformance suite over the wire, then the request counts.
func TestMoto(t *testing.T) {
	client := motoClient(t)
	t.Run("Conformance", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) chat.Store {
			return New(client, createTable(t, client))
		})
		limitertest.Run(t, func(t *testing.T) chat.Limiter {
			return NewLimiter(client, createTable(t, client))
		})
	})
	t.Run("RequestCounts", func(t *testing.T) {
		scales := [2]int{fewOthers, *motoOthers}
		runs := requestCounts(t, func(t testing.TB) (tableAPI, string) { return client, createTable(t, client) }, scales)
		table := countsTable(runs, scales)
		t.Logf("measured on moto:\n%s", table)
		if *updateDoc {
			writeCounts(t, table)
		}
	})
}

// motoClient starts moto_server and returns a DynamoDB client for it.
func motoClient(t *testing.T) *dynamodb.Client {
	endpoint := moto.Start(t)
	return dynamodb.NewFromConfig(moto.Config(endpoint))
}
