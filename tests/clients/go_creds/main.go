// The official Go client (nats.go) with a .creds file: connect, subscribe, publish,
// receive. Built by tests/jwt.rs against Debian's golang-github-nats-io-go-nats-dev
// (GOPATH mode, no network). Usage: natsgo nats://127.0.0.1:PORT user.creds
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go"
)

func main() {
	nc, err := nats.Connect(os.Args[1], nats.UserCredentials(os.Args[2]), nats.Timeout(3*time.Second))
	if err != nil {
		fmt.Println("connect error:", err)
		os.Exit(1)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync("go.test")
	if err != nil {
		fmt.Println("sub error:", err)
		os.Exit(1)
	}
	nc.Publish("go.test", []byte("hello"))
	m, err := sub.NextMsg(3 * time.Second)
	if err != nil {
		fmt.Println("receive error:", err)
		os.Exit(1)
	}
	fmt.Println("received", string(m.Data))
}
