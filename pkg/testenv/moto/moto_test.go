package moto

import (
	"context"
	"net/http"
	"testing"
	"time"
)

func TestStartAnswersAndStops(t *testing.T) {
	var endpoint string
	t.Run("server", func(t *testing.T) {
		endpoint = Start(t)
		resp, err := http.Get(endpoint + "/moto-api/data.json")
		if err != nil {
			t.Fatalf("GET %s: %v", endpoint, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: status %d, want 200", endpoint, resp.StatusCode)
		}
	})
	if t.Failed() {
		return
	}
	if endpoint == "" {
		t.Skip("the moto tier is skipped (SKIP names it)")
	}
	// The subtest's cleanup stopped the server: nothing answers any more.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if answers(ctx, endpoint) {
		t.Fatalf("%s still answers after the test that started it ended", endpoint)
	}
}
