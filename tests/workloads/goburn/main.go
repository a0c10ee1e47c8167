// goburn is a test workload for Kiln: it serves net/http/pprof on 127.0.0.1 and burns CPU in two
// named functions with a known split, hotA doing twice the work of hotB, until it is killed.
// The Go round-trip test profiles it, pushes the profile through Kiln and compares what comes back.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
)

// sink keeps the compiler from proving the loops useless.
var sink uint64

// hotA and hotB run the same loop; hotA runs it twice as many rounds, so it takes twice the CPU.
// They are not inlined, so each keeps its own frame and its own flat time in the profile.
//
//go:noinline
func hotA(x uint64) uint64 {
	for i := 0; i < 2*roundSize; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}

//go:noinline
func hotB(x uint64) uint64 {
	for i := 0; i < roundSize; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}

// roundSize is the work of one hotB call: small enough that a 3 s profile sees thousands of
// alternations, so the 2:1 split holds in the samples.
const roundSize = 200_000

func burn() {
	x := uint64(88172645463325252)
	for {
		x = hotA(x)
		x = hotB(x)
		sink = x
	}
}

func main() {
	port := flag.Int("port", 0, "port to serve net/http/pprof on (127.0.0.1); 0 picks a free one")
	flag.Parse()
	listener, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		log.Fatalf("goburn: listen: %v", err)
	}
	// The test reads this line to learn the address when it passes -port 0.
	fmt.Fprintf(os.Stdout, "listening on %s\n", listener.Addr())
	go burn()
	log.Fatal(http.Serve(listener, nil))
}
