//go:build linux

package dnsd

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// udpBatch reads up to udpBatchSize datagrams with one recvmmsg(2) and
// sends the answers to them with one sendmmsg(2). Under load a socket's
// queue holds many queries: one system call and one wake-up of the
// worker per batch, instead of a read, a write and often a park and a
// wake-up per query (the profile of the agent under dnsperf was mostly
// the scheduler's context switches). Its buffers are allocated once.
type udpBatch struct {
	raw syscall.RawConn

	rhdrs  []mmsghdr
	riovs  []unix.Iovec
	rbufs  [][]byte
	raddrs []unix.RawSockaddrAny
	n      int // datagrams of the last read

	whdrs  []mmsghdr
	wiovs  []unix.Iovec
	wbufs  [][]byte
	waddrs []unix.RawSockaddrAny
	nw     int // answers queued
}

// mmsghdr is struct mmsghdr; Go pads it as C does (to Msghdr's alignment).
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
}

// udpBatchSize is how many datagrams one system call moves at most.
const udpBatchSize = 32

func newUDPBatch(conn *net.UDPConn, bufSize int) (*udpBatch, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("udp batch: %w", err)
	}
	b := &udpBatch{raw: raw,
		rhdrs: make([]mmsghdr, udpBatchSize), riovs: make([]unix.Iovec, udpBatchSize),
		rbufs: make([][]byte, udpBatchSize), raddrs: make([]unix.RawSockaddrAny, udpBatchSize),
		whdrs: make([]mmsghdr, udpBatchSize), wiovs: make([]unix.Iovec, udpBatchSize),
		wbufs: make([][]byte, udpBatchSize), waddrs: make([]unix.RawSockaddrAny, udpBatchSize),
	}
	for i := range udpBatchSize {
		b.rbufs[i] = make([]byte, bufSize)
		b.riovs[i].Base = &b.rbufs[i][0]
		b.riovs[i].SetLen(bufSize)
		b.rhdrs[i].hdr.Name = (*byte)(unsafe.Pointer(&b.raddrs[i]))
		b.rhdrs[i].hdr.Iov = &b.riovs[i]
		b.rhdrs[i].hdr.SetIovlen(1)
		b.wbufs[i] = make([]byte, 0, DefaultUDPSize)
		b.whdrs[i].hdr.Name = (*byte)(unsafe.Pointer(&b.waddrs[i]))
		b.whdrs[i].hdr.Iov = &b.wiovs[i]
		b.whdrs[i].hdr.SetIovlen(1)
	}
	return b, nil
}

// read waits for at least one datagram and reads as many as are queued,
// up to the batch size. It returns net.ErrClosed once the socket is
// closed.
func (b *udpBatch) read() (int, error) {
	var n int
	var errno syscall.Errno
	err := b.raw.Read(func(fd uintptr) bool {
		for i := range b.rhdrs {
			b.rhdrs[i].hdr.Namelen = unix.SizeofSockaddrAny
			b.rhdrs[i].hdr.Flags = 0
		}
		r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.rhdrs[0])), uintptr(len(b.rhdrs)), unix.MSG_DONTWAIT, 0, 0)
		if e == unix.EAGAIN || e == unix.EINTR {
			return false // the runtime waits for the socket to be readable
		}
		n, errno = int(r), e
		return true
	})
	if err != nil {
		return 0, err
	}
	if errno != 0 {
		return 0, fmt.Errorf("recvmmsg: %w", errno)
	}
	b.n = n
	return n, nil
}

// packet returns datagram i of the last read and its source. ok is false
// for a datagram cut short by its buffer or from an unknown family.
func (b *udpBatch) packet(i int) (pkt []byte, from netip.AddrPort, ok bool) {
	h := &b.rhdrs[i]
	if h.hdr.Flags&unix.MSG_TRUNC != 0 {
		return nil, netip.AddrPort{}, false
	}
	from, ok = sockaddrToAddrPort(&b.raddrs[i])
	return b.rbufs[i][:h.len], from, ok
}

// queue copies an answer to to into the batch; a full batch is sent
// first.
func (b *udpBatch) queue(msg []byte, to netip.AddrPort) error {
	var err error
	if b.nw == len(b.whdrs) {
		err = b.flush()
	}
	i := b.nw
	b.wbufs[i] = append(b.wbufs[i][:0], msg...)
	if len(b.wbufs[i]) == 0 {
		return err
	}
	b.wiovs[i].Base = &b.wbufs[i][0]
	b.wiovs[i].SetLen(len(b.wbufs[i]))
	b.whdrs[i].hdr.Namelen = addrPortToSockaddr(to, &b.waddrs[i])
	b.nw++
	return err
}

// flush sends the queued answers. A datagram the kernel refuses (the
// first error of a call) is dropped, as a lost UDP answer would be, so
// that one bad destination cannot hold up the others; the last such
// error is returned.
func (b *udpBatch) flush() error {
	var last error
	off := 0
	for off < b.nw {
		var sent int
		var errno syscall.Errno
		err := b.raw.Write(func(fd uintptr) bool {
			r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&b.whdrs[off])), uintptr(b.nw-off), 0, 0, 0)
			if e == unix.EAGAIN || e == unix.EINTR {
				return false
			}
			sent, errno = int(r), e
			return true
		})
		switch {
		case err != nil: // the socket is closed
			b.nw = 0
			return err
		case errno != 0:
			last = fmt.Errorf("sendmmsg: %w", errno)
			off++ // drop the datagram that failed
		default:
			off += sent
		}
	}
	b.nw = 0
	return last
}

func sockaddrToAddrPort(sa *unix.RawSockaddrAny) (netip.AddrPort, bool) {
	switch sa.Addr.Family {
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		p := (*[2]byte)(unsafe.Pointer(&sa4.Port))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), uint16(p[0])<<8|uint16(p[1])), true
	case unix.AF_INET6:
		sa6 := (*unix.RawSockaddrInet6)(unsafe.Pointer(sa))
		p := (*[2]byte)(unsafe.Pointer(&sa6.Port))
		return netip.AddrPortFrom(netip.AddrFrom16(sa6.Addr), uint16(p[0])<<8|uint16(p[1])), true
	}
	return netip.AddrPort{}, false
}

// addrPortToSockaddr writes ap into sa and returns its length. An IPv4
// address goes out as AF_INET unless the socket is IPv6: the worker only
// answers a datagram's own source, whose family is the socket's.
func addrPortToSockaddr(ap netip.AddrPort, sa *unix.RawSockaddrAny) uint32 {
	*sa = unix.RawSockaddrAny{}
	port := ap.Port()
	if ap.Addr().Is4() {
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		sa4.Family = unix.AF_INET
		p := (*[2]byte)(unsafe.Pointer(&sa4.Port))
		p[0], p[1] = byte(port>>8), byte(port)
		sa4.Addr = ap.Addr().As4()
		return unix.SizeofSockaddrInet4
	}
	sa6 := (*unix.RawSockaddrInet6)(unsafe.Pointer(sa))
	sa6.Family = unix.AF_INET6
	p := (*[2]byte)(unsafe.Pointer(&sa6.Port))
	p[0], p[1] = byte(port>>8), byte(port)
	sa6.Addr = ap.Addr().As16()
	return unix.SizeofSockaddrInet6
}
