package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/minichatbar/minichat/pkg/chat"
)

var subscriptionTests = []storeTest{
	{"SubscribeAndEnd", testSubscriptions},
}

func subscribers(t *testing.T, s chat.Store, u chat.User) []string {
	t.Helper()
	subs, err := s.Subscribers(t.Context(), u.UserID)
	must(t, err, "Subscribers")
	slices.Sort(subs)
	return subs
}

func testSubscriptions(t *testing.T, s chat.Store) {
	ctx := t.Context()
	alice, bob := newUser("alice"), newUser("bob")
	later := now().Add(time.Hour)
	must(t, s.Subscribe(ctx, "c-1", []string{alice.UserID, bob.UserID}, later), "Subscribe")
	must(t, s.Subscribe(ctx, "c-2", []string{alice.UserID}, later), "Subscribe")
	must(t, s.Subscribe(ctx, "c-old", []string{alice.UserID}, now().Add(-time.Second)), "Subscribe of an expired connection")
	if got := subscribers(t, s, alice); !slices.Equal(got, []string{"c-1", "c-2"}) {
		t.Fatalf("alice's subscribers %q, want c-1 and c-2 (not the expired one)", got)
	}
	must(t, s.Unsubscribe(ctx, "c-1", []string{alice.UserID}), "Unsubscribe")
	if got := subscribers(t, s, alice); !slices.Equal(got, []string{"c-2"}) {
		t.Fatalf("alice's subscribers after c-1 left %q", got)
	}
	if got := subscribers(t, s, bob); !slices.Equal(got, []string{"c-1"}) {
		t.Fatalf("bob's subscribers %q, want c-1 still", got)
	}
	// Subscribing twice is one subscription.
	must(t, s.Subscribe(ctx, "c-2", []string{alice.UserID}, later), "Subscribe again")
	if got := subscribers(t, s, alice); len(got) != 1 {
		t.Fatalf("a subscription made twice: %q", got)
	}
}
