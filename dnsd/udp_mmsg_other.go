//go:build !linux

package dnsd

import (
	"net"
	"net/netip"
)

// udpBatch without recvmmsg(2) and sendmmsg(2): one datagram per read,
// each answer sent at once. See udp_mmsg_linux.go.
type udpBatch struct {
	conn *net.UDPConn
	buf  []byte
	n    int
	from netip.AddrPort
}

func newUDPBatch(conn *net.UDPConn, bufSize int) (*udpBatch, error) {
	return &udpBatch{conn: conn, buf: make([]byte, bufSize)}, nil
}

func (b *udpBatch) read() (int, error) {
	n, from, err := b.conn.ReadFromUDPAddrPort(b.buf)
	if err != nil {
		return 0, err
	}
	b.n, b.from = n, from
	return 1, nil
}

func (b *udpBatch) packet(int) ([]byte, netip.AddrPort, bool) { return b.buf[:b.n], b.from, true }

func (b *udpBatch) queue(msg []byte, to netip.AddrPort) error {
	_, err := b.conn.WriteToUDPAddrPort(msg, to)
	return err
}

func (b *udpBatch) flush() error { return nil }
