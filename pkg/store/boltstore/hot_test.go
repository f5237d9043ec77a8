package boltstore

import (
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sync/errgroup"

	"github.com/minichatbar/minichat/pkg/chat"
)

// TestCacheAgreesWithTheFile churns connections, seats and messages from
// many goroutines, with readers filling the cache all along (and, with a
// tiny bound, dropping from it), then holds every room and connection the
// cache serves to what the file holds. Each user ends connected and
// seated, so that a missed update would show.
func TestCacheAgreesWithTheFile(t *testing.T) {
	for _, bound := range []int{50_000, 3} {
		t.Run(fmt.Sprintf("bound %d", bound), func(t *testing.T) {
			saved := hotMax
			hotMax = bound
			t.Cleanup(func() { hotMax = saved })
			s, _ := openTemp(t)
			ctx := t.Context()
			const users, rounds = 6, 15
			now := time.Now()
			ids := make([]chat.Identity, users)
			for i := range ids {
				ids[i] = chat.Identity{UserID: fmt.Sprintf("0193a000-0000-7000-8000-%012d", i), Username: fmt.Sprintf("u%d", i)}
				if err := s.CreateUser(ctx, chat.User{UserID: ids[i].UserID, Username: ids[i].Username, CreatedAt: now}); err != nil {
					t.Fatal(err)
				}
			}
			rooms := []string{"a", "b"}
			var g errgroup.Group
			stop := make(chan struct{})
			var readers sync.WaitGroup
			for range 4 {
				readers.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						for _, r := range rooms {
							if _, err := s.GetRoom(ctx, r); err != nil {
								t.Error(err)
								return
							}
						}
						for i := range users {
							_, _ = s.GetConnection(ctx, fmt.Sprintf("c%d", i))
						}
					}
				})
			}
			for i, id := range ids {
				g.Go(func() error {
					for n := range rounds {
						conn := fmt.Sprintf("c%d", i)
						c := chat.Connection{ConnID: conn, UserID: id.UserID, Username: id.Username, ConnectedAt: now, ExpiresAt: now.Add(time.Hour)}
						if _, err := s.Connect(ctx, c); err != nil {
							return err
						}
						room := rooms[(i+n)%2]
						r, _, err := s.JoinRoom(ctx, room, id)
						if err != nil {
							return err
						}
						// Times as the service makes them (the cache keeps the
						// message as it is) and any other (it decodes it).
						at := now
						if n%2 == 0 {
							at = now.UTC().Truncate(time.Millisecond)
						}
						m := chat.Message{Kind: chat.KindGroup, From: id.UserID, FromName: id.Username, Room: room, Content: "hi", At: at, ClientID: fmt.Sprintf("%d-%d", i, n)}
						if _, _, err := s.SaveGroup(ctx, r, m, allow); err != nil {
							return err
						}
						if n == rounds-1 {
							break // stay: the end state has seats, connections and messages
						}
						if n%3 == 2 {
							if _, _, _, err := s.Disconnect(ctx, conn); err != nil {
								return err
							}
						} else if _, _, _, err := s.LeaveRoom(ctx, room, id.UserID); err != nil {
							return err
						}
					}
					return nil
				})
			}
			if err := g.Wait(); err != nil {
				t.Fatal(err)
			}
			close(stop)
			readers.Wait()
			at := s.now()
			for _, name := range rooms {
				cached, err := s.GetRoom(ctx, name)
				if err != nil {
					t.Fatal(err)
				}
				var disk chat.Room
				if err := s.db.View(func(tx *bolt.Tx) error {
					disk, err = readRoom(txReader{tx}, name, at)
					return err
				}); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(cached, disk) {
					t.Errorf("room %s: cache %+v, file %+v", name, cached, disk)
				}
			}
			for i := range users {
				conn := fmt.Sprintf("c%d", i)
				cached, cerr := s.GetConnection(ctx, conn)
				var rec connRec
				var found bool
				if err := s.db.View(func(tx *bolt.Tx) error {
					var err error
					rec, found, err = getConn(tx, conn)
					return err
				}); err != nil {
					t.Fatal(err)
				}
				if found != (cerr == nil) || (found && cached.UserID != rec.UserID) {
					t.Errorf("connection %s: cache %+v (%v), file %+v (found %v)", conn, cached, cerr, rec, found)
				}
			}
		})
	}
}
