package dynamostore

import (
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/minichatbar/minichat/pkg/testenv/moto"
)

// BenchmarkActionScript plays the action script of TestRequestCounts (every
// protocol action once) per iteration and reports, besides the time an
// emulator takes, the DynamoDB requests and the estimated read and write
// units of one script: the figures that must not move with the number of
// users online.
func BenchmarkActionScript(b *testing.B) {
	b.Run("minidyn", func(b *testing.B) {
		for _, n := range []int{fewOthers, manyOthers} {
			b.Run(fmt.Sprintf("others=%d", n), func(b *testing.B) {
				api, table := newMinidyn(b)
				benchScript(b, api, table, n)
			})
		}
	})
	b.Run("moto", func(b *testing.B) {
		client := dynamodb.NewFromConfig(moto.Config(moto.Start(b)))
		for _, n := range []int{fewOthers, *motoOthers} {
			b.Run(fmt.Sprintf("others=%d", n), func(b *testing.B) {
				benchScript(b, client, createTable(b, client), n)
			})
		}
	})
}

func benchScript(b *testing.B, api tableAPI, table string, others int) {
	populate(b, api, table, others)
	var total usage
	requests := 0
	i := 0
	for b.Loop() {
		for _, m := range runScript(b, api, table, fmt.Sprintf("-%d", i)) {
			total.rcu += m.rcu
			total.wcu += m.wcu
			requests += m.requests()
		}
		i++
	}
	b.ReportMetric(float64(requests)/float64(i), "requests/script")
	b.ReportMetric(total.rcu/float64(i), "RCU/script")
	b.ReportMetric(total.wcu/float64(i), "WCU/script")
}
