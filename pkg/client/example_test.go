package client_test

import (
	"context"
	"fmt"
	"log"

	"github.com/minichatbar/minichat/pkg/client"
)

func Example() {
	ctx := context.Background()
	c, err := client.New("http://127.0.0.1:8080")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Login(ctx, "alice", "correct-horse-9"); err != nil {
		log.Fatal(err)
	}
	if err := c.Dial(ctx); err != nil {
		log.Fatal(err)
	}
	go func() {
		for ev := range c.Events() {
			switch e := ev.(type) {
			case client.PrivateMessage:
				fmt.Printf("%s: %s\n", e.FromName, e.Content)
			case client.GroupMessage:
				fmt.Printf("[%s] %s: %s\n", e.Room, e.Uname, e.Msg)
			case client.Typing:
				if e.State == client.TypingStart {
					fmt.Printf("%s is typing\n", e.Username)
				}
			case client.Disconnected:
				fmt.Println("reconnecting:", e.Err)
			}
		}
	}()
	users, err := c.SearchUsers(ctx, "bob")
	if err != nil || len(users) == 0 {
		log.Fatal("no bob: ", err)
	}
	// Blocks across reconnects until the server acknowledges the message.
	ack, err := c.SendPrivate(ctx, users[0].UserID, "Hi Bob!")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("stored as", ack.MessageID)
}
