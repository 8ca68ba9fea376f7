package containerd

import (
	"context"
	"net"

	containerd "github.com/containerd/containerd"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// maxMsgSize matches containerd's own client limit.
const maxMsgSize = 16 << 20

// dial connects to containerd's socket with a dialer that takes the path
// as it is: containerd.New turns it into a "unix://" URL, which a path with
// '#', '?' or '%' (a test's temp dir, say) does not survive.
func dial(socket, namespace string) (*containerd.Client, error) {
	conn, err := grpc.NewClient("passthrough:///containerd",
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMsgSize), grpc.MaxCallSendMsgSize(maxMsgSize)),
	)
	if err != nil {
		return nil, err
	}
	client, err := containerd.NewWithConn(conn, containerd.WithDefaultNamespace(namespace))
	if err != nil {
		conn.Close()
		return nil, err
	}
	return client, nil
}
