package network

import (
	"errors"
	"fmt"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// RemoveHostNetwork deletes, from the calling process's network namespace,
// what a node's pod network made there (`shoal reset`): shoal's routes
// (tagged DefaultRouteProtocol), the Service proxy's nftables table and the
// pod bridge. It returns one line per thing it removed; finding nothing is
// not an error. The pods' veths go with their network namespaces; IPv4
// forwarding stays on, since nobody knows what it was before the agent.
func RemoveHostNetwork() ([]string, error) {
	var did []string
	var errs []error

	routes, err := NewRoutes(RoutesConfig{})
	if err != nil {
		return nil, err
	}
	rts, err := routes.list()
	if err != nil {
		errs = append(errs, err)
	}
	for _, rt := range rts {
		if err := netlink.RouteDel(&rt); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("remove route %s: %w", rt.Dst, err))
			continue
		}
		did = append(did, fmt.Sprintf("route %s (proto %d)", rt.Dst, DefaultRouteProtocol))
	}

	proxy, err := NewServiceProxy(ProxyConfig{})
	if err != nil {
		return did, errors.Join(append(errs, err)...)
	}
	conn, err := nftables.New()
	if err != nil {
		errs = append(errs, fmt.Errorf("nftables: %w", err))
	} else if _, err := conn.ListTableOfFamily(proxy.Table(), nftables.TableFamilyIPv4); err == nil {
		if err := proxy.Close(); err != nil {
			errs = append(errs, err)
		} else {
			did = append(did, "nftables table ip "+proxy.Table())
		}
	}

	bridge := DefaultBridge
	if link, err := netlink.LinkByName(bridge); err == nil {
		if err := netlink.LinkDel(link); err != nil {
			errs = append(errs, fmt.Errorf("delete bridge %s: %w", bridge, err))
		} else {
			did = append(did, "bridge "+bridge)
		}
	} else if !errors.As(err, new(netlink.LinkNotFoundError)) {
		errs = append(errs, fmt.Errorf("find bridge %s: %w", bridge, err))
	}
	return did, errors.Join(errs...)
}
