// Package agent opens the gRPC channel to the node agent (dpcni-agent) over its unix socket.
package agent

import (
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"

	"dpcni.dev/k8s/internal/dpcniv1"
)

// Dial returns a client for the agent listening on socket. The channel connects lazily, so the
// agent need not be up yet; calls fail with UNAVAILABLE until it is.
func Dial(socket string) (dpcniv1.AgentClient, func() error, error) {
	conn, err := grpc.NewClient("unix:"+socket,
		// The socket is local and root-only (hostPath under /run); the C++ plugin talks to it the same way.
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		// grpc-go's default reconnect backoff grows to 120 s. The agent restarts within seconds (an
		// upgrade, a crash), and the node stays without fresh pod CIDRs and the readiness gate
		// stays closed until the channel tries again, so keep the ceiling at one poll interval.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{
				BaseDelay:  100 * time.Millisecond,
				Multiplier: 1.6,
				Jitter:     0.2,
				MaxDelay:   time.Second,
			},
			MinConnectTimeout: time.Second,
		}))
	if err != nil {
		return nil, nil, fmt.Errorf("agent socket %q: %w", socket, err)
	}
	return dpcniv1.NewAgentClient(conn), conn.Close, nil
}
