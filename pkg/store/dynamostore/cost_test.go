package dynamostore

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/minichatbar/minichat/pkg/chat"
)

var updateCost = flag.Bool("update-cost", false, "write docs/cost.md from the measured requests, units and round trips")

// List prices, us-east-1: AWS's published prices as the project's design
// notes give them (DynamoDB on demand since its November 2024 price change;
// Lambda on arm64). priceSource says so on the page, with what could be
// checked from where the test runs.
const (
	priceSource       = "AWS's list prices for us-east-1 (DynamoDB on demand since its November 2024 price change; Lambda arm64) as the project's design notes give them. AWS's price pages are out of reach of the machines this page was generated on, so they were not re-checked against AWS; on 2026-12-02 secondary sources agreed on DynamoDB's $0.625 and $0.125 per million units. Check them before you budget on this page"
	apiGatewayMessage = 1.00 / 1e6 // per message (32 KB units)
	apiGatewayMinute  = 0.25 / 1e6 // per connection-minute
	lambdaRequest     = 0.20 / 1e6
	lambdaGBSecond    = 0.0000133334
	dynamoWRU         = 0.625 / 1e6
	dynamoRRU         = 0.125 / 1e6
	// lambdaGB is the functions' memory (template.yaml Globals).
	lambdaGB = 0.25
	// pingEvery is both SDKs' heartbeat.
	pingEvery = time.Minute
	// connectionMinutes is how long the model's connection lasts.
	connectionMinutes = 60.0
)

// costRow is what one action costs, per million.
type costRow struct {
	action             string
	messages           int     // API Gateway messages: inbound, replies, pushes
	rcu, wcu           float64 // measured on minidyn (docs/data-model.md)
	rounds             int     // requests and pushes one after another
	dynamo, lambda, gw float64 // dollars per 1M
}

// roundsOf runs send on the critical-path stack (10 ms per DynamoDB
// request and push) and counts what ran one after another, the ack's push
// included.
func roundsOf(t testing.TB, c *criticalPath, send func(chat.Acked) error) int {
	c.api.take()
	c.push.takeSpans()
	err := send(func(chat.Receipt) {
		// The edge pushes the ack before the fan-out starts.
		_ = c.push.Push(context.Background(), "conn-0", []byte(`{"type":"ack"}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	return depth(append(c.api.take(), c.push.takeSpans()...))
}

// TestCostModel computes docs/cost.md from what the request-count test
// measures and the critical path takes, and fails while the page says
// otherwise (-update-cost writes it).
func TestCostModel(t *testing.T) {
	api, table := newMinidyn(t)
	populate(t, api, table, fewOthers)
	units := map[string]usage{}
	for _, m := range runScript(t, api, table, "") {
		units[m.action] = m.usage
	}
	// The round trips are counted on a virtual clock (see TestCriticalPath).
	var rounds map[string]int
	synctest.Test(t, func(t *testing.T) {
		c := newCriticalPath(t, roundTrip)
		ctx := context.Background()
		n := 0
		rounds = map[string]int{
			"private-message": roundsOf(t, c, c.private(100)),
			"group-message":   roundsOf(t, c, c.group(100)),
			"joinroom": roundsOf(t, c, func(chat.Acked) error {
				call := chat.Call{ConnID: "conn-7"}
				if err := c.svc.LeaveRoom(ctx, call, "lobby"); err != nil {
					return err
				}
				c.api.take()
				c.push.takeSpans()
				_, err := c.svc.JoinRoom(ctx, call, "lobby")
				return err
			}),
			"ping": 1,
		}
		conn := func(chat.Acked) error {
			n++
			id := c.users[7]
			return c.svc.Connect(ctx, chat.Call{ConnID: fmt.Sprint("extra-", n)}, &id)
		}
		rounds["$connect (token in the URL)"] = roundsOf(t, c, conn)
		rounds["$disconnect (last connection, seated)"] = roundsOf(t, c, func(chat.Acked) error {
			return c.svc.Disconnect(ctx, chat.Call{ConnID: fmt.Sprint("extra-", n)})
		})
	})

	row := func(action, measuredAs string, messages int) costRow {
		u, ok := units[measuredAs]
		if !ok && measuredAs != "" {
			t.Fatalf("the request-count script has no %q", measuredAs)
		}
		r := costRow{action: action, messages: messages, rcu: u.rcu, wcu: u.wcu, rounds: rounds[measuredAs]}
		if measuredAs == "" {
			r.rounds = rounds["ping"]
		}
		r.dynamo = (r.rcu*dynamoRRU + r.wcu*dynamoWRU) * 1e6
		r.lambda = (lambdaRequest + float64(r.rounds)*roundTrip.Seconds()*lambdaGB*lambdaGBSecond) * 1e6
		r.gw = float64(r.messages) * apiGatewayMessage * 1e6
		return r
	}
	rows := []costRow{
		// 1 inbound + the ack + 1 delivery (a recipient with one device).
		row("private message", "private-message", 3),
		// 1 inbound + the ack + 8 deliveries, the sender's echo among them.
		row("group message, room of 8", "group-message", 10),
		// 1 inbound + update and notice to each of the 8 seated.
		row("join, room of 8", "joinroom", 17),
		// a heartbeat: 1 inbound + the pong.
		row("ping", "", 2),
		// 1 handshake message... API Gateway bills connection minutes, not it.
		row("$connect", "$connect (token in the URL)", 0),
		// the leave notice and update to 7 others.
		row("$disconnect, seated in a room of 8", "$disconnect (last connection, seated)", 14),
	}
	for _, r := range rows {
		if r.rounds == 0 && r.action != "ping" {
			t.Fatalf("%s: no round trip measured", r.action)
		}
	}
	doc := costDoc(rows)
	const path = "../../../docs/cost.md"
	if *updateCost {
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != doc {
		t.Errorf("docs/cost.md is not what the measurements give: run go test ./pkg/store/dynamostore -run TestCostModel -update-cost (%v)", err)
	}
}

// scanCost is what the AWS sample app's Scan of every connection costs per
// message: 100-byte items, read eventually consistent (0.5 RRU per 4 KB).
func scanCost(users int) float64 {
	kb := float64(users) * 100 / 1024
	rru := max(1, kb/4) * 0.5
	return rru * dynamoRRU * 1e6
}

func costDoc(rows []costRow) string {
	var b strings.Builder
	fmt.Fprintf(&b, `# Cost

What minichat costs on AWS per million actions, computed by
`+"`go test ./pkg/store/dynamostore -run TestCostModel -update-cost`"+` from what
the tests measure, so that this page cannot drift from the code: that test
fails while the page differs.

- **API Gateway** messages are the protocol's own (every inbound frame, reply
  and push is one, up to 32 KB): the floor any WebSocket chat on API Gateway
  pays. What minichat controls comes on top: DynamoDB and Lambda.
- **DynamoDB** read and write units are the ones the request-count test
  measures on every action (`+"`docs/data-model.md`"+`, "Measured"), at on-demand prices.
- **Lambda** is one invocation per action, billed for its duration at the
  template's %g GB: the duration is modelled as the requests and pushes it
  makes one after another (measured on the critical-path stack, every one
  taking %v), times %v. That is the time a function waits; its CPU time is
  well under a millisecond.
- Prices: %s.

| per 1M | API Gateway messages | DynamoDB RCU / WCU | sequential round trips | API Gateway | DynamoDB | Lambda | DynamoDB + Lambda |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
`, lambdaGB, roundTrip, roundTrip, priceSource)
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %d | %g / %g | %d | $%.2f | $%.3f | $%.3f | $%.3f |\n",
			r.action, r.messages, r.rcu, r.wcu, r.rounds, r.gw, r.dynamo, r.lambda, r.dynamo+r.lambda)
	}
	ping, connect, disconnect := rows[3], rows[4], rows[5]
	perMinute := apiGatewayMinute*1e6 + (ping.gw+ping.dynamo+ping.lambda)/pingEvery.Minutes() +
		(connect.gw+connect.dynamo+connect.lambda+disconnect.gw+disconnect.dynamo+disconnect.lambda)/connectionMinutes
	fmt.Fprintf(&b, `
**Per 1M connection-minutes**: $%.2f. API Gateway's $0.25, plus a heartbeat
every %v (the SDKs' default, which keeps a connection under API Gateway's
10-minute idle timeout and notices a dead socket within a minute; a client
that pings every 5 minutes pays a fifth of that part), plus one $connect and
one $disconnect spread over a %g-minute connection.

## Against the AWS sample app

AWS's simple-websockets-chat-app scans its whole connections table on every
message to find whom to send it to. Its read cost per message grows with
everyone online, where minichat's stays the same (the request-count test runs
every action with 20 and with 2,000 others online and requires the same
requests):

| users online | sample app: the Scan alone, per 1M messages | minichat: DynamoDB per 1M room messages |
| ---: | ---: | ---: |
| 1,000 | $%.2f | $%.3f |
| 100,000 | $%.2f | $%.3f |

The sample app stores no message (no history, no ack, nothing to resend), so
its DynamoDB bill per message is the Scan alone; minichat's buys durability,
idempotency and history, and is the same at any number of users online. (The
Scan reads 100-byte connection items, eventually consistent; the sample app
also posts to every connection, 1,000 or 100,000 API Gateway messages per
message, where a room of 8 costs 10.)
`, perMinute, pingEvery, connectionMinutes, scanCost(1000), rows[1].dynamo, scanCost(100000), rows[1].dynamo)
	return b.String()
}
